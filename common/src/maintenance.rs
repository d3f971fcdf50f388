//! Rolling maintenance: an action run host by host, each host drained of
//! its executor roles first and healthy again before the next, never
//! leaving a chain with fewer than `min_healthy` healthy nodes. These are
//! the plan as asked for and as the CLI shows it; the coordinator keeps it
//! in Raft and carries it out.

use serde::{Deserialize, Serialize};

use crate::command::Target;

/// What an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceSpec {
    /// The hosts, in id order.
    pub target: Target,
    /// The action each host runs.
    pub action: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Kill the action after this long (ms); `None`: the action's own.
    pub timeout_ms: Option<u64>,
    /// How many hosts may be in maintenance at once.
    pub max_parallel: u32,
    /// No chain may drop below this many healthy nodes because of the
    /// plan.
    pub min_healthy: u32,
    /// How long a host may take, per phase (drain, run, recover), before
    /// the plan stops (ms).
    pub step_timeout_ms: u64,
}

/// Where one host stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Not started.
    Waiting,
    /// Drained; its executor roles are moving away.
    Draining,
    /// Its action runs.
    Running,
    /// Undrained; waiting for its chains to be healthy again.
    Recovering,
    /// Finished.
    Done,
    /// Stopped the plan.
    Failed,
}

impl Phase {
    /// The phase's name in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Waiting => "waiting",
            Phase::Draining => "draining",
            Phase::Running => "running",
            Phase::Recovering => "recovering",
            Phase::Done => "done",
            Phase::Failed => "failed",
        }
    }

    /// Whether the host is being worked on (drained, running or recovering).
    pub fn in_progress(self) -> bool {
        matches!(self, Phase::Draining | Phase::Running | Phase::Recovering)
    }
}

/// Where a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanState {
    /// Being carried out.
    Running,
    /// Every host is done.
    Done,
    /// A host failed; the plan stopped there.
    Failed,
    /// An operator cancelled it.
    Cancelled,
}

impl PlanState {
    /// The state's name in the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Running => "running",
            PlanState::Done => "done",
            PlanState::Failed => "failed",
            PlanState::Cancelled => "cancelled",
        }
    }
}

/// One host of a plan, as shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostView {
    /// The host (agent id).
    pub host: String,
    /// `waiting`, `draining`, `running`, `recovering`, `done` or `failed`.
    pub phase: String,
    /// Since when (ms since the Unix epoch).
    pub since_ms: u64,
    /// The command its action runs as, once issued.
    pub command_id: Option<u64>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// A plan, as shown by `mevfleet maintenance status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceView {
    /// The plan id.
    pub id: u64,
    /// Who started it.
    pub issued_by: String,
    /// When.
    pub issued_at_ms: u64,
    /// `running`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// The action and its arguments.
    pub action: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Hosts at once.
    pub max_parallel: u32,
    /// Healthy nodes each chain keeps.
    pub min_healthy: u32,
    /// Every host, in order.
    pub hosts: Vec<HostView>,
}
