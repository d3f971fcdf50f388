//! The fleet as the leader sees it: registered agents joined with their live
//! reports, per-chain summaries, the overall status with its reasons and the
//! morning checklist. Returned by the admin service and the coordinator's
//! HTTP API; the CLI prints it (`agents`, `chains`, `status`, `check`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::admin::ClusterStatus;
use crate::chain::HealthState;
use crate::report::{HostReport, MevBoostReport, ServiceReport};

/// Everything the fleet commands show, as of `at_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetView {
    /// The leader that built the view.
    pub leader: u64,
    /// When (ms since the Unix epoch, leader's clock).
    pub at_ms: u64,
    /// Registered agents, by id.
    pub agents: Vec<AgentView>,
    /// Chains served by any agent, by name.
    pub chains: Vec<ChainView>,
    /// The overall status.
    pub status: StatusReport,
    /// The morning checklist.
    pub checks: Vec<CheckItem>,
    /// Chain verdict changes committed in the checklist's window, oldest first.
    pub events: Vec<EventView>,
    /// The coordinator cluster.
    pub cluster: ClusterStatus,
    /// Execution outcomes.
    pub mev: MevReport,
    /// The mempool of each streamed chain (from the leader's memory).
    #[serde(default)]
    pub mempool: Vec<crate::mempool::MempoolView>,
}

/// How the leader sees one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Presence {
    /// Heartbeats arrive.
    Connected,
    /// Heartbeats stopped recently, or the leader is new and the agent has
    /// not reconnected yet (its grace period): not lost yet.
    Reconnecting,
    /// No heartbeat for longer than the loss limit.
    Lost,
}

/// One agent (the contract's `agents` element).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    /// Its id.
    pub id: String,
    /// Whether heartbeats arrive.
    pub connected: bool,
    /// Connected, reconnecting or lost.
    pub presence: Presence,
    /// When the leader last heard from it (ms since the Unix epoch), if it has.
    pub last_seen_ms: Option<u64>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its version.
    pub version: String,
    /// Its chain nodes.
    pub chains: Vec<AgentChainView>,
    /// Its host resources, if reported.
    pub host: Option<HostReport>,
    /// Its watched units.
    pub services: Vec<ServiceReport>,
    /// Its mev-boost, if it has one.
    pub mev_boost: Option<MevBoostReport>,
}

/// One chain node of an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentChainView {
    /// The chain.
    pub chain: String,
    /// The verdict: the agent's local one with the fleet's lag check added,
    /// or `unknown` while the agent is not connected.
    pub state: String,
    /// The latest block.
    pub head: Option<u64>,
    /// Blocks behind the corroborated fleet head.
    pub lag: Option<u64>,
    /// Whether the node is syncing.
    pub syncing: Option<bool>,
    /// Peers, where the node reports them.
    pub peers: Option<u64>,
    /// RPC latency of the head request.
    pub rpc_latency_ms: Option<f64>,
    /// Why the last probe failed, if it did.
    pub error: Option<String>,
}

impl AgentChainView {
    /// Whether the node counts as healthy.
    pub fn is_healthy(&self) -> bool {
        self.state == HealthState::Healthy.as_str()
    }
}

/// One chain (the contract's `chains` element).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainView {
    /// The chain.
    pub chain: String,
    /// The agent holding the executor role (filled by the executor role).
    pub executor: Option<String>,
    /// The executor's fencing epoch.
    pub epoch: Option<u64>,
    /// Healthy agents serving the chain, best first.
    pub standbys: Vec<String>,
    /// The corroborated fleet head: the second-highest head reported.
    pub best_head: Option<u64>,
    /// Healthy nodes.
    pub healthy: u32,
    /// Nodes reported.
    pub nodes: u32,
    /// The fewest healthy nodes the chain's policy allows.
    pub min_healthy: u32,
    /// The write guards on the executor's gateway.
    pub guards: crate::wire::agent::Guards,
}

/// Overall status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StatusLevel {
    /// Nothing to do.
    Green,
    /// Something needs a look; the fleet still serves.
    Yellow,
    /// A chain cannot be served, or the cluster has no quorum.
    Red,
}

impl StatusLevel {
    /// The name shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusLevel::Green => "GREEN",
            StatusLevel::Yellow => "YELLOW",
            StatusLevel::Red => "RED",
        }
    }
}

/// The overall status with its reasons, worst first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The level.
    pub level: StatusLevel,
    /// Why, one line per finding.
    pub reasons: Vec<Reason>,
}

/// One finding behind the status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// How bad.
    pub level: StatusLevel,
    /// What, in words.
    pub text: String,
}

/// The outcome of one checklist item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    /// Fine.
    Pass,
    /// Worth a look; not a failure.
    Warn,
    /// Failed.
    Fail,
}

/// One item of the morning checklist.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckItem {
    /// The runbook's section: `node sync`, `mev system`, `services`, `disk`,
    /// `overnight alerts`, `cluster`.
    pub section: String,
    /// What was checked (`host-a/ethereum`).
    pub subject: String,
    /// The outcome.
    pub result: CheckResult,
    /// The figures behind it.
    pub detail: String,
}

/// A committed chain verdict change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// The agent.
    pub agent: String,
    /// The chain.
    pub chain: String,
    /// The verdict before.
    pub from: HealthState,
    /// The verdict after.
    pub to: HealthState,
    /// When (ms since the Unix epoch, agent's clock).
    pub at_ms: u64,
    /// The failure behind it, if any.
    pub reason: Option<String>,
    /// The agent's spool sequence number (unique per agent and spool).
    pub seq: u64,
}

/// Execution outcomes over a window (`mev stats`, `/mev/stats`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MevStats {
    /// The window, in ms back from the view's time.
    pub window_ms: u64,
    /// Writes the gateways sent out.
    pub accepted: u64,
    /// Writes they refused (not the executor, halted, a guard, the node).
    pub refused: u64,
    /// Accepted transactions included and successful.
    pub succeeded: u64,
    /// Accepted transactions that reverted or were not included in time.
    pub failed: u64,
    /// Accepted transactions not settled yet.
    pub pending: u64,
    /// succeeded / (succeeded + failed), when anything settled.
    pub success_rate: Option<f64>,
    /// Expected profit of the succeeded transactions, in ETH, by strategy
    /// (`-` for untagged writes).
    pub profit_by_strategy: BTreeMap<String, f64>,
    /// Their total, in ETH.
    pub total_profit_eth: f64,
    /// Missed opportunities: writes refused, and accepted ones that
    /// reverted or were not included.
    pub missed: u64,
    /// Their expected profit, in ETH.
    pub missed_profit_eth: f64,
    /// Missed opportunities by cause: `not_executor`, `halted`, `guard`,
    /// `rejected` (by the node or relays), `reverted`, `not_included`.
    pub missed_by_cause: BTreeMap<String, Missed>,
    /// Missed opportunities that each expected at least the alert
    /// threshold (`alerts.missed_opportunity_eth`, the runbook's 0.1 ETH).
    pub large_misses: u64,
}

/// Missed opportunities of one cause.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Missed {
    /// How many.
    pub count: u64,
    /// Their expected profit, in ETH.
    pub profit_eth: f64,
}

/// Execution outcomes over the last hour and day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MevReport {
    /// The last hour.
    pub last_hour: MevStats,
    /// The last 24 hours.
    pub last_day: MevStats,
}
