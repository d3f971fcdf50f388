//! Messages of the admin service: the `mevfleet` CLI talking to a coordinator.

use serde::{Deserialize, Serialize};

use crate::identity::PeerIdentity;

/// A request from the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Checks reachability and credentials: who answers, and who it sees us as.
    Ping,
}

/// A coordinator's answer to the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminResponse {
    /// The answer to [`AdminRequest::Ping`].
    Pong(ServerInfo),
}

/// Who answered, as the server describes itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The coordinator's Raft node id.
    pub node_id: u64,
    /// The coordinator's certificate identity.
    pub server: PeerIdentity,
    /// The coordinator's version.
    pub version: String,
    /// The caller's identity as the coordinator verified it.
    pub you: PeerIdentity,
    /// The coordinator's wall clock, in milliseconds since the Unix epoch
    /// (to spot clock skew between hosts).
    pub unix_ms: u64,
}
