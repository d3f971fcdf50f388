//! `mevfleet-agent enroll`: a new host joins the fleet with a one-time
//! token. It makes its key here (the key never leaves the host), verifies
//! the coordinators against the CA fingerprint in the token, sends a
//! certificate request with the token, and writes its credentials and a
//! ready config. Everything that can be checked before the token is used
//! up (flags, existing files, the config template) is checked first.

mod config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mevfleet_common::identity::{validate_name, PeerIdentity, Role};
use mevfleet_common::join_token::{ca_fingerprint, JoinToken};
use mevfleet_common::net::HostPort;
use mevfleet_common::tls::{
    self, CertificateRequest, IssuedCert, Service, TlsError, TransportSettings,
};
use mevfleet_common::wire::enroll::{EnrollRequest, Enrolled, ENROLL_MAX_FRAME};
use mevfleet_common::wire::{call, ErrorCode, RpcError, RpcLimits};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

pub use config::enrolled_config;

/// How long one coordinator may take to answer a dial.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the enrollment request may take (a Raft commit).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What to enroll as, with which token, and where to write.
#[derive(Debug)]
pub struct EnrollOptions {
    /// The join token.
    pub token: JoinToken,
    /// Coordinators to ask, in order.
    pub coordinators: Vec<HostPort>,
    /// Where the credentials go (`ca.pem`, `<id>.pem`, `<id>.key`).
    pub dir: PathBuf,
    /// The agent id to enroll as.
    pub agent_id: String,
    /// A config to start from (chains, services, actions), if any.
    pub template: Option<PathBuf>,
    /// Where the ready config goes.
    pub config_out: PathBuf,
    /// Replace credentials or a config already there.
    pub force: bool,
}

/// What enrolling wrote.
#[derive(Debug)]
pub struct EnrollReport {
    /// The agent id.
    pub agent_id: String,
    /// The coordinator that signed.
    pub coordinator: HostPort,
    /// The credentials written.
    pub files: Vec<PathBuf>,
    /// The config written.
    pub config: PathBuf,
    /// Labels the token gave.
    pub labels: BTreeMap<String, String>,
    /// The Raft index the token was used at.
    pub index: u64,
}

/// Why enrolling failed; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// A flag, a file in the way, or the config template is wrong; nothing
    /// was sent and the token is still good.
    #[error("{0}")]
    Usage(String),
    /// The fleet refused the token (forged, reused, expired, another
    /// agent's) or the request.
    #[error("enrollment refused by {coordinator}: {reason}")]
    Refused {
        /// Who refused.
        coordinator: HostPort,
        /// Why.
        reason: String,
    },
    /// No coordinator could be reached, or none could be verified against
    /// the token's CA fingerprint.
    #[error("no coordinator enrolled this host:\n  {}", .0.join("\n  "))]
    Unreachable(Vec<String>),
    /// The fleet's answer does not check out (wrong CA, a certificate that
    /// does not verify), or the files could not be written.
    #[error("{0}")]
    Local(String),
}

impl EnrollError {
    /// The exit code: 2 bad usage, 1 refused or failed, 3 unreachable (the
    /// CLI's contract).
    pub fn exit_code(&self) -> u8 {
        match self {
            EnrollError::Usage(_) => 2,
            EnrollError::Refused { .. } | EnrollError::Local(_) => 1,
            EnrollError::Unreachable(_) => 3,
        }
    }
}

impl From<TlsError> for EnrollError {
    fn from(err: TlsError) -> Self {
        EnrollError::Local(err.to_string())
    }
}

/// This host's name as an agent id: the first label of the hostname,
/// lowercased; `None` when it is not a valid id.
pub fn hostname_agent_id() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let id = name.trim().split('.').next()?.to_ascii_lowercase();
    validate_name(&id).is_ok().then_some(id)
}

