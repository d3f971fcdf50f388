//! mevfleet-coordinator: the cluster member that holds the fleet's state and
//! makes its decisions, and the `mevfleet` admin CLI that talks to it.

pub mod cli;
pub mod config;
pub mod server;
