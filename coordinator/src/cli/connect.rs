//! Reaching the coordinators from the CLI: which ones, with which
//! credentials, and dialling them on the admin service.

use std::time::{Duration, Instant};

use mevfleet_common::identity::Role;
use mevfleet_common::net::HostPort;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TransportSettings};

use super::{Cli, CliError};

/// How long the CLI waits for one coordinator to answer a dial.
const DIAL_TIMEOUT: Duration = Duration::from_secs(3);

/// The coordinators to talk to and the credentials to talk with.
#[derive(Debug)]
pub struct Target {
    /// Addresses from `--coordinators`.
    pub coordinators: Vec<HostPort>,
    /// Credentials from `--creds`.
    pub creds: Credentials,
}

impl Target {
    /// Reads the target from the global flags; missing or unusable ones are
    /// usage errors that say which flag to give.
    pub fn from_cli(cli: &Cli) -> Result<Self, CliError> {
        let coordinators = cli
            .coordinators
            .as_ref()
            .map(|list| list.0.clone())
            .ok_or_else(|| {
                CliError::Usage(
                    "no coordinators given: pass --coordinators HOST:PORT[,HOST:PORT] or set MEVFLEET_COORDINATORS".into(),
                )
            })?;
        let dir = cli.creds.as_ref().ok_or_else(|| {
            CliError::Usage("no credentials given: pass --creds DIR or set MEVFLEET_CREDS".into())
        })?;
        let creds = Credentials::from_dir(dir, cli.identity.as_deref())
            .map_err(|err| CliError::Usage(format!("credentials: {err}")))?;
        if !creds.identity().role.is_human() {
            return Err(CliError::Usage(format!(
                "credentials: {} is a certificate for {}, the CLI needs an admin, operator or viewer certificate",
                dir.display(),
                creds.identity()
            )));
        }
        Ok(Self {
            coordinators,
            creds,
        })
    }
}

/// An admin-service connection to one coordinator.
#[derive(Debug)]
pub struct AdminConnection {
    /// The connection.
    pub conn: quinn::Connection,
    /// The endpoint it lives on (kept so it outlives the connection).
    pub endpoint: quinn::Endpoint,
    /// How long the handshake took.
    pub handshake: Duration,
}

/// Dials `target` on the admin service.
pub async fn dial(creds: &Credentials, target: &HostPort) -> Result<AdminConnection, String> {
    let addr = target
        .resolve()
        .await
        .map_err(|err| format!("cannot resolve: {err}"))?
        .into_iter()
        .next()
        .ok_or_else(|| "resolves to no address".to_owned())?;
    let config = tls::client_config(
        creds,
        Service::Admin,
        ExpectedPeer::role(Role::Coordinator),
        TransportSettings::default(),
    )
    .map_err(|err| err.to_string())?;
    let endpoint = tls::client_endpoint(addr).map_err(|err| err.to_string())?;
    let started = Instant::now();
    let conn = tls::connect(&endpoint, config, addr, DIAL_TIMEOUT).await?;
    Ok(AdminConnection {
        conn,
        endpoint,
        handshake: started.elapsed(),
    })
}
