//! The agent service: an agent's uplink requests. The certificate is the
//! authority on who is speaking: an agent cannot speak for another host by
//! putting its id in a message.

use std::sync::Arc;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse};
use mevfleet_common::wire::{Handler, ReplySink, WireError};
use tracing::info;

use super::Whoami;
use crate::fleet::{Fleet, MAX_ORDERS_WAIT};

/// Answers agents.
#[derive(Debug)]
pub struct AgentService {
    whoami: Arc<Whoami>,
    fleet: Arc<Fleet>,
}

impl AgentService {
    /// A service answering as `whoami` for `fleet`.
    pub fn new(whoami: Arc<Whoami>, fleet: Arc<Fleet>) -> Self {
        Self { whoami, fleet }
    }
}

impl Handler for AgentService {
    type Peer = PeerIdentity;
    type Request = AgentRequest;
    type Response = AgentResponse;

    async fn handle(
        &self,
        peer: &PeerIdentity,
        request: AgentRequest,
    ) -> Result<AgentResponse, WireError> {
        match request {
            AgentRequest::Hello(hello) => {
                if hello.agent_id != peer.name {
                    return Err(WireError::forbidden(format!(
                        "agent id `{}` does not match the certificate name `{}`",
                        hello.agent_id, peer.name
                    )));
                }
                info!(agent.id = %hello.agent_id, agent.version = %hello.version, "agent said hello");
                self.fleet
                    .hello(peer, hello, self.whoami.info_for(peer))
                    .await
            }
            AgentRequest::Heartbeat {
                seq,
                delta,
                holding,
            } => Ok(self.fleet.heartbeat(peer, seq, delta, holding).await),
            AgentRequest::Deliver { spool_id, records } => {
                self.fleet.deliver(peer, spool_id, records).await
            }
            AgentRequest::Orders { known, wait_ms } => {
                Ok(self.fleet.orders(peer, &known, wait_ms).await)
            }
            AgentRequest::Mempool(report) => Ok(self.fleet.mempool_report(peer, report)),
            // A feed asked for with one reply only: the first answer a poll
            // would give.
            AgentRequest::OrderFeed { known } => Ok(self
                .fleet
                .orders(peer, &known, MAX_ORDERS_WAIT.as_millis() as u64)
                .await),
        }
    }

    async fn handle_subscription(
        &self,
        peer: &PeerIdentity,
        request: AgentRequest,
        replies: &mut ReplySink<'_, AgentResponse>,
    ) -> Result<AgentResponse, WireError> {
        match request {
            AgentRequest::OrderFeed { known } => self.fleet.order_feed(peer, known, replies).await,
            other => self.handle(peer, other).await,
        }
    }
}