/// Enrolls this host: see the module docs.
pub async fn enroll(options: &EnrollOptions) -> Result<EnrollReport, EnrollError> {
    validate_name(&options.agent_id)
        .map_err(|err| EnrollError::Usage(format!("agent id: {err}")))?;
    let identity = PeerIdentity::new(Role::Agent, &options.agent_id)
        .map_err(|err| EnrollError::Usage(format!("agent id: {err}")))?;
    let dir = std::path::absolute(&options.dir)
        .map_err(|err| EnrollError::Usage(format!("--dir {}: {err}", options.dir.display())))?;
    let key_path = dir.join(format!("{}.key", options.agent_id));
    for path in [&key_path, &options.config_out] {
        if path.exists() && !options.force {
            return Err(EnrollError::Usage(format!(
                "{} already exists: this host looks enrolled (pass --force to replace it)",
                path.display()
            )));
        }
    }
    let template = match &options.template {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|err| {
            EnrollError::Usage(format!("--config-template {}: {err}", path.display()))
        })?),
        None => None,
    };
    // --- the config must be valid before the token is spent; the labels
    // the token brings are checked again once known
    enrolled_config(
        template.as_deref(),
        &options.agent_id,
        &options.coordinators,
        &dir,
        &BTreeMap::new(),
        &options.config_out,
    )?;
    let request = CertificateRequest::generate(&identity)?;
    let (coordinator, enrolled) = ask_coordinators(options, &request).await?;
    // --- what came back must be of the fleet the token names
    let ca_der = CertificateDer::from_pem_slice(enrolled.ca_pem.as_bytes()).map_err(|err| {
        EnrollError::Local(format!("the CA certificate sent is unreadable: {err}"))
    })?;
    if ca_fingerprint(&ca_der) != options.token.ca_fingerprint {
        return Err(EnrollError::Local(
            "the CA certificate sent does not match the token's fingerprint; nothing was written"
                .into(),
        ));
    }
    let files = write_credentials(&dir, &identity, &request, &enrolled, options.force)?;
    let text = enrolled_config(
        template.as_deref(),
        &options.agent_id,
        &options.coordinators,
        &dir,
        &enrolled.labels,
        &options.config_out,
    )?;
    write_config(&options.config_out, &text)?;
    Ok(EnrollReport {
        agent_id: enrolled.agent_id,
        coordinator,
        files,
        config: options.config_out.clone(),
        labels: enrolled.labels,
        index: enrolled.index,
    })
}

/// Asks each coordinator in turn. One that cannot be reached or verified,
/// or that holds no CA key, is passed over; a refusal is final.
async fn ask_coordinators(
    options: &EnrollOptions,
    request: &CertificateRequest,
) -> Result<(HostPort, Enrolled), EnrollError> {
    let ask = EnrollRequest {
        token_id: options.token.id.clone(),
        secret_hex: options.token.secret_hex(),
        agent_id: options.agent_id.clone(),
        csr_pem: request.csr_pem.clone(),
    };
    let mut failures = Vec::new();
    for coordinator in &options.coordinators {
        match ask_one(coordinator, options.token.ca_fingerprint, &ask).await {
            Ok(enrolled) => return Ok((coordinator.clone(), enrolled)),
            Err(RpcError::Remote(err)) if err.code != ErrorCode::UNAVAILABLE => {
                return Err(EnrollError::Refused {
                    coordinator: coordinator.clone(),
                    reason: err.reason,
                })
            }
            Err(err) => failures.push(format!("{coordinator}: {err}")),
        }
    }
    Err(EnrollError::Unreachable(failures))
}

async fn ask_one(
    coordinator: &HostPort,
    fingerprint: [u8; 32],
    ask: &EnrollRequest,
) -> Result<Enrolled, RpcError> {
    let dial_err = |text: String| RpcError::Stream(text);
    let addr = coordinator
        .resolve()
        .await
        .map_err(|err| dial_err(format!("cannot resolve: {err}")))?
        .into_iter()
        .next()
        .ok_or_else(|| dial_err("resolves to no address".into()))?;
    let config =
        tls::anonymous_client_config(fingerprint, Service::Enroll, TransportSettings::default())
            .map_err(|err| dial_err(err.to_string()))?;
    let endpoint = tls::client_endpoint(addr).map_err(|err| dial_err(err.to_string()))?;
    let conn = tls::connect(&endpoint, config, addr, DIAL_TIMEOUT)
        .await
        .map_err(dial_err)?;
    let limits = RpcLimits {
        max_frame: ENROLL_MAX_FRAME,
        timeout: REQUEST_TIMEOUT,
    };
    let answer = call::<_, Enrolled>(&conn, ask, limits).await;
    conn.close(quinn::VarInt::from_u32(0), b"done");
    endpoint.wait_idle().await;
    answer
}

fn write_credentials(
    dir: &Path,
    identity: &PeerIdentity,
    request: &CertificateRequest,
    enrolled: &Enrolled,
    force: bool,
) -> Result<Vec<PathBuf>, EnrollError> {
    let ca = tls::write_ca_cert(dir, &enrolled.ca_pem, true)?;
    let issued = IssuedCert {
        identity: identity.clone(),
        cert_pem: enrolled.cert_pem.clone(),
        key_pem: request.key_pem.clone(),
    };
    let (cert, key) = issued.write_to_dir(dir, force)?;
    // --- the certificate must verify against the CA and name this agent
    let creds = tls::Credentials::load(&ca, &cert, &key)?;
    if creds.identity() != identity {
        return Err(EnrollError::Local(format!(
            "the certificate sent is for {}, not {identity}",
            creds.identity()
        )));
    }
    Ok(vec![ca, cert, key])
}

fn write_config(path: &Path, text: &str) -> Result<(), EnrollError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|err| EnrollError::Local(format!("{}: {err}", parent.display())))?;
    }
    std::fs::write(path, text)
        .map_err(|err| EnrollError::Local(format!("{}: {err}", path.display())))
}
