//! Messages of the agent service: an agent's uplink to the coordinators.

use serde::{Deserialize, Serialize};

use super::admin::ServerInfo;

/// A request from an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentRequest {
    /// The first request on a connection: who the agent says it is. The
    /// coordinator checks it against the agent's certificate.
    Hello {
        /// The agent id from the agent's config.
        agent_id: String,
        /// The agent's version.
        version: String,
    },
}

/// A coordinator's answer to an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AgentResponse {
    /// The answer to [`AgentRequest::Hello`].
    Welcome(ServerInfo),
}
