//! Reaching the coordinators from the CLI: which ones, with which
//! credentials, and dialling them on the admin service.

use std::time::{Duration, Instant};

use mevfleet_common::identity::Role;
use mevfleet_common::net::HostPort;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TransportSettings};

use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{call, ErrorCode, RpcError, RpcLimits};

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

/// Sends `request` to the first coordinator that answers. Any member
/// answers: writes are forwarded to the leader. A member that cannot be
/// reached, or has no leader to forward to, is skipped for the next one.
pub async fn request(target: &Target, request: &AdminRequest) -> Result<AdminResponse, CliError> {
    let mut failures = Vec::new();
    let mut reached_any = false;
    for addr in &target.coordinators {
        let admin = match dial(&target.creds, addr).await {
            Ok(admin) => admin,
            Err(err) => {
                failures.push(format!("{addr}: {err}"));
                continue;
            }
        };
        reached_any = true;
        let result = call::<_, AdminResponse>(
            &admin.conn,
            request,
            RpcLimits {
                timeout: REQUEST_TIMEOUT,
                ..RpcLimits::default()
            },
        )
        .await;
        admin.conn.close(quinn::VarInt::from_u32(0), b"done");
        admin.endpoint.wait_idle().await;
        match result {
            Ok(response) => return Ok(response),
            Err(RpcError::Remote(err)) if err.code == ErrorCode::UNAVAILABLE => {
                failures.push(format!("{addr}: {}", err.reason))
            }
            Err(RpcError::Remote(err)) => return Err(CliError::Failed(err.reason)),
            Err(err) => failures.push(format!("{addr}: {err}")),
        }
    }
    let detail = failures.join("; ");
    if reached_any {
        Err(CliError::Failed(format!(
            "no coordinator could serve the request ({detail})"
        )))
    } else {
        Err(CliError::Unreachable(format!(
            "no coordinator reachable ({detail})"
        )))
    }
}

/// How long one admin request may take (adding a member waits for it to
/// catch up with the log).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(90);
