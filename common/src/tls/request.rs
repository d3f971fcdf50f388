//! Certificate requests: a host makes its own key and a request for an
//! identity, and the fleet CA signs only the request's public key under the
//! identity the fleet decided on (never what the request itself claims).

use rcgen::{CertificateParams, CertificateSigningRequestParams, KeyPair};

use super::ca::{leaf_params, FleetCa, Validity};
use super::TlsError;
use crate::identity::PeerIdentity;

/// A certificate request and the private key it was made with, both PEM.
/// The key stays on the host that made it.
#[derive(Debug)]
pub struct CertificateRequest {
    /// The PKCS#10 request, PEM.
    pub csr_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl CertificateRequest {
    /// Makes a fresh key and a request for `identity`.
    pub fn generate(identity: &PeerIdentity) -> Result<Self, TlsError> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![identity.dns_name()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, identity.name.as_str());
        let csr = params.serialize_request(&key)?;
        Ok(Self {
            csr_pem: csr.pem()?,
            key_pem: key.serialize_pem(),
        })
    }
}

impl FleetCa {
    /// Signs the public key of `csr_pem` as `identity`, valid for
    /// `validity`. The request's signature must verify (the requester holds
    /// the key); every name or extension it asks for is ignored.
    pub fn sign_request(
        &self,
        csr_pem: &str,
        identity: &PeerIdentity,
        validity: Validity,
    ) -> Result<String, TlsError> {
        let request = CertificateSigningRequestParams::from_pem(csr_pem)
            .map_err(|err| TlsError::BadRequest(err.to_string()))?;
        let decided = CertificateSigningRequestParams {
            params: leaf_params(identity, validity)?,
            public_key: request.public_key,
        };
        Ok(decided.signed_by(self.issuer())?.pem())
    }
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    use super::*;
    use crate::identity::Role;
    use crate::tls::identity_from_cert;

    #[test]
    fn the_ca_signs_the_identity_it_decides_not_the_one_requested() {
        let (ca, _key) = FleetCa::generate("test CA", Validity::days(1)).expect("CA");
        // --- the host asks to be a coordinator
        let asked = PeerIdentity::new(Role::Coordinator, "sneaky").expect("name");
        let request = CertificateRequest::generate(&asked).expect("request");
        // --- the fleet decides it is agent host-a
        let decided = PeerIdentity::new(Role::Agent, "host-a").expect("name");
        let cert_pem = ca
            .sign_request(&request.csr_pem, &decided, Validity::days(1))
            .expect("signed");
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes()).expect("pem");
        assert_eq!(identity_from_cert(&der).expect("identity"), decided);
    }

    #[test]
    fn a_garbled_request_is_refused() {
        let (ca, _key) = FleetCa::generate("test CA", Validity::days(1)).expect("CA");
        let identity = PeerIdentity::new(Role::Agent, "host-a").expect("name");
        let request = CertificateRequest::generate(&identity).expect("request");
        let garbled = request.csr_pem.replacen('A', "B", 3);
        let err = ca
            .sign_request(&garbled, &identity, Validity::days(1))
            .expect_err("garbled");
        assert!(err.to_string().contains("certificate request"), "{err}");
        let err = ca
            .sign_request("hello", &identity, Validity::days(1))
            .expect_err("not pem");
        assert!(err.to_string().contains("certificate request"), "{err}");
    }
}
