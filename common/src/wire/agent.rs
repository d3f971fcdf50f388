//! Messages of the agent service: an agent's uplink to the coordinators.
//! An agent says hello (and registers), then sends heartbeats carrying
//! what changed, and delivers its spooled records. Only the leader keeps
//! the live view, so a follower answers with where the leader is.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::admin::ServerInfo;
use crate::report::{ReportDelta, Spooled};

/// A request from an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentRequest {
    /// The first request on a connection: who the agent says it is (checked
    /// against its certificate) and what it serves, for the registry.
    Hello(Hello),
    /// A heartbeat with what changed since the last acknowledged one.
    Heartbeat {
        /// Increases by one per heartbeat within a session.
        seq: u64,
        /// What changed.
        delta: ReportDelta,
    },
    /// Spooled records to commit, in spool order.
    Deliver {
        /// The spool's identity (a new one after the agent's data is wiped).
        spool_id: u64,
        /// The records, by increasing `seq`.
        records: Vec<Spooled>,
    },
}

/// An agent's introduction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The agent id from the agent's config.
    pub agent_id: String,
    /// The agent's version.
    pub version: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The chains it serves.
    pub chains: Vec<String>,
}

/// A coordinator's answer to an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentResponse {
    /// The answer to [`AgentRequest::Hello`] on the leader: registered.
    Welcome(Welcome),
    /// The receiver does not lead; `leader` is where the leader listens,
    /// when known. Nothing was done.
    NotLeader {
        /// The leader's QUIC address, `host:port`.
        leader: Option<String>,
    },
    /// A heartbeat was taken in. `resend_full` asks for every section on
    /// the next heartbeat (the receiver lost track of this agent).
    HeartbeatAck {
        /// The acknowledged heartbeat.
        seq: u64,
        /// Whether the next heartbeat must carry everything.
        resend_full: bool,
    },
    /// Records up to and including `through_seq` are committed (now or
    /// before): the agent may drop them.
    Delivered {
        /// The highest committed sequence number.
        through_seq: u64,
    },
}

/// What the leader tells a registered agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Who answered.
    pub server: ServerInfo,
    /// How often to send heartbeats.
    pub heartbeat_ms: u64,
    /// The fleet's health limits for the chains the agent serves; a chain
    /// not listed keeps the agent's defaults.
    pub limits: Vec<ChainLimits>,
}

/// The fleet's limits for judging one chain's node (the coordinator's
/// `[chains.<name>]` and `[alerts]`), applied by the agent's verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLimits {
    /// The chain.
    pub chain: String,
    /// A head older than this many block times is stale.
    pub stale_after_blocks: u32,
    /// Fewer peers than this is degraded (where peers are reported).
    pub min_peers: u32,
    /// A median RPC latency above this is degraded.
    pub high_latency_ms: u64,
}
