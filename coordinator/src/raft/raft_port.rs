//! Raft's own port, the serving side: every member answers openraft's calls
//! (append, vote, snapshot) from the other coordinators on a QUIC endpoint
//! of its own, driven by its Raft thread, the same endpoint it dials its
//! peers from. A replicated write then crosses no thread on either member:
//! the datagrams, the handler and openraft's core share one thread, and
//! thousands of agents on the public port never queue in front of them.
//! Forwarded writes, reads and fleet views stay on the public port, so no
//! slow request runs on the Raft thread.

use std::sync::Arc;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{self, Accepted, AcceptedPeer};
use mevfleet_common::wire::{serve, ErrorCode, Handler, RpcLimits, WireError};
use tracing::{debug, info};

use super::network::RAFT_MAX_FRAME;
use super::service::RaftService;
use super::wire::{RaftRequest, RaftResponse};

/// The Raft service limited to openraft's own calls.
#[derive(Debug)]
pub struct ConsensusOnly(pub Arc<RaftService>);

impl Handler for ConsensusOnly {
    type Peer = PeerIdentity;
    type Request = RaftRequest;
    type Response = RaftResponse;

    async fn handle(
        &self,
        peer: &PeerIdentity,
        request: RaftRequest,
    ) -> Result<RaftResponse, WireError> {
        if !request.is_consensus() {
            return Err(WireError::new(
                ErrorCode::BAD_REQUEST,
                "the Raft port answers only openraft's calls (append, vote, snapshot); \
                 send the rest to the member's QUIC port",
            ));
        }
        self.0.handle(peer, request).await
    }
}

/// Serves openraft's calls on `endpoint` until `shutdown`, on the runtime
/// this runs on (each connection, a task `shutdown` tracks, and each
/// request are spawned there).
pub async fn serve_raft_port(
    endpoint: quinn::Endpoint,
    service: Arc<RaftService>,
    shutdown: Shutdown,
) {
    let stop = shutdown.token().clone();
    let service = Arc::new(ConsensusOnly(service));
    if let Ok(addr) = endpoint.local_addr() {
        info!(%addr, "serving Raft's own port");
    }
    loop {
        let incoming = tokio::select! {
            _ = stop.cancelled() => break,
            incoming = endpoint.accept() => incoming,
        };
        let Some(incoming) = incoming else { break };
        let (service, stop) = (service.clone(), stop.clone());
        shutdown.spawn("raft-port-connection", async move {
            let remote = incoming.remote_address();
            let conn = match incoming.await {
                Ok(conn) => conn,
                Err(err) => {
                    debug!(%remote, reason = %err, "Raft port: handshake failed");
                    return;
                }
            };
            // The endpoint offers the Raft service to coordinators only.
            let Ok(Accepted::Member(AcceptedPeer { identity, .. })) = tls::accept_peer(&conn)
            else {
                return;
            };
            let limits = RpcLimits {
                max_frame: RAFT_MAX_FRAME,
                ..RpcLimits::default()
            };
            serve(conn, identity, service, limits, stop).await;
        });
    }
}
