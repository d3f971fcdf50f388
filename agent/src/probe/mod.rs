//! Probes of what runs on this host. `chain` reads a chain node over
//! JSON-RPC; `verdict` turns its readings into a local health state.

pub mod chain;
pub mod verdict;
