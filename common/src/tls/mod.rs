//! The fleet's certificates and the mutually-authenticated QUIC endpoints
//! built on them.
//!
//! One fleet CA (rcgen) issues every certificate. A certificate's role and
//! name are written as the DNS name `<name>.<role>.mevfleet`, so the peer can
//! read them after the handshake. Every QUIC service needs a client
//! certificate from the fleet CA, and the role decides which service (ALPN)
//! it may use; the one exception is enrollment, where a host without a
//! certificate presents a one-time join token and pins the CA by the
//! fingerprint the token carries.

mod ca;
mod cert_info;
mod creds;
mod endpoint;
mod error;
mod files;
mod paths;
mod pinned;
mod request;
mod service;
mod verify;

pub use ca::{FleetCa, IssuedCert, Validity, CA_CERT_FILE, CA_KEY_FILE};
pub use cert_info::identity_from_cert;
pub use creds::Credentials;
pub use endpoint::{
    accept_peer, client_config, client_endpoint, connect, peer_identity, server_endpoint, Accepted,
    AcceptedPeer, TransportSettings, CLOSE_FORBIDDEN,
};
pub use error::TlsError;
pub use files::write_ca_cert;
pub use paths::TlsPaths;
pub use pinned::anonymous_client_config;
pub use request::CertificateRequest;
pub use service::Service;
pub use verify::ExpectedPeer;

/// The crypto provider every mevfleet endpoint uses (ring: fewer build tools
/// than aws-lc-rs).
pub fn crypto_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
