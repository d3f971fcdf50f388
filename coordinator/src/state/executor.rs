//! The executor role in the replicated state: per chain, which agent may
//! execute and under which fencing epoch, whether its lease may be granted
//! yet (a handover becomes active only once the previous holder has stopped
//! or its lease has run out), and the fleet-wide emergency stop and
//! per-agent safe mode.

use serde::{Deserialize, Serialize};

use super::{FleetState, Outcome};

/// Who executes for one chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The agent, or none (nobody may execute).
    pub agent: Option<String>,
    /// The fencing epoch: one more on every change.
    pub epoch: u64,
    /// Whether a leader has established that no earlier holder can still
    /// accept writes, so this one may be granted leases.
    pub active: bool,
    /// When it was assigned (ms since the Unix epoch).
    pub since_ms: u64,
    /// Why, in words.
    pub reason: String,
}

impl FleetState {
    /// Moves the chain's executor role to `agent`, if the epoch is still
    /// `expected_epoch` (decisions made on a stale view are refused).
    pub(super) fn assign_executor(
        &mut self,
        chain: &str,
        agent: Option<&str>,
        expected_epoch: u64,
        reason: &str,
        at_ms: u64,
    ) -> Outcome {
        let current_epoch = self.executors.get(chain).map_or(0, |a| a.epoch);
        if current_epoch != expected_epoch {
            return Outcome::Refused(format!(
                "{chain} is at epoch {current_epoch}, not {expected_epoch}: decided on a stale view"
            ));
        }
        if let Some(agent) = agent {
            match self.agents.get(agent) {
                None => return Outcome::Refused(format!("no agent `{agent}`")),
                Some(record) if !record.executes.iter().any(|c| c == chain) => {
                    return Outcome::Refused(format!(
                        "agent `{agent}` may not execute on {chain} (execute = false or no gateway)"
                    ))
                }
                Some(_) => {}
            }
        }
        let current = self.executors.get(chain);
        if current.is_some_and(|a| a.agent.as_deref() == agent) {
            return Outcome::Refused(format!(
                "{} already executes on {chain}",
                agent.unwrap_or("nobody")
            ));
        }
        // Nobody held it before: nothing to wait for.
        let active = current.is_none_or(|a| a.agent.is_none());
        self.executors.insert(
            chain.to_owned(),
            Assignment {
                agent: agent.map(str::to_owned),
                epoch: current_epoch + 1,
                active,
                since_ms: at_ms,
                reason: reason.to_owned(),
            },
        );
        Outcome::Done
    }

    /// Marks the chain's assignment at `epoch` active (its leases may be granted).
    pub(super) fn activate_executor(&mut self, chain: &str, epoch: u64) -> Outcome {
        match self.executors.get_mut(chain) {
            Some(assignment) if assignment.epoch == epoch => {
                assignment.active = true;
                Outcome::Done
            }
            Some(assignment) => Outcome::Refused(format!(
                "{chain} is at epoch {}, not {epoch}",
                assignment.epoch
            )),
            None => Outcome::Refused(format!("{chain} has no executor")),
        }
    }
}
