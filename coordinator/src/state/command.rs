//! What can be proposed to the fleet state: commands, who proposed them and
//! when, and what applying them gave.

use std::collections::BTreeMap;
use std::fmt;

use mevfleet_common::report::Spooled;
use mevfleet_common::wire::agent::Guards;
use serde::{Deserialize, Serialize};

/// Who asked for a write: a certificate identity, or the coordinator itself
/// for decisions it makes on its own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    /// The role, as in the certificate (`admin`, `operator`, `agent`, `coordinator`).
    pub role: String,
    /// The name, as in the certificate.
    pub name: String,
}

impl Actor {
    /// An actor with `role` and `name`.
    pub fn new(role: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role, self.name)
    }
}

/// A change to the fleet state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// An agent registers (or re-registers) with its labels, chains and version.
    RegisterAgent {
        /// The agent's id.
        id: String,
        /// Its labels.
        labels: BTreeMap<String, String>,
        /// The chains it serves.
        chains: Vec<String>,
        /// The chains it may execute on (execute = true, with a gateway).
        executes: Vec<String>,
        /// Its version.
        version: String,
    },
    /// Moves a chain's executor role (fenced: only from `expected_epoch`).
    AssignExecutor {
        /// The chain.
        chain: String,
        /// The new executor, or none.
        agent: Option<String>,
        /// The epoch the decision was made on.
        expected_epoch: u64,
        /// Why.
        reason: String,
    },
    /// A handover is safe: the assignment at `epoch` may be granted leases.
    ActivateExecutor {
        /// The chain.
        chain: String,
        /// The epoch.
        epoch: u64,
    },
    /// Sets a chain's write guards.
    SetGuards {
        /// The chain.
        chain: String,
        /// The guards.
        guards: Guards,
    },
    /// Halts (or resumes) every executor fleet-wide.
    EmergencyStop {
        /// True to halt, false to resume.
        halted: bool,
    },
    /// Puts one agent in (or out of) safe mode: it executes nothing.
    SafeMode {
        /// The agent.
        agent: String,
        /// On or off.
        on: bool,
    },
    /// An agent is removed from the registry.
    ForgetAgent {
        /// The agent's id.
        id: String,
    },
    /// A cluster setting is set.
    SetSetting {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A cluster setting is removed.
    DeleteSetting {
        /// The key.
        key: String,
    },
    /// Records an agent delivered from its spool. Each `(spool_id, seq)`
    /// is applied at most once: records at or below the spool's mark are
    /// acknowledged again without being applied twice.
    AgentRecords {
        /// The agent (from its certificate).
        agent: String,
        /// The agent's spool identity.
        spool_id: u64,
        /// The records, by increasing `seq`.
        records: Vec<Spooled>,
    },
    /// Drains an agent (it gives its executor roles up and takes none) or
    /// undrains it.
    Drain {
        /// The agent.
        agent: String,
        /// On or off.
        on: bool,
    },
    /// Sets the resource allocation policy (operator or admin).
    SetAllocation {
        /// Priorities by chain, and whether activity shifts them.
        allocation: mevfleet_common::alloc::Allocation,
    },
    /// A rolling maintenance plan starts (operator or admin).
    StartMaintenance {
        /// What to run, where, how.
        spec: mevfleet_common::maintenance::MaintenanceSpec,
    },
    /// One host of a plan moves on (the leader carrying the plan out).
    AdvanceMaintenance {
        /// The plan.
        plan: u64,
        /// The host.
        host: String,
        /// The phase it must be at.
        from: mevfleet_common::maintenance::Phase,
        /// The phase it moves to.
        to: mevfleet_common::maintenance::Phase,
        /// Why, when it fails.
        reason: Option<String>,
    },
    /// A running plan is cancelled (operator or admin).
    CancelMaintenance {
        /// The plan.
        plan: u64,
    },
    /// A fleet command is issued (operator or admin).
    IssueCommand {
        /// What to run, where.
        spec: mevfleet_common::command::CommandSpec,
    },
    /// Records a one-time join token (operator or admin).
    CreateJoinToken {
        /// Its public id.
        id: String,
        /// SHA-256 of its secret, hex.
        secret_sha256: String,
        /// Until when it may be used (ms since the Unix epoch).
        expires_ms: u64,
        /// Labels the enrolled agent gets.
        labels: BTreeMap<String, String>,
        /// The only agent id it may enroll, if bound.
        agent_id: Option<String>,
    },
    /// An enrolling host uses a join token for `agent_id`.
    RedeemJoinToken {
        /// The token's id.
        id: String,
        /// SHA-256 of the secret the host presented, hex.
        secret_sha256: String,
        /// The agent id it enrolls as.
        agent_id: String,
    },
    /// A membership change, recorded for the audit log (the change itself
    /// is carried by Raft's own membership entries).
    Membership {
        /// What changed.
        what: String,
    },
    /// Proposals that queued while the previous entry was committing, in
    /// one entry, applied in order (the leader's write batcher). Last, so
    /// the variants before it keep their encoding.
    Batch(Vec<Proposal>),
}

