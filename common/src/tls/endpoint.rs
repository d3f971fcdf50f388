//! Building QUIC endpoints that require mutual TLS against the fleet CA, and
//! reading the verified peer (service and identity) off a connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use quinn::crypto::rustls::{HandshakeData, QuicClientConfig, QuicServerConfig};
use rustls::pki_types::CertificateDer;
use tracing::warn;

use super::verify::{FleetClientVerifier, FleetServerVerifier};
use super::{crypto_provider, identity_from_cert, Credentials, ExpectedPeer, Service, TlsError};
use crate::identity::{PeerIdentity, Role};

/// The QUIC application close code for a peer whose role may not use the
/// service it asked for.
pub const CLOSE_FORBIDDEN: u32 = 0x403;

/// The server name clients put in their handshake. Servers are identified
/// by the name in their certificate, not by this.
const DIAL_NAME: &str = "coordinator.mevfleet";

/// The UDP socket buffers a QUIC endpoint asks for (the kernel caps them
/// at `net.core.rmem_max` / `wmem_max`). The default 208 KiB overflows
/// when thousands of agents heartbeat at once: packets are dropped, and a
/// connection that loses enough of them times out.
const UDP_BUFFER_BYTES: usize = 4 << 20;

/// A UDP socket bound to `addr` with large buffers, for an endpoint.
fn bind_udp(addr: SocketAddr) -> Result<std::net::UdpSocket, TlsError> {
    use socket2::{Domain, Protocol, Socket, Type};
    let bind = |source| TlsError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(bind)?;
    // Best effort: a capped buffer still works, it only drops sooner.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.bind(&addr.into()).map_err(bind)?;
    Ok(socket.into())
}

/// A QUIC endpoint on `addr` (a server when `server` is given).
fn endpoint(
    addr: SocketAddr,
    server: Option<quinn::ServerConfig>,
) -> Result<quinn::Endpoint, TlsError> {
    let socket = bind_udp(addr)?;
    quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        server,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
    .map_err(|source| TlsError::Bind { addr, source })
}

/// QUIC transport timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportSettings {
    /// A connection with no traffic for this long is dead.
    pub idle_timeout: Duration,
    /// Keep-alive pings, well under the idle timeout.
    pub keep_alive: Duration,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(2),
        }
    }
}

impl TransportSettings {
    pub(crate) fn build(self) -> Result<Arc<quinn::TransportConfig>, TlsError> {
        let mut transport = quinn::TransportConfig::default();
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|err| TlsError::Quic(format!("idle timeout: {err}")))?;
        transport.max_idle_timeout(Some(idle));
        transport.keep_alive_interval(Some(self.keep_alive));
        Ok(Arc::new(transport))
    }
}

/// Binds a QUIC server on `bind` offering `services`. Clients must present a
/// certificate from the fleet CA with a role that one of the services
/// allows; when enrollment is offered, a client may come without one, and
/// [`accept_peer`] lets it use enrollment only. The server sends the CA
/// certificate after its own, so an enrolling host can pin it.
pub fn server_endpoint(
    bind: SocketAddr,
    creds: &Credentials,
    services: &[Service],
    transport: TransportSettings,
) -> Result<quinn::Endpoint, TlsError> {
    let mut roles: Vec<Role> = services
        .iter()
        .flat_map(|service| service.allowed_roles().iter().copied())
        .collect();
    roles.sort();
    roles.dedup();
    let anonymous = services.iter().any(|service| !service.needs_certificate());
    let verifier = FleetClientVerifier::new(creds, ExpectedPeer::roles(&roles), !anonymous)?;
    let mut chain = creds.chain();
    if anonymous {
        chain.push(creds.ca().clone());
    }
    let mut tls = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, creds.key())?;
    tls.alpn_protocols = services.iter().map(|s| s.alpn().to_vec()).collect();
    let quic = QuicServerConfig::try_from(tls).map_err(|err| TlsError::Quic(err.to_string()))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(transport.build()?);
    endpoint(bind, Some(config))
}

