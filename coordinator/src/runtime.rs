//! Running one coordinator member: bind its QUIC and HTTP ports, start its
//! node core, serve, and stop it — or stop the process when its store fails.
//! Binding and starting are separate steps so that a test harness can learn
//! every member's port before the members form a cluster.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{Credentials, TransportSettings};
use tokio::net::TcpListener;
use tracing::error;

use crate::api::http;
use crate::fleet::{Fleet, FleetPolicy};
use crate::node::{NodeCore, NodeError, NodeSettings};
use crate::server::{CoordinatorServer, ServerError, Signer};

/// Why a member could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The QUIC port could not be set up.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The HTTP port could not be bound.
    #[error("cannot bind HTTP on {addr}: {source} (is another process using it? change `http`)")]
    Http {
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The bound QUIC port's address could not be read.
    #[error("cannot read the bound QUIC address: {0}")]
    Address(std::io::Error),
    /// The node core could not start.
    #[error(transparent)]
    Node(#[from] NodeError),
}

/// A member whose ports are bound but which does not serve yet.
#[derive(Debug)]
pub struct BoundCoordinator {
    server: CoordinatorServer,
    http: TcpListener,
    creds: Credentials,
}

impl BoundCoordinator {
    /// Binds the QUIC port (`listen`) and the HTTP port (`http`).
    pub async fn bind(
        listen: SocketAddr,
        http: SocketAddr,
        creds: Credentials,
    ) -> Result<Self, StartError> {
        let server = CoordinatorServer::bind(listen, &creds, TransportSettings::default())?;
        let http = TcpListener::bind(http)
            .await
            .map_err(|source| StartError::Http { addr: http, source })?;
        Ok(Self {
            server,
            http,
            creds,
        })
    }

    /// Signs agents' enrollments with `signer` (this member holds the CA
    /// key). Without it, enrolling hosts are told to ask another member.
    pub fn with_signer(mut self, signer: Signer) -> Self {
        self.server.set_signer(signer);
        self
    }

    /// The bound QUIC address.
    pub fn quic_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.local_addr()
    }

    /// The bound HTTP address.
    pub fn http_addr(&self) -> std::io::Result<SocketAddr> {
        self.http.local_addr()
    }

    /// Starts the node core and serves QUIC and HTTP until `shutdown`. A
    /// fatal store or Raft error stops the whole process (marked failed)
    /// instead of leaving a member that serves wrong answers.
    pub async fn start(
        self,
        node: NodeSettings,
        policy: FleetPolicy,
        shutdown: &Shutdown,
    ) -> Result<Arc<Fleet>, StartError> {
        let listen = self.server.local_addr().map_err(StartError::Address)?;
        let core = NodeCore::start(node, listen, &self.creds).await?;
        let fleet = Fleet::new(core.clone(), policy);
        fleet.spawn_leadership_watch(shutdown);
        fleet.spawn_failover(shutdown);
        fleet.spawn_stall_clock(shutdown);
        self.server.spawn(fleet.clone(), shutdown);
        http::spawn(self.http, fleet.clone(), shutdown);
        let watched = core.clone();
        let token = shutdown.token().clone();
        shutdown.spawn_critical("raft-watchdog", async move {
            // The server metrics change only with the role, the vote, the
            // leader or the membership, where the full metrics change with
            // every write; the core drops their sender when it stops.
            let mut server = watched.raft().server_metrics();
            loop {
                tokio::select! {
                    _ = token.cancelled() => {
                        watched.shutdown().await;
                        return Ok(());
                    }
                    changed = server.changed() => if changed.is_err() { break },
                }
            }
            let fatal = match &watched.raft().metrics().borrow().running_state {
                Err(fatal) => fatal.to_string(),
                Ok(()) => "raft stopped".to_owned(),
            };
            error!(reason = %fatal, "raft stopped with a fatal error; this member stops rather than serve stale answers");
            Err(fatal)
        });
        Ok(fleet)
    }
}

/// How long a stopping member waits for its tasks.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
