//! The enrolling host's view of the handshake. It has no fleet certificate
//! yet, only a join token carrying the SHA-256 of the fleet CA. It accepts a
//! coordinator only if the chain the coordinator sends includes a CA
//! certificate with that fingerprint, the coordinator's own certificate
//! verifies against that CA, and it is a coordinator's.

use std::sync::Arc;

use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tracing::warn;

use super::{crypto_provider, identity_from_cert, Service, TlsError, TransportSettings};
use crate::identity::Role;
use crate::join_token::ca_fingerprint;

fn refused(reason: String) -> rustls::Error {
    warn!(reason = %reason, "refused coordinator certificate");
    rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        TlsError::NoIdentity(reason),
    ))))
}

/// Accepts coordinators of the fleet whose CA has a given fingerprint.
#[derive(Debug)]
struct PinnedCaVerifier {
    fingerprint: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for PinnedCaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ca = intermediates
            .iter()
            .find(|cert| ca_fingerprint(cert) == self.fingerprint)
            .ok_or_else(|| {
                refused(format!(
                    "the coordinator's chain has no CA certificate with the token's fingerprint {} (a token from another fleet, or not a mevfleet coordinator)",
                    hex::encode(self.fingerprint)
                ))
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone().into_owned())?;
        let identity = identity_from_cert(end_entity).map_err(|err| refused(err.to_string()))?;
        if identity.role != Role::Coordinator {
            return Err(refused(format!(
                "the server is {identity}, not a coordinator"
            )));
        }
        let name =
            ServerName::try_from(identity.dns_name()).map_err(|err| refused(err.to_string()))?;
        rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            self.provider.clone(),
        )
        .build()
        .map_err(|err| refused(err.to_string()))?
        .verify_server_cert(end_entity, &[], &name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // Fleet endpoints speak TLS 1.3 only.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client configuration for `service` that presents no certificate and
/// accepts only coordinators under the CA whose SHA-256 is
/// `ca_fingerprint`. Only [`Service::Enroll`] lets such a client in.
pub fn anonymous_client_config(
    ca_fingerprint: [u8; 32],
    service: Service,
    transport: TransportSettings,
) -> Result<quinn::ClientConfig, TlsError> {
    let verifier = PinnedCaVerifier {
        fingerprint: ca_fingerprint,
        provider: crypto_provider(),
    };
    let mut tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![service.alpn().to_vec()];
    let quic = QuicClientConfig::try_from(tls).map_err(|err| TlsError::Quic(err.to_string()))?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(transport.build()?);
    Ok(config)
}
