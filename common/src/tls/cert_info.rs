//! Reading the fleet identity back out of a DER certificate.

use rustls::pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::TlsError;
use crate::identity::PeerIdentity;

/// The identity written in a fleet certificate: its one DNS name of the form
/// `<name>.<role>.mevfleet`. A certificate with none, or with two different
/// ones, has no identity.
pub fn identity_from_cert(cert: &CertificateDer<'_>) -> Result<PeerIdentity, TlsError> {
    let (_, parsed) = X509Certificate::from_der(cert.as_ref())
        .map_err(|err| TlsError::NoIdentity(format!("not a valid X.509 certificate: {err}")))?;
    let san = parsed
        .subject_alternative_name()
        .map_err(|err| TlsError::NoIdentity(format!("bad subjectAltName: {err}")))?
        .ok_or_else(|| TlsError::NoIdentity("no subjectAltName extension".into()))?;
    let mut found: Option<PeerIdentity> = None;
    for name in &san.value.general_names {
        let GeneralName::DNSName(dns) = name else {
            continue;
        };
        let Some(identity) = PeerIdentity::from_dns_name(dns) else {
            continue;
        };
        match &found {
            Some(existing) if existing != &identity => {
                return Err(TlsError::NoIdentity(format!(
                    "two identities in one certificate ({existing} and {identity})"
                )));
            }
            _ => found = Some(identity),
        }
    }
    found.ok_or_else(|| {
        TlsError::NoIdentity("no DNS name of the form <name>.<role>.mevfleet".into())
    })
}
