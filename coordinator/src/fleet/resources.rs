//! The leader's side of resource allocation: the weights every chain's
//! services get, from the committed allocation and, in dynamic mode, from
//! how many writes went through each chain's gateways lately. Computed at
//! most once a second and sent to agents with their heartbeat answers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Fleet;
use crate::node::unix_ms;

/// How far back activity counts.
pub const ACTIVITY_WINDOW_MS: u64 = 10 * 60_000;

/// How often the weights are recomputed.
const REFRESH: Duration = Duration::from_secs(1);

impl Fleet {
    /// The current weights by chain.
    pub(super) fn weights(&self) -> BTreeMap<String, u32> {
        self.weights.lock().map(|w| w.1.clone()).unwrap_or_default()
    }

    /// Recomputes the weights if they are older than a second.
    pub(super) async fn refresh_weights(&self) {
        let due = self
            .weights
            .lock()
            .map(|w| w.0.is_none_or(|at| at.elapsed() >= REFRESH))
            .unwrap_or(false);
        if !due {
            return;
        }
        let since = unix_ms().saturating_sub(ACTIVITY_WINDOW_MS);
        let weights = self
            .core()
            .view()
            .read(|applied| applied.state.allocation_weights(since))
            .await;
        if let Ok(mut cached) = self.weights.lock() {
            *cached = (Some(Instant::now()), weights);
        }
    }
}
