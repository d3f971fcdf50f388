//! Delivering fleet commands to agents: an agent's order feed (or, from an
//! agent that predates it, its long poll) is answered as soon as a command
//! it does not know yet is committed for it, so connected agents get
//! commands at once and reconnecting ones get what they missed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use mevfleet_common::command::CommandOrder;
use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::wire::agent::{AgentResponse, ORDER_FEED_IDLE};
use mevfleet_common::wire::{ErrorCode, FrameError, ReplySink, WireError};

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
        let mut issued = self.core().view().commands_issued();
        let wake = self.wake_handle(&peer.name);
        loop {
            if let Leadership::Elsewhere(leader) = self.leadership() {
                return AgentResponse::NotLeader { leader };
            }
            issued.borrow_and_update();
            let orders = self.pending_orders(peer, known).await;
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

    /// Feeds `peer` its commands as they are committed, each once and none
    /// of `known`, and its wake-ups, on one stream, until the member stops
    /// leading (the last reply, [`AgentResponse::NotLeader`]) or the agent
    /// goes (an error: nothing is left to answer).
    pub async fn order_feed(
        &self,
        peer: &PeerIdentity,
        known: Vec<u64>,
        replies: &mut ReplySink<'_, AgentResponse>,
    ) -> Result<AgentResponse, WireError> {
        let gone = |err: FrameError| {
            WireError::new(
                ErrorCode::UNAVAILABLE,
                format!("the order feed broke: {err}"),
            )
        };
        let mut issued = self.core().view().commands_issued();
        let wake = self.wake_handle(&peer.name);
        // Every command up to this one has been looked at (and what was for
        // the agent sent): a wake looks only at commands issued since.
        let mut looked_through = 0;
        loop {
            if let Leadership::Elsewhere(leader) = self.leadership() {
                return Ok(AgentResponse::NotLeader { leader });
            }
            issued.borrow_and_update();
            let (orders, through) = self
                .core()
                .view()
                .read(|applied| {
                    let state = &applied.state;
                    let orders = state.orders_after(&peer.name, looked_through, unix_ms());
                    (orders, state.last_command_id())
                })
                .await;
            looked_through = through;
            let orders: Vec<_> = orders
                .into_iter()
                .filter(|order| !known.contains(&order.id))
                .collect();
            if !orders.is_empty() {
                replies
                    .send(&AgentResponse::Orders(orders))
                    .await
                    .map_err(gone)?;
                continue;
            }
            let quiet = tokio::select! {
                changed = issued.changed() => {
                    if changed.is_err() {
                        return Err(WireError::new(ErrorCode::UNAVAILABLE, "the member is stopping"));
                    }
                    continue;
                }
                _ = wake.notified() => AgentResponse::Wake,
                _ = tokio::time::sleep(ORDER_FEED_IDLE) => AgentResponse::Orders(Vec::new()),
            };
            replies.send(&quiet).await.map_err(gone)?;
        }
    }

    /// The commands committed for `peer` that are not in `known`.
    async fn pending_orders(&self, peer: &PeerIdentity, known: &[u64]) -> Vec<CommandOrder> {
        self.core()
            .view()
            .read(|applied| applied.state.orders_for(&peer.name, unix_ms()))
            .await
            .into_iter()
            .filter(|order| !known.contains(&order.id))
            .collect()
    }
}
