//! Probes of what runs on this host. `chain` reads a chain node over
//! JSON-RPC and `verdict` turns its readings into a local health state;
//! `host`, `service` and `mev_boost` read the host, its systemd units and
//! mev-boost, run together by `local` on a slower interval.

pub mod chain;
pub mod host;
pub mod local;
pub mod mev_boost;
pub mod service;
pub mod verdict;
