//! The fleet CA: creating it, loading it from its folder, and issuing
//! certificates whose role and name the peer reads after the handshake.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::files::{read_file, refuse_overwrite, write_file, PUBLIC_MODE, SECRET_MODE};
use super::TlsError;
use crate::identity::PeerIdentity;

/// The CA certificate's file name in a CA or credentials folder.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key's file name in the CA folder.
pub const CA_KEY_FILE: &str = "ca.key";

/// How long a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Valid from five minutes ago (clock skew between hosts) for `days`.
    pub fn days(days: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            not_before: now - Duration::from_secs(300),
            not_after: now + Duration::from_secs(u64::from(days) * 86_400),
        }
    }
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct IssuedCert {
    /// The identity written into the certificate.
    pub identity: PeerIdentity,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM (PKCS#8).
    pub key_pem: String,
}

impl IssuedCert {
    /// Writes `<name>.pem` (0644) and `<name>.key` (0600) into `dir`, refusing
    /// to overwrite either unless `force`. Returns the two paths.
    pub fn write_to_dir(&self, dir: &Path, force: bool) -> Result<(PathBuf, PathBuf), TlsError> {
        let cert_path = dir.join(format!("{}.pem", self.identity.name));
        let key_path = dir.join(format!("{}.key", self.identity.name));
        refuse_overwrite(&cert_path, force)?;
        refuse_overwrite(&key_path, force)?;
        write_file(&key_path, self.key_pem.as_bytes(), SECRET_MODE)?;
        write_file(&cert_path, self.cert_pem.as_bytes(), PUBLIC_MODE)?;
        Ok((cert_path, key_path))
    }
}

/// The fleet certificate authority.
#[derive(Debug)]
pub struct FleetCa {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl FleetCa {
    /// Creates a new CA named `common_name`, valid for `validity`.
    pub fn generate(common_name: &str, validity: Validity) -> Result<(Self, String), TlsError> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "mevfleet");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.serial_number = Some(random_serial());
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        let ca = FleetCa {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        };
        Ok((ca, key_pem))
    }

    /// Creates a CA in `dir` (`ca.pem` 0644, `ca.key` 0600), refusing to
    /// replace an existing one unless `force`.
    pub fn init_dir(dir: &Path, force: bool) -> Result<Self, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        refuse_overwrite(&cert_path, force)?;
        refuse_overwrite(&key_path, force)?;
        let (ca, key_pem) = FleetCa::generate("mevfleet fleet CA", Validity::days(3650))?;
        write_file(&key_path, key_pem.as_bytes(), SECRET_MODE)?;
        write_file(&cert_path, ca.cert_pem.as_bytes(), PUBLIC_MODE)?;
        Ok(ca)
    }

    /// Loads the CA from `dir` (`ca.pem` and `ca.key`).
    pub fn load_dir(dir: &Path) -> Result<Self, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_pem = pem_text(&cert_path)?;
        let key_pem = pem_text(&key_path)?;
        let bad = |path: &Path, err: rcgen::Error| TlsError::BadPem {
            path: path.to_owned(),
            what: format!("not a usable CA file: {err}"),
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|err| bad(&key_path, err))?;
        let issuer =
            Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|err| bad(&cert_path, err))?;
        Ok(FleetCa { cert_pem, issuer })
    }

    /// Loads the CA from its certificate and key files (a coordinator that
    /// signs enrollments names both in its config), and checks that they
    /// belong together by signing and verifying a throwaway certificate.
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let cert_pem = pem_text(cert_path)?;
        let key_pem = pem_text(key_path)?;
        let bad = |path: &Path, err: rcgen::Error| TlsError::BadPem {
            path: path.to_owned(),
            what: format!("not a usable CA file: {err}"),
        };
        let key = KeyPair::from_pem(&key_pem).map_err(|err| bad(key_path, err))?;
        let issuer = Issuer::from_ca_cert_pem(&cert_pem, key).map_err(|err| bad(cert_path, err))?;
        let ca = FleetCa { cert_pem, issuer };
        ca.check_key_matches(key_path)?;
        Ok(ca)
    }

    /// Fails unless certificates this CA signs verify against its own
    /// certificate (the key is the certificate's).
    fn check_key_matches(&self, key_path: &Path) -> Result<(), TlsError> {
        let probe = PeerIdentity::new(crate::identity::Role::Viewer, "key-check")
            .map_err(|err| TlsError::NoIdentity(err.to_string()))?;
        let issued = self.issue(&probe, Validity::days(1))?;
        super::creds::verify_against_ca(self.cert_pem.as_bytes(), issued.cert_pem.as_bytes())
            .map_err(|reason| TlsError::BadPem {
                path: key_path.to_owned(),
                what: format!("this key is not the CA certificate's key ({reason})"),
            })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub(crate) fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }

    /// Issues a certificate (and a fresh key) for `identity`.
    pub fn issue(
        &self,
        identity: &PeerIdentity,
        validity: Validity,
    ) -> Result<IssuedCert, TlsError> {
        let key = KeyPair::generate()?;
        let params = leaf_params(identity, validity)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            identity: identity.clone(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

pub(crate) fn leaf_params(
    identity: &PeerIdentity,
    validity: Validity,
) -> Result<CertificateParams, TlsError> {
    let mut params = CertificateParams::default();
    let dns = identity
        .dns_name()
        .try_into()
        .map_err(|err| TlsError::NoIdentity(format!("name not encodable: {err}")))?;
    params.subject_alt_names = vec![SanType::DnsName(dns)];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, identity.name.as_str());
    dn.push(DnType::OrganizationalUnitName, identity.role.as_str());
    dn.push(DnType::OrganizationName, "mevfleet");
    params.distinguished_name = dn;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // Every member is both a TLS client and a server (coordinators dial each
    // other for Raft), so every certificate carries both purposes.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(random_serial());
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    // A positive DER integer: clear the top bit.
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

fn pem_text(path: &Path) -> Result<String, TlsError> {
    String::from_utf8(read_file(path)?).map_err(|_| TlsError::BadPem {
        path: path.to_owned(),
        what: "not a PEM text file".into(),
    })
}
