//! Dialling coordinators as any role, calling their admin service, and
//! registering as an agent.

use std::net::SocketAddr;
use std::time::Duration;

use mevfleet_common::identity::Role;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TransportSettings};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse, Hello};
use mevfleet_common::wire::{call, RpcError, RpcLimits};

use crate::TestPki;

/// An ephemeral loopback address.
pub const LOCALHOST: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 0);

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
    let conn = tls::connect(&endpoint, config, addr, Duration::from_secs(2)).await?;
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

/// One admin request to the coordinator at `addr`, on a fresh connection.
pub async fn admin_request(
    creds: &Credentials,
    addr: SocketAddr,
    request: &AdminRequest,
) -> Result<AdminResponse, RpcError> {
    let (conn, endpoint) = dial(creds, addr, Service::Admin)
        .await
        .map_err(|reason| RpcError::Stream(format!("dial {addr}: {reason}")))?;
    let limits = RpcLimits {
        timeout: Duration::from_secs(60),
        ..RpcLimits::default()
    };
    let result = call::<_, AdminResponse>(&conn, request, limits).await;
    conn.close(quinn::VarInt::from_u32(0), b"done");
    endpoint.wait_idle().await;
    result
}

/// Dials the leader at `addr` as agent `name` (with `pki`'s credentials)
/// and says hello as a real agent serving `ethereum` would, executing it
/// when `executes`; fails unless the hello is welcomed.
pub async fn hello_as_agent(
    pki: &TestPki,
    name: &str,
    addr: SocketAddr,
    executes: bool,
    limits: RpcLimits,
) -> anyhow::Result<Dialled> {
    let dialled = dial_as(pki, Role::Agent, name, addr, Service::Agent).await?;
    let hello = AgentRequest::Hello(Hello {
        agent_id: name.into(),
        version: mevfleet_common::VERSION.into(),
        labels: Default::default(),
        chains: vec!["ethereum".into()],
        executes: if executes {
            vec!["ethereum".into()]
        } else {
            Vec::new()
        },
        lost: None,
    });
    match call::<_, AgentResponse>(&dialled.0, &hello, limits).await? {
        AgentResponse::Welcome(_) => Ok(dialled),
        other => anyhow::bail!("{name}'s hello was answered {other:?}"),
    }
}
