//! The leader's side of rolling maintenance: at every failover tick, the
//! running plan's next moves (see [`super::maintenance`]) are committed.
//! Everything the plan knows is in Raft, so a new leader goes on from the
//! last committed move once its grace period is over.

use mevfleet_common::wire::fleet::FleetView;

use super::maintenance::{self, Inputs};
use super::Fleet;
use crate::node::unix_ms;

impl Fleet {
    /// Commits the running plan's next moves, if a plan runs.
    pub(super) async fn maintenance_round(&self, view: &FleetView) {
        let decision = self
            .core()
            .view()
            .read(|applied| {
                let state = &applied.state;
                state.active_maintenance().map(|plan| {
                    maintenance::next(
                        plan,
                        Inputs {
                            agents: &view.agents,
                            executors: &state.executors,
                            commands: &state.commands,
                            now_ms: unix_ms(),
                        },
                    )
                })
            })
            .await;
        let Some(decision) = decision else {
            return;
        };
        if let Ok(mut waiting) = self.maintenance_waiting.lock() {
            *waiting = decision.waiting.clone();
        }
        self.commit_decisions(decision.moves, "maintenance").await;
    }

    /// Why the running plan waits, if it does (this member's last look).
    pub fn maintenance_waiting(&self) -> Option<String> {
        self.maintenance_waiting.lock().ok().and_then(|w| w.clone())
    }
}
