//! The agent's side of the executor role: the leases the leader granted,
//! counted on this host's monotonic clock from when the renewing heartbeat
//! was *sent*, the emergency stop and safe mode, and who executes each
//! chain. The gateway asks it, for every write, whether this agent may
//! execute right now.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mevfleet_common::wire::agent::{Control, Guards, Held};

/// Why a write may not go out (the gateway's stable error codes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// -32001: another agent (or nobody) executes this chain.
    NotExecutor {
        /// The active executor, if known.
        executor: Option<String>,
        /// Its epoch.
        epoch: u64,
    },
    /// -32002: emergency stop or safe mode.
    Halted {
        /// Which.
        why: &'static str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Lease {
    epoch: u64,
    until: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    leases: BTreeMap<String, Lease>,
    halted: bool,
    safe_mode: bool,
    executors: BTreeMap<String, (Option<String>, u64)>,
    guards: BTreeMap<String, Guards>,
}

/// Shared between the uplink (which renews) and the gateways (which ask).
/// A lease ends when it runs out or when the leader withdraws it; a
/// heartbeat answer that neither renews nor withdraws it leaves it running.
#[derive(Clone, Debug, Default)]
pub struct ExecutorState {
    inner: Arc<Mutex<Inner>>,
}

impl ExecutorState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The leases held at `now` (what a heartbeat reports).
    pub fn holding(&self, now: Instant) -> Vec<Held> {
        self.lock()
            .leases
            .iter()
            .filter(|(_, lease)| lease.until > now)
            .map(|(chain, lease)| Held {
                chain: chain.clone(),
                epoch: lease.epoch,
            })
            .collect()
    }

    /// Applies a heartbeat's answer; the heartbeat was sent at `sent`.
    /// Returns true when a lease this agent held was withdrawn (the leader
    /// should hear at once that it stopped).
    pub fn apply(&self, control: &Control, sent: Instant) -> bool {
        let mut inner = self.lock();
        for grant in &control.grants {
            inner.leases.insert(
                grant.chain.clone(),
                Lease {
                    epoch: grant.epoch,
                    until: sent + Duration::from_millis(grant.lease_ms),
                },
            );
        }
        let mut withdrawn = false;
        for chain in &control.revoke {
            withdrawn |= inner.leases.remove(chain).is_some();
        }
        inner.halted = control.halted;
        inner.safe_mode = control.safe_mode;
        inner.guards = control
            .guards
            .iter()
            .map(|g| (g.chain.clone(), g.guards.clone()))
            .collect();
        inner.executors = control
            .executors
            .iter()
            .map(|e| (e.chain.clone(), (e.agent.clone(), e.epoch)))
            .collect();
        withdrawn
    }

    /// Gives up the chain's lease at once (its node can no longer serve
    /// writes); the next heartbeat tells the leader, which can then hand
    /// the role over without waiting for the lease to run out. Returns
    /// whether a lease was held.
    pub fn release(&self, chain: &str) -> bool {
        self.lock().leases.remove(chain).is_some()
    }

    /// The chain's write guards as the leader last sent them (the
    /// defaults before it has).
    pub fn guards(&self, chain: &str) -> Guards {
        self.lock().guards.get(chain).cloned().unwrap_or_default()
    }

    /// Whether this agent may send a write for `chain` at `now`: the epoch
    /// it writes under, or why not.
    pub fn may_write(&self, chain: &str, now: Instant) -> Result<u64, Refusal> {
        let inner = self.lock();
        if inner.halted {
            return Err(Refusal::Halted {
                why: "the fleet is under an emergency stop",
            });
        }
        if inner.safe_mode {
            return Err(Refusal::Halted {
                why: "this agent is in safe mode",
            });
        }
        match inner.leases.get(chain) {
            Some(lease) if lease.until > now => Ok(lease.epoch),
            _ => {
                let (executor, epoch) = inner.executors.get(chain).cloned().unwrap_or((None, 0));
                Err(Refusal::NotExecutor { executor, epoch })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mevfleet_common::wire::agent::{ExecutorInfo, Grant};

    use super::*;

    fn control(grants: &[(&str, u64)], halted: bool) -> Control {
        Control {
            weights: Default::default(),
            grants: grants
                .iter()
                .map(|(chain, epoch)| Grant {
                    chain: (*chain).into(),
                    epoch: *epoch,
                    lease_ms: 2000,
                })
                .collect(),
            revoke: Vec::new(),
            halted,
            safe_mode: false,
            guards: Vec::new(),
            executors: vec![ExecutorInfo {
                chain: "base".into(),
                agent: Some("host-b".into()),
                epoch: 7,
            }],
        }
    }

    #[test]
    fn a_lease_counts_from_the_send_and_ends_on_time_or_when_withdrawn() {
        let state = ExecutorState::default();
        let sent = Instant::now();
        assert!(!state.apply(&control(&[("ethereum", 3)], false), sent));
        assert_eq!(
            state.may_write("ethereum", sent + Duration::from_millis(1999)),
            Ok(3)
        );
        assert!(state
            .may_write("ethereum", sent + Duration::from_millis(2000))
            .is_err());
        assert_eq!(state.holding(sent).len(), 1);
        assert_eq!(
            state.may_write("base", sent),
            Err(Refusal::NotExecutor {
                executor: Some("host-b".into()),
                epoch: 7
            })
        );
        // An answer that does not renew it leaves it running out its time.
        assert!(!state.apply(&control(&[], false), sent));
        assert_eq!(state.may_write("ethereum", sent), Ok(3));
        // One that withdraws it stops it at once.
        let mut revoke = control(&[], false);
        revoke.revoke = vec!["ethereum".into()];
        assert!(state.apply(&revoke, sent));
        assert!(state.may_write("ethereum", sent).is_err());
        assert!(state.holding(sent).is_empty());
    }

    #[test]
    fn an_emergency_stop_refuses_even_a_held_lease() {
        let state = ExecutorState::default();
        let sent = Instant::now();
        state.apply(&control(&[("ethereum", 3)], true), sent);
        assert!(matches!(
            state.may_write("ethereum", sent),
            Err(Refusal::Halted { .. })
        ));
    }
}
