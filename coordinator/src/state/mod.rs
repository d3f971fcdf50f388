//! The replicated fleet state and its pure `apply`: what every coordinator
//! agrees on, one committed proposal at a time. No I/O here; the Raft state
//! machine feeds proposals in log order and persists snapshots of this.

mod broadcast;
mod command;
mod executor;
mod join_token;
mod maintenance;

use std::collections::{BTreeMap, VecDeque};

use mevfleet_common::chain::HealthState;
use mevfleet_common::report::{Execution, Inclusion, SpoolRecord, Spooled};
use serde::{Deserialize, Serialize};

pub use broadcast::{CommandRecord, COMMANDS_RETAINED, MAX_EXPIRY_MS};
pub use command::{Actor, Command, Outcome, Proposal};
pub use executor::Assignment;
pub use join_token::{JoinTokenRecord, MAX_TOKEN_TTL_MS, TOKENS_KEPT_AFTER_MS};
pub use maintenance::{HostStep, MaintenancePlan};

/// How many audit entries the state keeps; older ones are dropped (the
/// count of dropped entries is kept so gaps are visible).
pub const AUDIT_RETAINED: usize = 100_000;

/// An agent known to the fleet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// The agent's id (its certificate name).
    pub id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The chains it serves.
    pub chains: Vec<String>,
    /// The chains it may execute on.
    pub executes: Vec<String>,
    /// Its version when it last registered.
    pub version: String,
    /// When it first registered (ms since the Unix epoch, leader's clock).
    pub registered_ms: u64,
    /// When it last registered.
    pub updated_ms: u64,
}

/// How many chain events the state keeps; older ones are dropped.
pub const EVENTS_RETAINED: usize = 10_000;

/// How many execution outcomes the state keeps; older ones are dropped.
pub const EXECUTIONS_RETAINED: usize = 100_000;

/// A write through an executor gateway and, once known, its fate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionEntry {
    /// The agent whose gateway it went through.
    pub agent: String,
    /// The write.
    pub execution: Execution,
    /// Its inclusion, once followed to a receipt (or given up).
    pub inclusion: Option<Inclusion>,
}

/// A chain node's verdict changed on an agent (from its spool).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEvent {
    /// The agent.
    pub agent: String,
    /// Its spool sequence number.
    pub seq: u64,
    /// The chain.
    pub chain: String,
    /// The verdict before.
    pub from: HealthState,
    /// The verdict after.
    pub to: HealthState,
    /// When, on the agent's clock (ms since the Unix epoch).
    pub at_ms: u64,
    /// The failure behind it, if any.
    pub reason: Option<String>,
}

/// Where an agent's spool stands: records through `through_seq` of spool
/// `spool_id` are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolMark {
    /// The spool's identity.
    pub spool_id: u64,
    /// The highest applied sequence number.
    pub through_seq: u64,
}

/// One write, for the audit log: who, what, when, at which log index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The Raft log index of the write.
    pub index: u64,
    /// When it was proposed (ms since the Unix epoch).
    pub at_ms: u64,
    /// Who asked for it.
    pub actor: Actor,
    /// What it did, in words.
    pub what: String,
    /// Whether it changed the state (refused writes are audited too).
    pub applied: bool,
}

/// Everything the coordinators agree on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetState {
    /// Agents by id.
    pub agents: BTreeMap<String, AgentRecord>,
    /// Cluster settings by key.
    pub settings: BTreeMap<String, String>,
    /// The most recent writes, oldest first (a ring: dropping the oldest
    /// of 100,000 must not move the rest on every write).
    pub audit: VecDeque<AuditEntry>,
    /// How many older audit entries were dropped.
    pub audit_dropped: u64,
    /// Chain events from agents' spools, oldest first.
    pub events: Vec<ChainEvent>,
    /// How many older events were dropped.
    pub events_dropped: u64,
    /// Each agent's spool mark, by agent id.
    pub spools: BTreeMap<String, SpoolMark>,
    /// The executor role by chain.
    pub executors: BTreeMap<String, Assignment>,
    /// Emergency stop: no executor may execute.
    pub halted: bool,
    /// Agents in safe mode.
    pub safe_mode: std::collections::BTreeSet<String>,
    /// Writes through the gateways and their fates, oldest first.
    pub executions: Vec<ExecutionEntry>,
    /// Write guards by chain (chains not listed use the defaults).
    pub guards: BTreeMap<String, mevfleet_common::wire::agent::Guards>,
    /// Fleet commands by id.
    pub commands: BTreeMap<u64, CommandRecord>,
    /// The last command id given.
    pub next_command_id: u64,
    /// Drained agents: they hold no executor role and take none.
    pub drained: std::collections::BTreeSet<String>,
    /// Maintenance plans, oldest first; only the last may be running.
    pub maintenance: Vec<MaintenancePlan>,
    /// The last maintenance plan id given.
    pub next_maintenance_id: u64,
    /// The resource allocation policy.
    pub allocation: mevfleet_common::alloc::Allocation,
    /// One-time join tokens by id (secrets only as their SHA-256).
    pub join_tokens: BTreeMap<String, JoinTokenRecord>,
}

