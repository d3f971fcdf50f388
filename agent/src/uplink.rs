//! The agent's QUIC session to the coordinators: dial them in turn with the
//! agent's certificate, introduce itself, hold the connection, and reconnect
//! with jittered exponential backoff when it drops.

use std::net::SocketAddr;
use std::time::Duration;

use mevfleet_common::identity::Role;
use mevfleet_common::net::HostPort;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TlsError, TransportSettings};
use mevfleet_common::wire::admin::ServerInfo;
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse};
use mevfleet_common::wire::{call, RpcError, RpcLimits};
use rand::Rng;
use tokio::sync::watch;
use tracing::{info, warn};

/// Why the uplink cannot run at all (retrying will not help).
#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    /// The TLS client configuration could not be built from the credentials.
    #[error("cannot build the QUIC client: {0}")]
    Tls(#[from] TlsError),
}

/// Where the uplink stands, observable through [`UplinkHandle::state`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UplinkState {
    /// Not connected; `attempt` counts failed dials since the last session.
    Connecting {
        /// Failed attempts so far.
        attempt: u32,
    },
    /// Connected and welcomed by a coordinator.
    Connected {
        /// The coordinator's address.
        addr: SocketAddr,
        /// What the coordinator said about itself.
        server: ServerInfo,
    },
    /// The uplink has stopped (shutdown).
    Stopped,
}

/// Reconnect delays: exponential from `initial` to `max`, with ±20 % jitter
/// so a fleet does not reconnect in lockstep after a coordinator restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The delay before attempt number `attempt` (0-based), with jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        base.mul_f64(jitter)
    }
}

/// Settings of the uplink.
#[derive(Clone, Debug)]
pub struct UplinkSettings {
    /// This agent's id (checked by the coordinator against its certificate).
    pub agent_id: String,
    /// The coordinators to dial, in order.
    pub coordinators: Vec<HostPort>,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// How long one dial may take.
    pub connect_timeout: Duration,
    /// Frame and request limits.
    pub limits: RpcLimits,
    /// QUIC timings.
    pub transport: TransportSettings,
}

impl UplinkSettings {
    /// Settings with default timings.
    pub fn new(agent_id: impl Into<String>, coordinators: Vec<HostPort>) -> Self {
        Self {
            agent_id: agent_id.into(),
            coordinators,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(3),
            limits: RpcLimits::default(),
            transport: TransportSettings::default(),
        }
    }
}

/// A running uplink.
#[derive(Clone, Debug)]
pub struct UplinkHandle {
    state: watch::Receiver<UplinkState>,
}

impl UplinkHandle {
    /// The uplink's state, updated as it changes.
    pub fn state(&self) -> watch::Receiver<UplinkState> {
        self.state.clone()
    }
}

/// Starts the uplink as a critical task of `shutdown`.
pub fn spawn(
    settings: UplinkSettings,
    creds: &Credentials,
    shutdown: &Shutdown,
) -> Result<UplinkHandle, UplinkError> {
    let config = tls::client_config(
        creds,
        Service::Agent,
        ExpectedPeer::role(Role::Coordinator),
        settings.transport,
    )?;
    let (state_tx, state) = watch::channel(UplinkState::Connecting { attempt: 0 });
    let token = shutdown.token().clone();
    shutdown.spawn_critical("uplink", async move {
        let result = run(settings, config, &state_tx, token).await;
        state_tx.send_replace(UplinkState::Stopped);
        result
    });
    Ok(UplinkHandle { state })
}

async fn run(
    settings: UplinkSettings,
    config: quinn::ClientConfig,
    state: &watch::Sender<UplinkState>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<(), UplinkError> {
    let mut attempt: u32 = 0;
    let mut next = 0usize;
    loop {
        let target = &settings.coordinators[next % settings.coordinators.len()];
        next += 1;
        let session = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            session = open_session(&settings, &config, target) => session,
        };
        match session {
            Ok((conn, endpoint, addr, server)) => {
                attempt = 0;
                info!(coordinator = %addr, node_id = server.node_id, "connected to coordinator");
                state.send_replace(UplinkState::Connected { addr, server });
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        conn.close(quinn::VarInt::from_u32(0), b"agent shutting down");
                        endpoint.wait_idle().await;
                        return Ok(());
                    }
                    reason = conn.closed() => {
                        warn!(coordinator = %addr, reason = %reason, "lost the coordinator");
                    }
                }
            }
            Err(reason) => {
                warn!(coordinator = %target, attempt, reason = %reason, "cannot reach coordinator");
            }
        }
        state.send_replace(UplinkState::Connecting { attempt });
        let delay = settings.backoff.delay(attempt);
        attempt = attempt.saturating_add(1);
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn open_session(
    settings: &UplinkSettings,
    config: &quinn::ClientConfig,
    target: &HostPort,
) -> Result<(quinn::Connection, quinn::Endpoint, SocketAddr, ServerInfo), String> {
    let addr = target
        .resolve()
        .await
        .map_err(|err| format!("cannot resolve {target}: {err}"))?
        .into_iter()
        .next()
        .ok_or_else(|| format!("{target} resolves to no address"))?;
    let endpoint = tls::client_endpoint(addr).map_err(|err| err.to_string())?;
    let conn = tls::connect(&endpoint, config.clone(), addr, settings.connect_timeout).await?;
    let hello = AgentRequest::Hello {
        agent_id: settings.agent_id.clone(),
        version: mevfleet_common::VERSION.to_owned(),
    };
    match call::<_, AgentResponse>(&conn, &hello, settings.limits).await {
        Ok(AgentResponse::Welcome(server)) => Ok((conn, endpoint, addr, server)),
        Err(RpcError::Remote(err)) => Err(format!("refused by the coordinator: {err}")),
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_with_bounded_jitter() {
        let backoff = Backoff::default();
        for attempt in 0..40 {
            let delay = backoff.delay(attempt);
            let base = (100u64 << attempt.min(16)).min(5000) as f64;
            let ms = delay.as_secs_f64() * 1000.0;
            assert!(
                ms >= base * 0.8 - 1e-6 && ms <= base * 1.2 + 1e-6,
                "attempt {attempt}: {ms} vs {base}"
            );
        }
    }
}
