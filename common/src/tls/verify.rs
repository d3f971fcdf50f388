//! Certificate verifiers for both ends of a fleet connection: the chain must
//! lead to the fleet CA and be valid now, and the identity written in the
//! certificate must be one this end accepts. Every refusal is logged with why.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tracing::warn;

use super::cert_info::identity_from_cert;
use super::{crypto_provider, Credentials, TlsError};
use crate::identity::{PeerIdentity, Role};

/// Which peers one end of a connection accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedPeer {
    /// Roles accepted.
    pub roles: Vec<Role>,
    /// A specific name, when the caller knows whom it dials.
    pub name: Option<String>,
}

impl ExpectedPeer {
    /// Any member holding `role`.
    pub fn role(role: Role) -> Self {
        Self {
            roles: vec![role],
            name: None,
        }
    }

    /// Any member holding one of `roles`.
    pub fn roles(roles: &[Role]) -> Self {
        Self {
            roles: roles.to_vec(),
            name: None,
        }
    }

    /// Only the member named `name` holding `role`.
    pub fn named(role: Role, name: impl Into<String>) -> Self {
        Self {
            roles: vec![role],
            name: Some(name.into()),
        }
    }

    /// Why `identity` is not accepted, or `None` when it is.
    pub fn refusal(&self, identity: &PeerIdentity) -> Option<String> {
        if !self.roles.contains(&identity.role) {
            let wanted: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
            return Some(format!(
                "role {} is not allowed here (expected {})",
                identity.role,
                wanted.join(" or ")
            ));
        }
        match &self.name {
            Some(name) if name != &identity.name => Some(format!(
                "certificate is for `{}`, expected `{name}`",
                identity.name
            )),
            _ => None,
        }
    }
}

fn refused(reason: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        TlsError::NoIdentity(reason),
    ))))
}

/// Verifies a server's certificate against the fleet CA and the expected
/// peer. The server name the client dialled is not used: fleet members are
/// addressed by IP and identified by the name in their certificate.
#[derive(Debug)]
pub(crate) struct FleetServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expected: ExpectedPeer,
}

impl FleetServerVerifier {
    pub(crate) fn new(creds: &Credentials, expected: ExpectedPeer) -> Result<Self, TlsError> {
        let inner = WebPkiServerVerifier::builder_with_provider(creds.roots()?, crypto_provider())
            .build()
            .map_err(|err| TlsError::Quic(err.to_string()))?;
        Ok(Self { inner, expected })
    }
}

impl ServerCertVerifier for FleetServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let identity = identity_from_cert(end_entity).map_err(|err| {
            warn!(reason = %err, "refused server certificate");
            refused(err.to_string())
        })?;
        let name =
            ServerName::try_from(identity.dns_name()).map_err(|err| refused(err.to_string()))?;
        self.inner
            .verify_server_cert(end_entity, intermediates, &name, ocsp_response, now)
            .inspect_err(
                |err| warn!(peer = %identity, reason = %err, "refused server certificate"),
            )?;
        if let Some(reason) = self.expected.refusal(&identity) {
            warn!(peer = %identity, reason = %reason, "refused server certificate");
            return Err(refused(reason));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Verifies a client's certificate against the fleet CA and the roles this
/// endpoint serves. Which service a role may use is checked after the
/// handshake, once the ALPN is known.
#[derive(Debug)]
pub(crate) struct FleetClientVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    expected: ExpectedPeer,
    mandatory: bool,
}

impl FleetClientVerifier {
    /// A verifier for `expected` clients. With `mandatory` false a client
    /// may present no certificate at all (for enrollment); one it does
    /// present is verified all the same.
    pub(crate) fn new(
        creds: &Credentials,
        expected: ExpectedPeer,
        mandatory: bool,
    ) -> Result<Self, TlsError> {
        let inner = WebPkiClientVerifier::builder_with_provider(creds.roots()?, crypto_provider())
            .build()
            .map_err(|err| TlsError::Quic(err.to_string()))?;
        Ok(Self {
            inner,
            expected,
            mandatory,
        })
    }
}

impl ClientCertVerifier for FleetClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let identity = identity_from_cert(end_entity).map_err(|err| {
            warn!(reason = %err, "refused client certificate");
            refused(err.to_string())
        })?;
        self.inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(
                |err| warn!(peer = %identity, reason = %err, "refused client certificate"),
            )?;
        if let Some(reason) = self.expected.refusal(&identity) {
            warn!(peer = %identity, reason = %reason, "refused client certificate");
            return Err(refused(reason));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_peer_names_the_reason_for_a_refusal() {
        let agent = PeerIdentity::new(Role::Agent, "host-a").expect("valid");
        assert_eq!(ExpectedPeer::role(Role::Agent).refusal(&agent), None);
        let refusal = ExpectedPeer::role(Role::Coordinator)
            .refusal(&agent)
            .expect("refused");
        assert!(
            refusal.contains("role agent") && refusal.contains("coordinator"),
            "{refusal}"
        );
        let refusal = ExpectedPeer::named(Role::Agent, "host-b")
            .refusal(&agent)
            .expect("refused");
        assert!(refusal.contains("host-b"), "{refusal}");
    }
}