impl FleetState {
    /// Applies one committed proposal at log `index`. Deterministic: every
    /// member computes the same state and outcome from the same log.
    pub fn apply(&mut self, index: u64, proposal: &Proposal) -> Outcome {
        let outcome = match &proposal.command {
            Command::RegisterAgent {
                id,
                labels,
                chains,
                executes,
                version,
            } => {
                let now = proposal.at_ms;
                let record = self
                    .agents
                    .entry(id.clone())
                    .or_insert_with(|| AgentRecord {
                        id: id.clone(),
                        labels: BTreeMap::new(),
                        chains: Vec::new(),
                        executes: Vec::new(),
                        version: String::new(),
                        registered_ms: now,
                        updated_ms: now,
                    });
                record.labels = labels.clone();
                record.chains = chains.clone();
                record.executes = executes.clone();
                record.version = version.clone();
                record.updated_ms = now;
                Outcome::Done
            }
            Command::ForgetAgent { id } => match self.agents.remove(id) {
                Some(_) => Outcome::Done,
                None => Outcome::Refused(format!("no agent `{id}`")),
            },
            Command::SetSetting { key, value } => {
                if key.is_empty() {
                    Outcome::Refused("a setting needs a non-empty key".into())
                } else {
                    self.settings.insert(key.clone(), value.clone());
                    Outcome::Done
                }
            }
            Command::DeleteSetting { key } => match self.settings.remove(key) {
                Some(_) => Outcome::Done,
                None => Outcome::Refused(format!("no setting `{key}`")),
            },
            Command::AgentRecords {
                agent,
                spool_id,
                records,
            } => self.apply_records(agent, *spool_id, records),
            Command::AssignExecutor {
                chain,
                agent,
                expected_epoch,
                reason,
            } => self.assign_executor(
                chain,
                agent.as_deref(),
                *expected_epoch,
                reason,
                proposal.at_ms,
            ),
            Command::ActivateExecutor { chain, epoch } => self.activate_executor(chain, *epoch),
            Command::SetGuards { chain, guards } => {
                if chain.is_empty() {
                    Outcome::Refused("guards need a chain".into())
                } else {
                    self.guards.insert(chain.clone(), guards.clone());
                    Outcome::Done
                }
            }
            Command::EmergencyStop { halted } => {
                self.halted = *halted;
                Outcome::Done
            }
            Command::SafeMode { agent, on } => {
                if *on {
                    self.safe_mode.insert(agent.clone());
                } else {
                    self.safe_mode.remove(agent);
                }
                Outcome::Done
            }
            Command::Membership { what } => Outcome::Recorded(what.clone()),
            // A batch is its proposals, each applied and audited on its own.
            Command::Batch(proposals) => {
                return Outcome::Batch(proposals.iter().map(|p| self.apply(index, p)).collect())
            }
            Command::SetAllocation { allocation } => {
                self.allocation = allocation.clone();
                Outcome::Done
            }
            Command::StartMaintenance { spec } => {
                self.start_maintenance(spec, &proposal.actor.name, proposal.at_ms)
            }
            Command::AdvanceMaintenance {
                plan,
                host,
                from,
                to,
                reason,
            } => self.advance_maintenance(
                *plan,
                host,
                (*from, *to),
                reason.as_deref(),
                proposal.at_ms,
            ),
            Command::CancelMaintenance { plan } => self.cancel_maintenance(*plan),
            Command::Drain { agent, on } => {
                if !self.agents.contains_key(agent) {
                    Outcome::Refused(format!("no agent `{agent}` is registered"))
                } else {
                    if *on {
                        self.drained.insert(agent.clone());
                    } else {
                        self.drained.remove(agent);
                    }
                    Outcome::Done
                }
            }
            Command::IssueCommand { spec } => {
                self.issue_command(spec, &proposal.actor.name, proposal.at_ms)
            }
            Command::CreateJoinToken {
                id,
                secret_sha256,
                expires_ms,
                labels,
                agent_id,
            } => self.create_join_token(
                join_token::NewToken {
                    id,
                    secret_sha256,
                    expires_ms: *expires_ms,
                    labels,
                    agent_id: agent_id.as_deref(),
                },
                &proposal.actor.to_string(),
                proposal.at_ms,
            ),
            Command::RedeemJoinToken {
                id,
                secret_sha256,
                agent_id,
            } => self.redeem_join_token(
                join_token::Redemption {
                    id,
                    secret_sha256,
                    agent_id,
                },
                proposal.at_ms,
            ),
        };
        self.audit.push_back(AuditEntry {
            index,
            at_ms: proposal.at_ms,
            actor: proposal.actor.clone(),
            what: proposal.command.describe(),
            applied: !matches!(outcome, Outcome::Refused(_)),
        });
        if self.audit.len() > AUDIT_RETAINED {
            let excess = self.audit.len() - AUDIT_RETAINED;
            self.audit.drain(..excess);
            self.audit_dropped += excess as u64;
        }
        outcome
    }

