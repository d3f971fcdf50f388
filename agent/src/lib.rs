//! mevfleet-agent: the process on every node host. It holds the host's
//! config and credentials and keeps a mutually-authenticated QUIC session to
//! the coordinators.

pub mod config;
pub mod probe;
pub mod uplink;
