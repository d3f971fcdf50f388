//! mevfleet-coordinator: the cluster member that holds the fleet's state and
//! makes its decisions, and the `mevfleet` admin CLI that talks to it.

pub mod api;
pub mod cli;
pub mod config;
pub mod fleet;
pub mod node;
pub mod raft;
pub mod runtime;
pub mod server;
pub mod state;