    /// Applies the records past the spool's mark, in order, and moves the
    /// mark. A spool with a new identity (the agent's data was wiped)
    /// starts a new mark.
    fn apply_records(&mut self, agent: &str, spool_id: u64, records: &[Spooled]) -> Outcome {
        if !self.agents.contains_key(agent) {
            return Outcome::Refused(format!("no agent `{agent}` is registered"));
        }
        let mark = self.spools.entry(agent.to_owned()).or_insert(SpoolMark {
            spool_id,
            through_seq: 0,
        });
        if mark.spool_id != spool_id {
            *mark = SpoolMark {
                spool_id,
                through_seq: 0,
            };
        }
        let mut applied = 0;
        for spooled in records {
            if spooled.seq <= mark.through_seq {
                continue;
            }
            mark.through_seq = spooled.seq;
            applied += 1;
            match &spooled.record {
                SpoolRecord::ChainTransition {
                    chain,
                    from,
                    to,
                    at_ms,
                    reason,
                } => self.events.push(ChainEvent {
                    agent: agent.to_owned(),
                    seq: spooled.seq,
                    chain: chain.clone(),
                    from: *from,
                    to: *to,
                    at_ms: *at_ms,
                    reason: reason.clone(),
                }),
                SpoolRecord::Execution(execution) => self.executions.push(ExecutionEntry {
                    agent: agent.to_owned(),
                    execution: execution.clone(),
                    inclusion: None,
                }),
                SpoolRecord::SafeMode { on } => {
                    if *on {
                        self.safe_mode.insert(agent.to_owned());
                    } else {
                        self.safe_mode.remove(agent);
                    }
                }
                SpoolRecord::Drain { on } => {
                    if *on {
                        self.drained.insert(agent.to_owned());
                    } else {
                        self.drained.remove(agent);
                    }
                }
                SpoolRecord::Command(result) => {
                    broadcast::record_result(&mut self.commands, agent, result)
                }
                SpoolRecord::Inclusion(inclusion) => {
                    // The newest matching write: hashes repeat only on resends.
                    if let Some(entry) = self.executions.iter_mut().rev().find(|e| {
                        e.agent == agent
                            && e.execution.chain == inclusion.chain
                            && e.execution.hash.as_deref() == Some(inclusion.hash.as_str())
                    }) {
                        entry.inclusion = Some(inclusion.clone());
                    }
                }
            }
        }
        if self.executions.len() > EXECUTIONS_RETAINED {
            let excess = self.executions.len() - EXECUTIONS_RETAINED;
            self.executions.drain(..excess);
        }
        if self.events.len() > EVENTS_RETAINED {
            let excess = self.events.len() - EVENTS_RETAINED;
            self.events.drain(..excess);
            self.events_dropped += excess as u64;
        }
        Outcome::RecordsThrough {
            through_seq: mark.through_seq,
            applied,
        }
    }
}

impl FleetState {
    /// The allocation's weights by chain, with the gateway writes since
    /// `since_ms` as the activity in dynamic mode.
    pub fn allocation_weights(&self, since_ms: u64) -> BTreeMap<String, u32> {
        let mut activity: BTreeMap<String, u64> = BTreeMap::new();
        if self.allocation.dynamic {
            for entry in self
                .executions
                .iter()
                .rev()
                .take_while(|e| e.execution.at_ms >= since_ms)
            {
                *activity.entry(entry.execution.chain.clone()).or_default() += 1;
            }
        }
        mevfleet_common::alloc::weights(&self.allocation, &activity)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
