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
    /// A heartbeat with what changed since the last acknowledged one. It
    /// is also the request to renew the executor leases the agent holds.
    Heartbeat {
        /// Increases by one per heartbeat within a session.
        seq: u64,
        /// What changed.
        delta: ReportDelta,
        /// The leases the agent held when it sent this (chain, epoch); a
        /// chain missing here is one it has stopped executing on.
        holding: Vec<Held>,
    },
    /// Spooled records to commit, in spool order.
    Deliver {
        /// The spool's identity (a new one after the agent's data is wiped).
        spool_id: u64,
        /// The records, by increasing `seq`.
        records: Vec<Spooled>,
    },
    /// Fleet commands for this agent: answered at once when there are some
    /// it does not know yet, otherwise held until one is issued or
    /// `wait_ms` has passed (a long poll: commands reach connected agents
    /// as soon as they are committed).
    Orders {
        /// Commands the agent already took (their results may not be
        /// committed yet); they are not sent again.
        known: Vec<u64>,
        /// How long the leader may hold the request.
        wait_ms: u64,
    },
    /// Mempool summaries and selected transactions (telemetry: kept in the
    /// leader's memory, answered with [`AgentResponse::MempoolTaken`]).
    Mempool(crate::mempool::MempoolReport),
    /// Subscribes to fleet commands for this agent (a subscription, see
    /// [`crate::wire::subscribe`]): the leader sends
    /// [`AgentResponse::Orders`] as soon as commands are committed for the
    /// agent, each once and none of `known`; [`AgentResponse::Wake`] when
    /// the agent should heartbeat at once; an empty `Orders` after
    /// [`ORDER_FEED_IDLE`] without either, to show it is still there. It ends
    /// the feed with [`AgentResponse::NotLeader`] when it no longer leads.
    /// One open feed replaces a poll per command ([`AgentRequest::Orders`]);
    /// a coordinator from before the feed answers it as malformed, and the
    /// agent polls instead. (Last in the enum: a variant's index is its
    /// encoding.)
    OrderFeed {
        /// Commands the agent already took; they are not sent again.
        known: Vec<u64>,
    },
}

/// The longest an order feed stays silent: the leader sends an empty
/// [`AgentResponse::Orders`] when it has had nothing else to send for this
/// long, so an agent that hears nothing for much longer knows the feed is
/// broken.
pub const ORDER_FEED_IDLE: std::time::Duration = std::time::Duration::from_secs(15);

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
    /// The chains it may execute on (`execute = true` with a gateway).
    pub executes: Vec<String>,
    /// The coordinator the agent just lost, if any: a follower that still
    /// takes it for the leader waits (briefly) for an election before
    /// answering, rather than sending the agent back to it.
    pub lost: Option<String>,
}

/// A lease an agent holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The chain.
    pub chain: String,
    /// The epoch it was granted for.
    pub epoch: u64,
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
        /// Leases and the fleet's execution switches.
        control: Control,
    },
    /// Records up to and including `through_seq` are committed (now or
    /// before): the agent may drop them.
    Delivered {
        /// The highest committed sequence number.
        through_seq: u64,
    },
    /// Commands for the agent, oldest first (none when the wait ran out).
    Orders(Vec<crate::command::CommandOrder>),
    /// The answer to a command poll when the leader has something for the
    /// agent's next heartbeat (an executor lease): heartbeat now.
    Wake,
    /// A mempool report was taken into the leader's window.
    MempoolTaken,
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

/// What a heartbeat's answer tells the agent about execution. Leases count
/// on the agent's monotonic clock from when it sent the heartbeat; a chain
/// not granted here must stop executing at once.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Control {
    /// The leases granted (renewed) by this answer.
    pub grants: Vec<Grant>,
    /// Chains whose lease is withdrawn: the role moved away. A lease
    /// neither granted nor withdrawn runs until it runs out (a new leader
    /// that cannot renew yet does not stop a working executor).
    pub revoke: Vec<String>,
    /// Emergency stop: no executor may execute.
    pub halted: bool,
    /// This agent is in safe mode: it executes nothing.
    pub safe_mode: bool,
    /// Who executes each chain the agent serves, to name in refusals.
    pub executors: Vec<ExecutorInfo>,
    /// The write guards of each chain the agent serves.
    pub guards: Vec<ChainGuards>,
    /// The cgroup weight of each prioritised chain the agent serves (the
    /// fleet's allocation); chains not listed are left alone.
    pub weights: std::collections::BTreeMap<String, u32>,
}

/// One chain's write guards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainGuards {
    /// The chain.
    pub chain: String,
    /// Its guards.
    pub guards: Guards,
}

/// The checks every write must pass on the executor's gateway (the
/// runbook's MEV config: auto-execute, gas price cap, minimum profit,
/// allowed strategies).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guards {
    /// Whether writes may go out at all without an operator.
    pub auto_execute: bool,
    /// The highest fee cap (max fee per gas, or gas price) a transaction
    /// may carry, in wei.
    pub max_gas_price_wei: Option<u128>,
    /// The lowest expected profit (`x-mevfleet-expected-profit-wei`), in wei.
    pub min_profit_wei: Option<u128>,
    /// The strategies (`x-mevfleet-strategy`) allowed; empty allows any.
    pub strategies: Vec<String>,
}

impl Default for Guards {
    fn default() -> Self {
        Self {
            auto_execute: true,
            max_gas_price_wei: None,
            min_profit_wei: None,
            strategies: Vec::new(),
        }
    }
}

/// One lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The chain.
    pub chain: String,
    /// The fencing epoch.
    pub epoch: u64,
    /// How long it lasts from when the heartbeat was sent.
    pub lease_ms: u64,
}

/// The executor of one chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// The chain.
    pub chain: String,
    /// The agent, if any.
    pub agent: Option<String>,
    /// The epoch.
    pub epoch: u64,
}
