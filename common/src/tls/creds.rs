//! A member's credentials: the fleet CA certificate, its own certificate and
//! private key, loaded from PEM files and checked against each other.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::RootCertStore;

use super::cert_info::identity_from_cert;
use super::files::read_file;
use super::{crypto_provider, TlsError, CA_CERT_FILE};
use crate::identity::PeerIdentity;

/// Loaded, mutually consistent credentials.
#[derive(Debug)]
pub struct Credentials {
    identity: PeerIdentity,
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for Credentials {
    fn clone(&self) -> Self {
        Self {
            identity: self.identity.clone(),
            ca: self.ca.clone(),
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl Credentials {
    /// Loads the CA certificate, this member's certificate and its key, and
    /// checks that the certificate is from that CA and valid now.
    pub fn load(ca_path: &Path, cert_path: &Path, key_path: &Path) -> Result<Self, TlsError> {
        let ca = read_certs(ca_path)?.remove(0);
        let chain = read_certs(cert_path)?;
        let key_bytes = read_file(key_path)?;
        let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|err| TlsError::BadPem {
            path: key_path.to_owned(),
            what: format!("no private key found: {err}"),
        })?;
        let identity = identity_from_cert(&chain[0]).map_err(|err| TlsError::BadPem {
            path: cert_path.to_owned(),
            what: err.to_string(),
        })?;
        let creds = Credentials {
            identity,
            ca,
            chain,
            key,
        };
        creds.check_trusted(ca_path, cert_path)?;
        Ok(creds)
    }

    /// Loads from a credentials folder holding `ca.pem`, `<name>.pem` and
    /// `<name>.key` (the CLI's `--creds DIR`). Without `name`, the folder must
    /// hold exactly one certificate besides `ca.pem`.
    pub fn from_dir(dir: &Path, name: Option<&str>) -> Result<Self, TlsError> {
        let name = match name {
            Some(name) => name.to_owned(),
            None => single_identity_in(dir)?,
        };
        Credentials::load(
            &dir.join(CA_CERT_FILE),
            &dir.join(format!("{name}.pem")),
            &dir.join(format!("{name}.key")),
        )
    }

    /// Who these credentials say we are.
    pub fn identity(&self) -> &PeerIdentity {
        &self.identity
    }

    /// The fleet CA certificate.
    pub fn ca(&self) -> &CertificateDer<'static> {
        &self.ca
    }

    /// A root store holding only the fleet CA.
    pub(crate) fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone())?;
        Ok(Arc::new(roots))
    }

    pub(crate) fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.chain.clone()
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }

    fn check_trusted(&self, ca_path: &Path, cert_path: &Path) -> Result<(), TlsError> {
        verify_chain(&self.ca, &self.chain).map_err(|reason| TlsError::NotTrusted {
            path: cert_path.to_owned(),
            ca: ca_path.to_owned(),
            reason,
        })
    }
}

/// Verifies `chain` (leaf first) against the CA certificate `ca`, now, for
/// the fleet identity written in the leaf.
pub(crate) fn verify_chain(
    ca: &CertificateDer<'static>,
    chain: &[CertificateDer<'static>],
) -> Result<(), String> {
    let (leaf, intermediates) = chain
        .split_first()
        .ok_or_else(|| "no certificate".to_owned())?;
    let mut roots = RootCertStore::empty();
    roots.add(ca.clone()).map_err(|err| err.to_string())?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        crypto_provider(),
    )
    .build()
    .map_err(|err| err.to_string())?;
    let identity = identity_from_cert(leaf).map_err(|err| err.to_string())?;
    let name = ServerName::try_from(identity.dns_name()).map_err(|err| err.to_string())?;
    verifier
        .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
        .map_err(|err| err.to_string())?;
    Ok(())
}

/// Verifies the PEM certificate `cert_pem` against the PEM CA certificate
/// `ca_pem` (see [`verify_chain`]).
pub(crate) fn verify_against_ca(ca_pem: &[u8], cert_pem: &[u8]) -> Result<(), String> {
    let parse = |bytes: &[u8]| {
        CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| err.to_string())
    };
    let ca = parse(ca_pem)?
        .into_iter()
        .next()
        .ok_or_else(|| "no CA certificate".to_owned())?;
    verify_chain(&ca, &parse(cert_pem)?)
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read_file(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|err| TlsError::BadPem {
            path: path.to_owned(),
            what: format!("unreadable certificate: {err}"),
        })?;
    if certs.is_empty() {
        return Err(TlsError::BadPem {
            path: path.to_owned(),
            what: "no certificate found (expected a PEM CERTIFICATE block)".into(),
        });
    }
    Ok(certs)
}

fn single_identity_in(dir: &Path) -> Result<String, TlsError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "key"))
        .filter_map(|path| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|stem| stem != "ca" && dir.join(format!("{stem}.pem")).exists())
        .collect();
    names.sort();
    match names.len() {
        1 => Ok(names.remove(0)),
        0 => Err(TlsError::BadPem {
            path: PathBuf::from(dir),
            what: "no credentials found (expected ca.pem, <name>.pem and <name>.key)".into(),
        }),
        _ => Err(TlsError::BadPem {
            path: PathBuf::from(dir),
            what: format!(
                "several credentials found ({}): say which with --identity NAME",
                names.join(", ")
            ),
        }),
    }
}
