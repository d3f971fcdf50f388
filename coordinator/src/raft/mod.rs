//! Raft for the coordinator cluster: openraft 0.9 with a RocksDB log store
//! and a state machine over [`crate::state::FleetState`], replicated over
//! our QUIC transport between coordinator certificates only.

// openraft's storage traits fix the error type (`StorageError`, 224 bytes);
// our storage helpers return it as the traits do, since boxing it would only
// mean unboxing it again at the trait boundary.
#![allow(clippy::result_large_err)]

pub mod committed;
pub mod log_store;
pub mod network;
pub mod peer_routes;
pub mod raft_port;
pub mod service;
pub mod state_machine;
pub mod store;
pub mod types;
pub mod wal_sync;
pub mod wire;

pub use types::{MemberNode, TypeConfig};

/// The openraft handle for our type config.
pub type Raft = openraft::Raft<TypeConfig>;