/// A client configuration for `service` that presents our certificate and
/// accepts only servers matching `expected`.
pub fn client_config(
    creds: &Credentials,
    service: Service,
    expected: ExpectedPeer,
    transport: TransportSettings,
) -> Result<quinn::ClientConfig, TlsError> {
    let verifier = FleetServerVerifier::new(creds, expected)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(creds.chain(), creds.key())?;
    tls.alpn_protocols = vec![service.alpn().to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|err| TlsError::Quic(err.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport.build()?);
    Ok(config)
}

/// A client-only endpoint on an ephemeral port of the right address family.
pub fn client_endpoint(for_addr: SocketAddr) -> Result<quinn::Endpoint, TlsError> {
    let bind: SocketAddr = if for_addr.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    endpoint(bind, None)
}

/// Dials `addr` with `config`, failing after `timeout`.
pub async fn connect(
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<quinn::Connection, String> {
    let connecting = endpoint
        .connect_with(config, addr, DIAL_NAME)
        .map_err(|err| err.to_string())?;
    match tokio::time::timeout(timeout, connecting).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// The verified certificate identity of a connection's peer.
pub fn peer_identity(conn: &quinn::Connection) -> Result<PeerIdentity, TlsError> {
    let certs = conn
        .peer_identity()
        .and_then(|any| any.downcast::<Vec<CertificateDer<'static>>>().ok())
        .ok_or_else(|| TlsError::NoIdentity("the peer presented no certificate".into()))?;
    let first = certs
        .first()
        .ok_or_else(|| TlsError::NoIdentity("the peer presented an empty chain".into()))?;
    identity_from_cert(first)
}

/// A peer accepted on a server endpoint: which service it asked for, and who
/// it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptedPeer {
    /// The service negotiated by ALPN.
    pub service: Service,
    /// The verified identity.
    pub identity: PeerIdentity,
}

/// What a freshly accepted connection may do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A fleet member with a verified certificate, on a service its role
    /// may use.
    Member(AcceptedPeer),
    /// A host without a fleet identity, on the enrollment service only.
    Enrolling,
}

/// Reads the service and identity of a freshly accepted connection and
/// checks that the role may use that service; a client without a
/// certificate may only enroll. A refused connection is closed with
/// [`CLOSE_FORBIDDEN`] and a reason, and the refusal is logged.
pub fn accept_peer(conn: &quinn::Connection) -> Result<Accepted, String> {
    let close = |reason: String| {
        warn!(remote = %conn.remote_address(), reason = %reason, "refused connection");
        conn.close(quinn::VarInt::from_u32(CLOSE_FORBIDDEN), reason.as_bytes());
        reason
    };
    let alpn = conn
        .handshake_data()
        .and_then(|any| any.downcast::<HandshakeData>().ok())
        .and_then(|data| data.protocol);
    let Some(service) = alpn.as_deref().and_then(Service::from_alpn) else {
        return Err(close("no mevfleet service negotiated".into()));
    };
    if !service.needs_certificate() {
        return Ok(Accepted::Enrolling);
    }
    let identity = peer_identity(conn).map_err(|err| {
        close(format!(
            "the {service} service needs a client certificate from the fleet CA ({err})"
        ))
    })?;
    if !service.allows(identity.role) {
        return Err(close(format!(
            "role {} may not use the {service} service",
            identity.role
        )));
    }
    Ok(Accepted::Member(AcceptedPeer { service, identity }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_sockets_get_buffers_past_the_kernel_default(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let socket = bind_udp((std::net::Ipv4Addr::LOCALHOST, 0).into())?;
        let granted = socket2::SockRef::from(&socket).recv_buffer_size()?;
        // Linux grants twice what was asked, capped at net.core.rmem_max.
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")?
            .trim()
            .parse()?;
        assert!(
            granted >= UDP_BUFFER_BYTES.min(cap),
            "granted {granted} bytes, asked {UDP_BUFFER_BYTES}, cap {cap}"
        );
        Ok(())
    }
}
