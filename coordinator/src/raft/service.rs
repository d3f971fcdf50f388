//! The Raft service on a coordinator's QUIC port: openraft's RPCs from the
//! other members, and the writes, reads and membership changes followers
//! forward to this member when it leads.

use std::sync::Arc;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::wire::{Handler, WireError};

use super::wire::{RaftRequest, RaftResponse};
use crate::fleet::Fleet;
use crate::node::{NodeCore, NodeError};

/// Answers the other coordinators.
#[derive(Debug)]
pub struct RaftService {
    core: Arc<NodeCore>,
    fleet: Arc<Fleet>,
}

impl RaftService {
    /// A service over `fleet` and its node.
    pub fn new(fleet: Arc<Fleet>) -> Self {
        Self {
            core: fleet.core().clone(),
            fleet,
        }
    }
}

fn forwarded<T>(
    result: Result<T, NodeError>,
    done: impl FnOnce(T) -> RaftResponse,
) -> RaftResponse {
    match result {
        Ok(value) => done(value),
        Err(NodeError::NotLeader) => RaftResponse::NotLeader,
        Err(err) => RaftResponse::Failed(err.to_string()),
    }
}

impl Handler for RaftService {
    type Peer = PeerIdentity;
    type Request = RaftRequest;
    type Response = RaftResponse;

    async fn handle(
        &self,
        _peer: &PeerIdentity,
        request: RaftRequest,
    ) -> Result<RaftResponse, WireError> {
        let raft = self.core.raft();
        Ok(match request {
            RaftRequest::AppendEntries(rpc) => {
                RaftResponse::AppendEntries(raft.append_entries(rpc).await)
            }
            RaftRequest::Vote(rpc) => RaftResponse::Vote(raft.vote(rpc).await),
            RaftRequest::InstallSnapshot(rpc) => {
                RaftResponse::InstallSnapshot(raft.install_snapshot(rpc).await)
            }
            RaftRequest::ForwardWrite(proposal) => {
                forwarded(self.core.write_here(proposal).await, |(index, outcome)| {
                    RaftResponse::Written { index, outcome }
                })
            }
            RaftRequest::ForwardRead(query) => {
                forwarded(self.core.read_here(&query).await, RaftResponse::Read)
            }
            RaftRequest::ForwardMembership { actor, change } => forwarded(
                self.core.change_membership_here(actor, change).await,
                |(index, outcome)| RaftResponse::Written { index, outcome },
            ),
            RaftRequest::Status => RaftResponse::Status(self.core.status()),
            RaftRequest::FleetView => forwarded(self.fleet.view_here().await, |view| {
                RaftResponse::Fleet(Box::new(view))
            }),
            RaftRequest::RaftPort => RaftResponse::RaftPort(self.core.raft_port()),
        })
    }
}
