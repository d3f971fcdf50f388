//! A fleet CA in a temp folder that issues credentials on demand.

use std::path::{Path, PathBuf};

use mevfleet_common::identity::{PeerIdentity, Role};
use mevfleet_common::tls::{Credentials, FleetCa, Validity};
use tempfile::TempDir;

/// A CA and the credentials folders it has issued, all under one temp dir.
#[derive(Debug)]
pub struct TestPki {
    dir: TempDir,
    ca: FleetCa,
}

impl TestPki {
    /// A fresh CA.
    pub fn new() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let ca = FleetCa::init_dir(&dir.path().join("ca"), false)?;
        Ok(Self { dir, ca })
    }

    /// The temp folder everything lives in.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate's path.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca").join("ca.pem")
    }

    /// The CA certificate, DER (what a join token's fingerprint is of).
    pub fn ca_der(&self) -> anyhow::Result<rustls::pki_types::CertificateDer<'static>> {
        use rustls::pki_types::pem::PemObject;
        Ok(rustls::pki_types::CertificateDer::from_pem_file(
            self.ca_path(),
        )?)
    }

    /// The CA private key's path (what a signing coordinator's
    /// `[enrollment] ca_key` names).
    pub fn ca_key_path(&self) -> PathBuf {
        self.dir.path().join("ca").join("ca.key")
    }

    /// Issues credentials for `role`/`name` into their own folder (with a
    /// copy of ca.pem) and returns the folder.
    pub fn issue_dir(&self, role: Role, name: &str) -> anyhow::Result<PathBuf> {
        self.issue_dir_with(role, name, Validity::days(30))
    }

    /// Like [`Self::issue_dir`] with an explicit validity.
    pub fn issue_dir_with(
        &self,
        role: Role,
        name: &str,
        validity: Validity,
    ) -> anyhow::Result<PathBuf> {
        let out = self.dir.path().join(format!("{role}-{name}"));
        let issued = self.ca.issue(&PeerIdentity::new(role, name)?, validity)?;
        issued.write_to_dir(&out, true)?;
        std::fs::write(out.join("ca.pem"), self.ca.cert_pem())?;
        Ok(out)
    }

    /// Issues and loads credentials for `role`/`name`.
    pub fn creds(&self, role: Role, name: &str) -> anyhow::Result<Credentials> {
        let dir = self.issue_dir(role, name)?;
        Ok(Credentials::from_dir(&dir, Some(name))?)
    }
}
