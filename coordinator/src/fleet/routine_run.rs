//! The leader's side of routine automation: at most every few seconds, the
//! routine commands due (see [`super::routine`]) are issued as fleet
//! commands from `routine`.

use std::time::{Duration, Instant};

use mevfleet_common::wire::fleet::FleetView;

use super::routine::{self, ROUTINE};
use super::Fleet;
use crate::node::unix_ms;
use crate::state::{Actor, Command, Outcome, Proposal};
use tracing::{info, warn};

/// How often the routine is looked at.
const EVERY: Duration = Duration::from_secs(5);

impl Fleet {
    /// Whether it is time to look at the routine again (every few
    /// seconds); a yes counts as the look.
    pub(super) fn routine_due_to_look(&self) -> bool {
        self.routine_looked
            .lock()
            .map(|mut at| {
                let due = at.is_none_or(|t: Instant| t.elapsed() >= EVERY);
                if due {
                    *at = Some(Instant::now());
                }
                due
            })
            .unwrap_or(false)
    }

    /// Issues the routine commands due now.
    pub(super) async fn routine_round(&self, view: &FleetView) {
        let now = unix_ms();
        let policy = &self.policy;
        let specs = self
            .core()
            .view()
            .read(|applied| {
                let history: Vec<_> = applied.state.commands.values().collect();
                routine::due(
                    &policy.routine,
                    &policy.windows,
                    policy.alerts.disk_percent,
                    &view.agents,
                    &history,
                    now,
                )
            })
            .await;
        for spec in specs {
            let what = format!("{} on {}", spec.action, spec.target);
            let proposal = Proposal {
                actor: Actor::new("coordinator", ROUTINE),
                at_ms: now,
                command: Command::IssueCommand { spec },
            };
            match self.core().write_here(proposal).await {
                Ok((_, Outcome::Issued { id, .. })) => {
                    info!(what = %what, command = id, "routine command issued")
                }
                Ok((_, outcome)) => {
                    warn!(what = %what, outcome = ?outcome, "routine command not issued")
                }
                Err(err) => warn!(what = %what, error = %err, "routine command not committed"),
            }
        }
    }
}
