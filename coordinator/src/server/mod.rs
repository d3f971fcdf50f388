//! The coordinator's QUIC port: accepts mutually-authenticated connections,
//! routes each to its service by ALPN after checking the peer's role, and
//! serves requests until the connection or the process ends. Hosts without
//! a certificate reach the enrollment service only.

mod admin;
mod agent;
mod enroll;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mevfleet_common::identity::{PeerIdentity, Role};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{
    self, Accepted, AcceptedPeer, Credentials, Service, TlsError, TransportSettings,
};
use mevfleet_common::wire::admin::ServerInfo;
use mevfleet_common::wire::enroll::ENROLL_MAX_FRAME;
use mevfleet_common::wire::{serve, RpcLimits};
use tracing::{debug, info};

pub use admin::AdminService;
pub use agent::AgentService;
pub use enroll::{EnrollService, Enrolling, Signer};

use crate::fleet::Fleet;
use crate::node::unix_ms;
use crate::raft::network::RAFT_MAX_FRAME;
use crate::raft::service::RaftService;

/// The services a coordinator offers on its port.
pub const OFFERED_SERVICES: [Service; 4] = [
    Service::Raft,
    Service::Agent,
    Service::Admin,
    Service::Enroll,
];

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The credentials are not a coordinator's.
    #[error("the certificate is for {0}, but a coordinator needs role coordinator")]
    WrongRole(PeerIdentity),
    /// The QUIC endpoint could not be built or bound.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// What a coordinator says about itself in answers.
#[derive(Clone, Debug)]
pub struct Whoami {
    /// The Raft node id.
    pub node_id: u64,
    /// The certificate identity.
    pub identity: PeerIdentity,
}

impl Whoami {
    /// A [`ServerInfo`] for an answer to `peer`.
    pub fn info_for(&self, peer: &PeerIdentity) -> ServerInfo {
        ServerInfo {
            node_id: self.node_id,
            server: self.identity.clone(),
            version: mevfleet_common::VERSION.to_owned(),
            you: peer.clone(),
            unix_ms: unix_ms(),
        }
    }
}

/// A bound, not yet serving, coordinator port.
#[derive(Debug)]
pub struct CoordinatorServer {
    endpoint: quinn::Endpoint,
    identity: PeerIdentity,
    signer: Option<Arc<Signer>>,
}

impl CoordinatorServer {
    /// Binds the QUIC port. Fails before anything is served if the
    /// credentials are not a coordinator's or the port is taken.
    pub fn bind(
        listen: SocketAddr,
        creds: &Credentials,
        transport: TransportSettings,
    ) -> Result<Self, ServerError> {
        if creds.identity().role != Role::Coordinator {
            return Err(ServerError::WrongRole(creds.identity().clone()));
        }
        let endpoint = tls::server_endpoint(listen, creds, &OFFERED_SERVICES, transport)?;
        Ok(Self {
            endpoint,
            identity: creds.identity().clone(),
            signer: None,
        })
    }

    /// Signs enrollments with `signer` (this member holds the CA key).
    pub fn set_signer(&mut self, signer: Signer) {
        self.signer = Some(Arc::new(signer));
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Serves `fleet` until `shutdown` is cancelled, as a critical task.
    pub fn spawn(self, fleet: Arc<Fleet>, shutdown: &Shutdown) {
        let child = shutdown.clone();
        shutdown.spawn_critical("quic-accept", async move {
            self.accept_loop(fleet, child).await
        });
    }

    async fn accept_loop(
        self,
        fleet: Arc<Fleet>,
        shutdown: Shutdown,
    ) -> Result<(), std::io::Error> {
        let core = fleet.core().clone();
        let whoami = Arc::new(Whoami {
            node_id: core.node_id(),
            identity: self.identity.clone(),
        });
        let admin = Arc::new(AdminService::new(whoami.clone(), fleet.clone()));
        let agent = Arc::new(AgentService::new(whoami, fleet.clone()));
        let enroll = Arc::new(EnrollService::new(core.clone(), self.signer.clone()));
        let raft = Arc::new(RaftService::new(fleet));
        core.serve_raft_port(raft.clone(), &shutdown);
        info!(addr = %self.endpoint.local_addr()?, node_id = core.node_id(), "serving QUIC");
        loop {
            let incoming = tokio::select! {
                _ = shutdown.cancelled() => break,
                incoming = self.endpoint.accept() => incoming,
            };
            let Some(incoming) = incoming else { break };
            let (admin, agent, raft) = (admin.clone(), agent.clone(), raft.clone());
            let enroll = enroll.clone();
            let token = shutdown.token().clone();
            shutdown.spawn("connection", async move {
                let remote = incoming.remote_address();
                let conn = match incoming.await {
                    Ok(conn) => conn,
                    Err(err) => {
                        debug!(remote = %remote, reason = %err, "handshake failed");
                        return;
                    }
                };
                let limits = RpcLimits::default();
                let (service, identity) = match tls::accept_peer(&conn) {
                    Ok(Accepted::Member(AcceptedPeer { service, identity })) => (service, identity),
                    Ok(Accepted::Enrolling) => {
                        debug!(remote = %remote, "host enrolling");
                        let limits = RpcLimits {
                            max_frame: ENROLL_MAX_FRAME,
                            ..limits
                        };
                        return serve(conn, Enrolling(remote), enroll, limits, token).await;
                    }
                    Err(_refused) => return,
                };
                debug!(remote = %remote, peer = %identity, service = %service, "peer connected");
                match service {
                    Service::Admin => serve(conn, identity, admin, limits, token).await,
                    Service::Agent => serve(conn, identity, agent, limits, token).await,
                    Service::Raft => {
                        let limits = RpcLimits {
                            max_frame: RAFT_MAX_FRAME,
                            ..limits
                        };
                        serve(conn, identity, raft, limits, token).await
                    }
                    Service::Enroll => {}
                }
            });
        }
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"coordinator shutting down");
        let _idle = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
        Ok(())
    }
}
