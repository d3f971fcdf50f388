//! Executor leases, as the leader grants them. The leader keeps, in memory,
//! the last lease it granted per chain. It renews the committed, active
//! assignment on every heartbeat of its holder; it marks a handover active
//! (so the new holder may be granted) only once the previous holder has
//! confirmed it stopped, or its last lease must have run out (lease plus a
//! drift margin). A new leader does not know what its predecessor granted,
//! so it activates nothing until a lease has passed since it took office.
//! No grants at all without a recent quorum acknowledgement: a leader cut
//! off from its quorum stops renewing, so its leases run out before another
//! leader can hand the role over.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mevfleet_common::wire::agent::{Grant, Held};

use crate::state::FleetState;

/// Lease timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    /// How long a lease lasts from the agent's renewal request.
    pub lease: Duration,
    /// Added to every wait for a lease to run out (clock drift between
    /// the agent's and the leader's monotonic clocks, scheduling).
    pub margin: Duration,
    /// Grants need a quorum acknowledgement at most this old.
    pub quorum_freshness: Duration,
}

impl LeaseTiming {
    /// Timings for a lease of `lease`: margin a quarter of it (at least
    /// 100 ms); grants only within half a lease of a quorum acknowledgement.
    pub fn for_lease(lease: Duration) -> Self {
        Self {
            lease,
            margin: (lease / 4).max(Duration::from_millis(100)),
            quorum_freshness: lease / 2,
        }
    }

    /// How long after taking office a new leader waits before activating
    /// a handover it did not witness: its predecessor's last grant may be
    /// up to `quorum_freshness` after the election, and lasts a lease.
    pub fn office_wait(&self) -> Duration {
        self.lease + self.quorum_freshness + self.margin
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct LastGrant {
    agent: String,
    epoch: u64,
    at: Instant,
    released: bool,
}

/// What the leader decided on one heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaseAnswer {
    /// Leases granted to the agent.
    pub grants: Vec<Grant>,
    /// Chains the agent holds a lease for that it must give up now.
    pub revoke: Vec<String>,
    /// Handovers to this agent that are now safe: `(chain, epoch)` to
    /// commit as active.
    pub activate: Vec<(String, u64)>,
}

/// The leader's memory of its grants.
#[derive(Debug, Default)]
pub struct LeaseBook {
    took_office: Option<Instant>,
    granted: BTreeMap<String, LastGrant>,
}

impl LeaseBook {
    /// This member became leader at `now` (only the first call counts
    /// until it steps down).
    pub fn took_office(&mut self, now: Instant) {
        if self.took_office.is_none() {
            self.took_office = Some(now);
            self.granted.clear();
        }
    }

    /// This member no longer leads.
    pub fn stepped_down(&mut self) {
        self.took_office = None;
        self.granted.clear();
    }

    /// How many chains' last lease went to `agent` and is not yet released.
    pub fn held_by(&self, agent: &str) -> usize {
        self.granted
            .values()
            .filter(|last| last.agent == agent && !last.released)
            .count()
    }

    /// Answers one heartbeat of `agent`, which held `holding` when it sent it.
    pub fn on_heartbeat(
        &mut self,
        agent: &str,
        holding: &[Held],
        state: &FleetState,
        now: Instant,
        timing: LeaseTiming,
        quorum_age: Option<Duration>,
    ) -> LeaseAnswer {
        // What the agent no longer holds, it has stopped executing.
        for (chain, last) in self.granted.iter_mut() {
            let held = holding
                .iter()
                .any(|h| &h.chain == chain && h.epoch == last.epoch);
            if last.agent == agent && !held {
                last.released = true;
            }
        }
        let mut answer = LeaseAnswer::default();
        for held in holding {
            let still = state.executors.get(&held.chain).is_some_and(|a| {
                a.agent.as_deref() == Some(agent) && a.epoch == held.epoch && a.active
            });
            if !still {
                answer.revoke.push(held.chain.clone());
            }
        }
        let Some(took_office) = self.took_office else {
            return answer;
        };
        let quorum_fresh = quorum_age.is_some_and(|age| age <= timing.quorum_freshness);
        for (chain, assignment) in &state.executors {
            if assignment.agent.as_deref() != Some(agent) {
                continue;
            }
            if !assignment.active {
                let previous_done = match self.granted.get(chain) {
                    Some(last) if last.agent == agent && last.epoch == assignment.epoch => true,
                    Some(last) => last.released || now >= last.at + timing.lease + timing.margin,
                    None => now >= took_office + timing.office_wait(),
                };
                if previous_done {
                    answer.activate.push((chain.clone(), assignment.epoch));
                }
                continue;
            }
            if state.halted || state.safe_mode.contains(agent) || !quorum_fresh {
                continue;
            }
            self.granted.insert(
                chain.clone(),
                LastGrant {
                    agent: agent.to_owned(),
                    epoch: assignment.epoch,
                    at: now,
                    released: false,
                },
            );
            answer.grants.push(Grant {
                chain: chain.clone(),
                epoch: assignment.epoch,
                lease_ms: timing.lease.as_millis() as u64,
            });
        }
        answer
    }
}

#[cfg(test)]
#[path = "lease_tests.rs"]
mod tests;
