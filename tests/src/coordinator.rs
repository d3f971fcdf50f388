//! An in-process coordinator on `127.0.0.1:0`, and dialling it as any role.

use std::net::SocketAddr;
use std::time::Duration;

use mevfleet_common::identity::Role;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TransportSettings};
use mevfleet_coordinator::server::CoordinatorServer;

use crate::TestPki;

/// An ephemeral loopback address.
pub const LOCALHOST: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

/// A coordinator serving in-process; stopped with [`TestCoordinator::stop`].
#[derive(Debug)]
pub struct TestCoordinator {
    /// The bound address.
    pub addr: SocketAddr,
    shutdown: Shutdown,
}

impl TestCoordinator {
    /// Starts a coordinator with `creds` as node `node_id`, bound to `bind`.
    pub fn start(creds: &Credentials, node_id: u64, bind: SocketAddr) -> anyhow::Result<Self> {
        let server = CoordinatorServer::bind(bind, node_id, creds, TransportSettings::default())?;
        let addr = server.local_addr()?;
        let shutdown = Shutdown::new();
        server.spawn(&shutdown);
        Ok(Self { addr, shutdown })
    }

    /// Starts `coord-1` (node 1) of `pki` on an ephemeral port.
    pub fn start_default(pki: &TestPki) -> anyhow::Result<Self> {
        Self::start(&pki.creds(Role::Coordinator, "coord-1")?, 1, LOCALHOST)
    }

    /// Stops it and waits for every task to end.
    pub async fn stop(self) {
        self.shutdown.cancel();
        assert!(
            self.shutdown.wait(Duration::from_secs(10)).await,
            "coordinator stops in time"
        );
    }
}

/// A client connection and the endpoint it lives on.
pub type Dialled = (quinn::Connection, quinn::Endpoint);

/// Dials `addr` on `service` with `creds`, expecting a coordinator.
pub async fn dial(
    creds: &Credentials,
    addr: SocketAddr,
    service: Service,
) -> Result<Dialled, String> {
    let config = tls::client_config(
        creds,
        service,
        ExpectedPeer::role(Role::Coordinator),
        TransportSettings::default(),
    )
    .map_err(|err| err.to_string())?;
    let endpoint = tls::client_endpoint(addr).map_err(|err| err.to_string())?;
    let conn = tls::connect(&endpoint, config, addr, Duration::from_secs(5)).await?;
    Ok((conn, endpoint))
}

/// Issues credentials for `role`/`name` and dials `addr` on `service`.
pub async fn dial_as(
    pki: &TestPki,
    role: Role,
    name: &str,
    addr: SocketAddr,
    service: Service,
) -> anyhow::Result<Dialled> {
    dial(&pki.creds(role, name)?, addr, service)
        .await
        .map_err(anyhow::Error::msg)
}