impl Command {
    /// The command in words, for the audit log.
    pub fn describe(&self) -> String {
        match self {
            Command::RegisterAgent { id, chains, .. } => {
                format!("register agent {id} (chains: {})", chains.join(","))
            }
            Command::ForgetAgent { id } => format!("forget agent {id}"),
            Command::AssignExecutor {
                chain,
                agent,
                expected_epoch,
                reason,
            } => format!(
                "executor of {chain}: {} (from epoch {expected_epoch}; {reason})",
                agent.as_deref().unwrap_or("nobody")
            ),
            Command::SetGuards { chain, guards } => format!(
                "guards of {chain}: auto_execute {}, max gas price {:?} wei, min profit {:?} wei, strategies [{}]",
                guards.auto_execute,
                guards.max_gas_price_wei,
                guards.min_profit_wei,
                guards.strategies.join(",")
            ),
            Command::ActivateExecutor { chain, epoch } => {
                format!("executor of {chain} at epoch {epoch} may execute")
            }
            Command::EmergencyStop { halted: true } => {
                "emergency stop: every executor halted".into()
            }
            Command::EmergencyStop { halted: false } => {
                "resume: executors may execute again".into()
            }
            Command::SafeMode { agent, on } => {
                format!(
                    "safe mode {} for agent {agent}",
                    if *on { "on" } else { "off" }
                )
            }
            Command::SetSetting { key, value } => format!("set {key} = {value}"),
            Command::DeleteSetting { key } => format!("delete setting {key}"),
            Command::AgentRecords { agent, records, .. } => match (records.first(), records.last())
            {
                (Some(first), Some(last)) => {
                    format!("records {}..={} from agent {agent}", first.seq, last.seq)
                }
                _ => format!("no records from agent {agent}"),
            },
            Command::Membership { what } => format!("membership: {what}"),
            Command::Batch(proposals) => format!("a batch of {} writes", proposals.len()),
            Command::SetAllocation { allocation } => {
                let priorities: Vec<String> = allocation
                    .priorities
                    .iter()
                    .map(|(chain, p)| format!("{chain}={p}"))
                    .collect();
                format!(
                    "allocation {}{}",
                    priorities.join(","),
                    if allocation.dynamic { " (dynamic)" } else { "" }
                )
            }
            Command::StartMaintenance { spec } => format!(
                "maintenance {} {} on {} (max {} at once, min {} healthy)",
                spec.action,
                spec.args.join(" "),
                spec.target,
                spec.max_parallel,
                spec.min_healthy
            ),
            Command::AdvanceMaintenance {
                plan,
                host,
                from,
                to,
                reason,
            } => format!(
                "maintenance {plan}: {host} {} -> {}{}",
                from.as_str(),
                to.as_str(),
                reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            Command::CancelMaintenance { plan } => format!("cancel maintenance {plan}"),
            Command::Drain { agent, on } => {
                format!("{} {agent}", if *on { "drain" } else { "undrain" })
            }
            Command::IssueCommand { spec } => format!(
                "command {} {} to {}",
                spec.action,
                spec.args.join(" "),
                spec.target
            ),
            Command::CreateJoinToken {
                id,
                expires_ms,
                agent_id,
                ..
            } => format!(
                "create join token {id}{} until {}",
                agent_id
                    .as_deref()
                    .map(|agent| format!(" for agent {agent}"))
                    .unwrap_or_default(),
                mevfleet_common::utc::utc_text(*expires_ms)
            ),
            Command::RedeemJoinToken { id, agent_id, .. } => {
                format!("enroll agent {agent_id} with join token {id}")
            }
        }
    }
}

/// A command with who proposed it and when (the proposing member's clock).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Who asked.
    pub actor: Actor,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
    /// What.
    pub command: Command,
}

/// What applying a proposal gave.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The state changed as asked.
    #[default]
    Done,
    /// Recorded without changing the fleet state (audit-only entries).
    Recorded(String),
    /// Committed but refused by the rules of the state; nothing changed.
    Refused(String),
    /// Spooled records are committed through this sequence number
    /// (`applied` of them by this entry, the rest before).
    RecordsThrough {
        /// The spool's mark after this entry.
        through_seq: u64,
        /// How many records this entry applied.
        applied: u64,
    },
    /// A maintenance plan started.
    PlanStarted {
        /// Its id.
        id: u64,
    },
    /// A fleet command was issued.
    Issued {
        /// Its id.
        id: u64,
        /// The agents it is for.
        targets: Vec<String>,
    },
    /// A join token was used: the host may be given its certificate.
    Enrolled {
        /// The labels the token gives the agent.
        labels: BTreeMap<String, String>,
    },
    /// A batch's outcomes, one per proposal, in order.
    Batch(Vec<Outcome>),
}
