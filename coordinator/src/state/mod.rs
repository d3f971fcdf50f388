//! The replicated fleet state and its pure `apply`: what every coordinator
//! agrees on, one committed proposal at a time. No I/O here; the Raft state
//! machine feeds proposals in log order and persists snapshots of this.

mod command;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use command::{Actor, Command, Outcome, Proposal};

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
    /// Its version when it last registered.
    pub version: String,
    /// When it first registered (ms since the Unix epoch, leader's clock).
    pub registered_ms: u64,
    /// When it last registered.
    pub updated_ms: u64,
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
    /// The most recent writes, oldest first.
    pub audit: Vec<AuditEntry>,
    /// How many older audit entries were dropped.
    pub audit_dropped: u64,
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
                        version: String::new(),
                        registered_ms: now,
                        updated_ms: now,
                    });
                record.labels = labels.clone();
                record.chains = chains.clone();
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
            Command::Membership { what } => Outcome::Recorded(what.clone()),
        };
        self.audit.push(AuditEntry {
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
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
