//! Delivering fleet commands to agents: an agent's long poll is answered as
//! soon as a command it does not know yet is committed for it, so connected
//! agents get commands at once and reconnecting ones get what they missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::wire::agent::AgentResponse;

use super::{Fleet, Leadership};
use crate::node::unix_ms;

/// The longest the leader holds an agent's poll.
pub const MAX_ORDERS_WAIT: Duration = Duration::from_secs(30);

impl Fleet {
    /// The notifier that wakes `agent`'s command poll.
    fn wake_handle(&self, agent: &str) -> Arc<Notify> {
        match self.wakes.lock() {
            Ok(mut wakes) => wakes.entry(agent.to_owned()).or_default().clone(),
            Err(_) => Arc::new(Notify::new()),
        }
    }

    /// Asks `agent` to heartbeat at once (through its command poll).
    pub(super) fn wake(&self, agent: &str) {
        self.wake_handle(agent).notify_one();
    }

    /// The commands `peer` has yet to take (not in `known`), waiting up to
    /// `wait_ms` for one to be issued when there are none.
    pub async fn orders(&self, peer: &PeerIdentity, known: &[u64], wait_ms: u64) -> AgentResponse {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(wait_ms).min(MAX_ORDERS_WAIT);
        let view = self.core().view();
        let mut issued = view.commands_issued();
        let wake = self.wake_handle(&peer.name);
        loop {
            if let Leadership::Elsewhere(leader) = self.leadership() {
                return AgentResponse::NotLeader { leader };
            }
            issued.borrow_and_update();
            let orders: Vec<_> = view
                .read(|applied| applied.state.orders_for(&peer.name, unix_ms()))
                .await
                .into_iter()
                .filter(|order| !known.contains(&order.id))
                .collect();
            if !orders.is_empty() {
                return AgentResponse::Orders(orders);
            }
            tokio::select! {
                changed = issued.changed() => {
                    if changed.is_err() {
                        return AgentResponse::Orders(Vec::new());
                    }
                }
                _ = wake.notified() => return AgentResponse::Wake,
                _ = tokio::time::sleep_until(deadline) => return AgentResponse::Orders(Vec::new()),
            }
        }
    }
}
