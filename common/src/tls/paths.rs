//! The `[tls]` section shared by the agent's and the coordinator's config.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Credentials;
use crate::config_file::{check, KeyError};
use crate::identity::Role;

/// Where a member's certificate files are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsPaths {
    /// The fleet CA certificate (`ca.pem`).
    pub ca: PathBuf,
    /// This member's certificate, issued by `mevfleet ca issue`.
    pub cert: PathBuf,
    /// This member's private key (mode 0600).
    pub key: PathBuf,
}

impl TlsPaths {
    /// Checks that all three paths are given.
    pub fn validate(&self) -> Result<(), KeyError> {
        check::required_path("tls.ca", &self.ca)?;
        check::required_path("tls.cert", &self.cert)?;
        check::required_path("tls.key", &self.key)
    }

    /// Loads the credentials and checks that the certificate holds `role`
    /// and, where given, the name `name`.
    pub fn load(&self, role: Role, name: Option<&str>) -> Result<Credentials, KeyError> {
        let creds = Credentials::load(&self.ca, &self.cert, &self.key)
            .map_err(|err| KeyError::new(key_for(&err.to_string(), self), err))?;
        let identity = creds.identity();
        if identity.role != role {
            return Err(KeyError::new(
                "tls.cert",
                format!(
                    "{} is a certificate for {identity}, expected role {role} (issue one with `mevfleet ca issue --role {role}`)",
                    self.cert.display()
                ),
            ));
        }
        if let Some(name) = name.filter(|name| *name != identity.name) {
            return Err(KeyError::new(
                "tls.cert",
                format!(
                    "{} is a certificate for `{}` but this member is `{name}`",
                    self.cert.display(),
                    identity.name
                ),
            ));
        }
        Ok(creds)
    }
}

/// Which of the three keys an error is about, by the file it names.
fn key_for(message: &str, paths: &TlsPaths) -> &'static str {
    let names = |path: &Path| message.contains(&path.display().to_string());
    if names(&paths.key) {
        "tls.key"
    } else if names(&paths.cert) {
        "tls.cert"
    } else if names(&paths.ca) {
        "tls.ca"
    } else {
        "tls"
    }
}
