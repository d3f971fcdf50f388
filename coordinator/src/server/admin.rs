//! The admin service: requests from the `mevfleet` CLI.

use std::sync::Arc;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{Handler, WireError};

use super::Whoami;

/// Answers the CLI.
#[derive(Debug)]
pub struct AdminService {
    whoami: Arc<Whoami>,
}

impl AdminService {
    /// A service answering as `whoami`.
    pub fn new(whoami: Arc<Whoami>) -> Self {
        Self { whoami }
    }
}

impl Handler for AdminService {
    type Request = AdminRequest;
    type Response = AdminResponse;

    async fn handle(
        &self,
        peer: &PeerIdentity,
        request: AdminRequest,
    ) -> Result<AdminResponse, WireError> {
        match request {
            AdminRequest::Ping => Ok(AdminResponse::Pong(self.whoami.info_for(peer))),
        }
    }
}
