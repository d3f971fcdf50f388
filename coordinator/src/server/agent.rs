//! The agent service: an agent's uplink requests.

use std::sync::Arc;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse};
use mevfleet_common::wire::{Handler, WireError};
use tracing::info;

use super::Whoami;

/// Answers agents.
#[derive(Debug)]
pub struct AgentService {
    whoami: Arc<Whoami>,
}

impl AgentService {
    /// A service answering as `whoami`.
    pub fn new(whoami: Arc<Whoami>) -> Self {
        Self { whoami }
    }
}

impl Handler for AgentService {
    type Request = AgentRequest;
    type Response = AgentResponse;

    async fn handle(
        &self,
        peer: &PeerIdentity,
        request: AgentRequest,
    ) -> Result<AgentResponse, WireError> {
        match request {
            AgentRequest::Hello { agent_id, version } => {
                // The certificate is the authority: an agent cannot speak
                // for another host by putting its id in a message.
                if agent_id != peer.name {
                    return Err(WireError::forbidden(format!(
                        "agent id `{agent_id}` does not match the certificate name `{}`",
                        peer.name
                    )));
                }
                info!(agent.id = %agent_id, agent.version = %version, "agent said hello");
                Ok(AgentResponse::Welcome(self.whoami.info_for(peer)))
            }
        }
    }
}
