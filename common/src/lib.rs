//! mevfleet-common: the vocabulary every mevfleet process shares.
//!
//! Identities and roles, known chains, the QUIC wire protocol and its framing,
//! the fleet CA and the mutually-authenticated endpoints built on it, config
//! file loading with errors that name the key, process shutdown and logging.
//! Nothing here spawns long-lived tasks of its own or touches RocksDB.

pub mod alloc;
pub mod chain;
pub mod command;
pub mod config_file;
pub mod daemon;
pub mod exposition;
pub mod free_port;
pub mod histogram;
pub mod identity;
pub mod join_token;
pub mod labels;
pub mod maintenance;
pub mod mempool;
pub mod net;
pub mod notify;
pub mod report;
pub mod shutdown;
pub mod source_tree;
pub mod telemetry;
pub mod tls;
pub mod utc;
pub mod wire;

/// The version of the mevfleet binaries, reported in hellos and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
