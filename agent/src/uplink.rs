//! The agent's QUIC session to the coordinators: dial them in turn with the
//! agent's certificate, say hello (registration), follow the leader when a
//! follower says where it is, send heartbeats carrying what changed, take
//! commands from the leader's order feed, deliver the spool, and reconnect
//! with jittered exponential backoff when the session drops.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mevfleet_common::identity::Role;
use mevfleet_common::net::HostPort;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TlsError, TransportSettings};
use mevfleet_common::wire::admin::ServerInfo;
use mevfleet_common::wire::agent::{
    AgentRequest, AgentResponse, ChainLimits, Hello, Welcome, ORDER_FEED_IDLE,
};
use mevfleet_common::wire::{call, subscribe, ErrorCode, RpcError, RpcLimits};
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::executor::ExecutorState;
use crate::report::Sources;
use crate::spool::Spool;
use mevfleet_common::report::AgentReports;

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
    /// Connected to the leader and registered.
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
    /// What the agent says in its hello (id, version, labels, chains).
    pub hello: Hello,
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
    /// How long to wait before delivering the spool again after a failure.
    pub spool_retry: Duration,
}

impl UplinkSettings {
    /// Settings with default timings.
    pub fn new(hello: Hello, coordinators: Vec<HostPort>) -> Self {
        Self {
            hello,
            coordinators,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(1),
            limits: RpcLimits::default(),
            transport: TransportSettings::default(),
            spool_retry: Duration::from_secs(1),
        }
    }
}

/// What the uplink reads from and writes to.
#[derive(Clone, Debug)]
pub struct UplinkInputs {
    /// The probes' results, for heartbeats.
    pub sources: Sources,
    /// Records to deliver.
    pub spool: Spool,
    /// Where the fleet's limits go when a leader sends them.
    pub limits: Arc<watch::Sender<BTreeMap<String, ChainLimits>>>,
    /// Woken when something changed that should not wait for the next beat.
    pub urgent: Arc<Notify>,
    /// The executor leases, renewed by heartbeats.
    pub executor: ExecutorState,
    /// Where fleet commands go.
    pub commands: crate::commands::Inbox,
    /// Where the fleet's cgroup weights go.
    pub weights: Arc<watch::Sender<BTreeMap<String, u32>>>,
    /// Mempool summaries and selected transactions to send.
    pub mempool: Arc<crate::mempool::outbox::Outbox>,
}

/// Counters of the uplink's work, for `/metrics`.
#[derive(Debug, Default)]
pub struct UplinkStats {
    /// Heartbeats acknowledged.
    pub heartbeats: AtomicU64,
    /// Sessions that ended in a failure.
    pub session_failures: AtomicU64,
    /// Spooled records the coordinators committed.
    pub records_delivered: AtomicU64,
    /// Round trip of the last acknowledged heartbeat, in microseconds.
    pub last_heartbeat_rtt_us: AtomicU64,
}

/// A running uplink.
#[derive(Clone, Debug)]
pub struct UplinkHandle {
    state: watch::Receiver<UplinkState>,
    stats: Arc<UplinkStats>,
}

impl UplinkHandle {
    /// The uplink's state, updated as it changes.
    pub fn state(&self) -> watch::Receiver<UplinkState> {
        self.state.clone()
    }

    /// Its counters.
    pub fn stats(&self) -> &UplinkStats {
        &self.stats
    }
}

/// Starts the uplink as a critical task of `shutdown`.
pub fn spawn(
    settings: UplinkSettings,
    inputs: UplinkInputs,
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
    let stats = Arc::new(UplinkStats::default());
    let token = shutdown.token().clone();
    let counters = stats.clone();
    shutdown.spawn_critical("uplink", async move {
        let uplink = Uplink {
            settings,
            config,
            inputs,
            stats: counters,
        };
        let result = uplink.run(&state_tx, token).await;
        state_tx.send_replace(UplinkState::Stopped);
        result
    });
    Ok(UplinkHandle { state, stats })
}

/// How a session ended.
enum SessionEnd {
    /// The coordinator no longer leads; the leader is there, if known.
    Redirect(Option<String>),
    /// The session failed.
    Lost(String),
}

/// What a dial gave.
enum Opened {
    /// Registered with the leader.
    Welcome {
        conn: quinn::Connection,
        addr: SocketAddr,
        welcome: Welcome,
    },
    /// A follower; the leader is there, if known.
    NotLeader(Option<String>),
}

struct Uplink {
    settings: UplinkSettings,
    config: quinn::ClientConfig,
    inputs: UplinkInputs,
    stats: Arc<UplinkStats>,
}

/// Whether a feed failed because the leader does not know the request (it
/// predates the order feed), so polling will work where the feed cannot.
fn leader_predates_the_feed(err: &RpcError) -> bool {
    matches!(err, RpcError::Remote(wire) if wire.code == ErrorCode::MALFORMED)
}

/// How long the leader may hold a poll for commands (a leader from before
/// the order feed).
const ORDERS_WAIT: Duration = Duration::from_secs(20);

/// How long to wait when no coordinator knows the leader (an election).
const ELECTION_PAUSE: Duration = Duration::from_millis(200);

/// How long a coordinator that failed is not dialled again while others
/// may answer (about an election's length).
const FAILED_MEMORY: Duration = Duration::from_secs(3);

impl Uplink {
    async fn run(
        &self,
        state: &watch::Sender<UplinkState>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<(), UplinkError> {
        let coordinators = &self.settings.coordinators;
        let mut attempt: u32 = 0;
        let mut next = 0usize;
        let mut redirect: Option<HostPort> = None;
        let mut redirects = 0usize;
        // One endpoint (one UDP socket) for every session.
        let mut endpoint: Option<quinn::Endpoint> = None;
        // The coordinator that just failed: followers may still name it as
        // leader until they elect another, and dialling it again would only
        // wait for a timeout.
        let mut failed: Option<(HostPort, std::time::Instant)> = None;
        loop {
            let recently_failed = |addr: &HostPort| {
                failed
                    .as_ref()
                    .is_some_and(|(f, at)| f == addr && at.elapsed() < FAILED_MEMORY)
            };
            let target = match redirect.take().filter(|r| !recently_failed(r)) {
                Some(target) => target,
                None => {
                    let mut pick = coordinators[next % coordinators.len()].clone();
                    next += 1;
                    if recently_failed(&pick) && coordinators.len() > 1 {
                        pick = coordinators[next % coordinators.len()].clone();
                        next += 1;
                    }
                    pick
                }
            };
            let opened = tokio::select! {
                _ = shutdown.cancelled() => break,
                opened = self.open(
                    &mut endpoint,
                    &target,
                    failed
                        .as_ref()
                        .filter(|(_, at)| at.elapsed() < FAILED_MEMORY)
                        .map(|(addr, _)| addr),
                ) => opened,
            };
            let pause = match opened {
                Ok(Opened::Welcome {
                    conn,
                    addr,
                    welcome,
                }) => {
                    attempt = 0;
                    redirects = 0;
                    info!(coordinator = %addr, node_id = welcome.server.node_id, heartbeat_ms = welcome.heartbeat_ms, "registered with the leader");
                    self.inputs.limits.send_replace(
                        welcome
                            .limits
                            .iter()
                            .map(|l| (l.chain.clone(), l.clone()))
                            .collect(),
                    );
                    state.send_replace(UplinkState::Connected {
                        addr,
                        server: welcome.server.clone(),
                    });
                    let end = tokio::select! {
                        _ = shutdown.cancelled() => {
                            conn.close(quinn::VarInt::from_u32(0), b"agent shutting down");
                            break;
                        }
                        end = self.session(&conn, &welcome) => end,
                    };
                    conn.close(quinn::VarInt::from_u32(0), b"session over");
                    state.send_replace(UplinkState::Connecting { attempt: 0 });
                    match end {
                        SessionEnd::Redirect(leader) => {
                            info!(coordinator = %addr, leader = ?leader, "the coordinator no longer leads: following the leader");
                            redirect = leader.and_then(|l| l.parse().ok());
                            Some(ELECTION_PAUSE).filter(|_| redirect.is_none())
                        }
                        SessionEnd::Lost(reason) => {
                            self.stats.session_failures.fetch_add(1, Ordering::Relaxed);
                            warn!(coordinator = %addr, reason = %reason, "lost the coordinator");
                            failed = Some((target.clone(), std::time::Instant::now()));
                            Some(self.settings.backoff.delay(0))
                        }
                    }
                }
                Ok(Opened::NotLeader(leader)) => {
                    redirects += 1;
                    // Follow hints, but not around in circles forever.
                    redirect = leader
                        .and_then(|l| l.parse().ok())
                        .filter(|_| redirects <= coordinators.len() + 1);
                    debug!(coordinator = %target, leader = ?redirect, "not the leader");
                    match redirect {
                        Some(_) => None,
                        None => Some(ELECTION_PAUSE),
                    }
                }
                Err(reason) => {
                    warn!(coordinator = %target, attempt, reason = %reason, "cannot reach coordinator");
                    failed = Some((target.clone(), std::time::Instant::now()));
                    state.send_replace(UplinkState::Connecting { attempt });
                    let delay = self.settings.backoff.delay(attempt);
                    // Only a full round of unreachable coordinators grows the delay.
                    if next % coordinators.len() == 0 {
                        attempt = attempt.saturating_add(1);
                    }
                    Some(delay)
                }
            };
            if let Some(pause) = pause {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        if let Some(endpoint) = endpoint {
            let _idle = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
        }
        Ok(())
    }

    async fn open(
        &self,
        endpoint: &mut Option<quinn::Endpoint>,
        target: &HostPort,
        lost: Option<&HostPort>,
    ) -> Result<Opened, String> {
        let addr = target
            .resolve()
            .await
            .map_err(|err| format!("cannot resolve {target}: {err}"))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{target} resolves to no address"))?;
        let endpoint = match endpoint {
            Some(endpoint) => endpoint.clone(),
            None => {
                let created = tls::client_endpoint(addr).map_err(|err| err.to_string())?;
                *endpoint = Some(created.clone());
                created
            }
        };
        let conn = tls::connect(
            &endpoint,
            self.config.clone(),
            addr,
            self.settings.connect_timeout,
        )
        .await?;
        let hello = AgentRequest::Hello(Hello {
            lost: lost.map(|addr| addr.to_string()),
            ..self.settings.hello.clone()
        });
        match call::<_, AgentResponse>(&conn, &hello, self.settings.limits).await {
            Ok(AgentResponse::Welcome(welcome)) => Ok(Opened::Welcome {
                conn,
                addr,
                welcome,
            }),
            Ok(AgentResponse::NotLeader { leader }) => {
                conn.close(quinn::VarInt::from_u32(0), b"following the leader");
                Ok(Opened::NotLeader(leader))
            }
            Ok(other) => Err(format!("unexpected answer to hello: {other:?}")),
            Err(RpcError::Remote(err)) => Err(format!("refused by the coordinator: {err}")),
            Err(err) => Err(err.to_string()),
        }
    }

    /// Heartbeats and spool delivery on one connection, until either ends.
    async fn session(&self, conn: &quinn::Connection, welcome: &Welcome) -> SessionEnd {
        tokio::select! {
            end = self.heartbeats(conn, welcome) => end,
            end = self.deliveries(conn) => end,
            end = self.orders(conn) => end,
            end = self.mempool(conn) => end,
            reason = conn.closed() => SessionEnd::Lost(reason.to_string()),
        }
    }

    async fn heartbeats(&self, conn: &quinn::Connection, welcome: &Welcome) -> SessionEnd {
        let interval = Duration::from_millis(welcome.heartbeat_ms.max(10));
        // A beat not answered within a few intervals means the coordinator
        // is gone; finding the new leader fast matters more than patience.
        let limits = RpcLimits {
            timeout: interval.saturating_mul(3).max(Duration::from_millis(750)),
            ..self.settings.limits
        };
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut base: Option<AgentReports> = None;
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = self.inputs.urgent.notified() => {}
            }
            let snapshot = self.inputs.sources.snapshot();
            let delta = snapshot.delta_since(base.as_ref());
            seq += 1;
            let sent = std::time::Instant::now();
            let holding = self.inputs.executor.holding(sent);
            let request = AgentRequest::Heartbeat {
                seq,
                delta,
                holding,
            };
            match call::<_, AgentResponse>(conn, &request, limits).await {
                Ok(AgentResponse::HeartbeatAck {
                    resend_full,
                    control,
                    ..
                }) => {
                    self.inputs.weights.send_if_modified(|weights| {
                        let changed = *weights != control.weights;
                        if changed {
                            *weights = control.weights.clone();
                        }
                        changed
                    });
                    if self.inputs.executor.apply(&control, sent) {
                        // Tell the leader at once that this agent stopped.
                        self.inputs.urgent.notify_one();
                    }
                    self.stats.heartbeats.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .last_heartbeat_rtt_us
                        .store(sent.elapsed().as_micros() as u64, Ordering::Relaxed);
                    base = if resend_full { None } else { Some(snapshot) };
                }
                Ok(AgentResponse::NotLeader { leader }) => return SessionEnd::Redirect(leader),
                Ok(other) => {
                    return SessionEnd::Lost(format!("unexpected answer to a heartbeat: {other:?}"))
                }
                Err(err) => return SessionEnd::Lost(format!("heartbeat {seq}: {err}")),
            }
        }
    }

    /// Takes fleet commands from the leader's order feed and hands them to
    /// the runner; polls instead when the leader predates the feed.
    async fn orders(&self, conn: &quinn::Connection) -> SessionEnd {
        // Handed over in this session but maybe not journaled yet.
        let mut handed = std::collections::BTreeSet::new();
        let request = AgentRequest::OrderFeed {
            known: self.known_commands(&handed),
        };
        let limits = RpcLimits {
            timeout: ORDER_FEED_IDLE * 2 + Duration::from_secs(10),
            ..self.settings.limits
        };
        let mut feed = match subscribe::<_, AgentResponse>(conn, &request, limits).await {
            Ok(feed) => feed,
            Err(err) => return SessionEnd::Lost(format!("opening the order feed: {err}")),
        };
        loop {
            match feed.next().await {
                Ok(Some(response)) => {
                    if let Some(end) = self.take_orders(response, &mut handed) {
                        return end;
                    }
                }
                Ok(None) => return SessionEnd::Lost("the leader ended the order feed".into()),
                Err(err) if leader_predates_the_feed(&err) => {
                    debug!(reason = %err, "the leader has no order feed; polling for commands");
                    return self.poll_orders(conn, handed).await;
                }
                Err(err) => return SessionEnd::Lost(format!("order feed: {err}")),
            }
        }
    }

    /// Polls the leader for fleet commands, each poll held by the leader
    /// until there is one (a leader from before the order feed).
    async fn poll_orders(
        &self,
        conn: &quinn::Connection,
        mut handed: std::collections::BTreeSet<u64>,
    ) -> SessionEnd {
        let limits = RpcLimits {
            timeout: ORDERS_WAIT + Duration::from_secs(10),
            ..self.settings.limits
        };
        loop {
            let request = AgentRequest::Orders {
                known: self.known_commands(&handed),
                wait_ms: ORDERS_WAIT.as_millis() as u64,
            };
            match call::<_, AgentResponse>(conn, &request, limits).await {
                Ok(response) => {
                    if let Some(end) = self.take_orders(response, &mut handed) {
                        return end;
                    }
                }
                Err(err) => return SessionEnd::Lost(format!("polling for commands: {err}")),
            }
        }
    }

    /// The commands the journal knows and those handed over this session.
    fn known_commands(&self, handed: &std::collections::BTreeSet<u64>) -> Vec<u64> {
        let mut known = self.inputs.commands.known();
        known.extend(handed.iter().copied());
        known.sort_unstable();
        known.dedup();
        known
    }

    /// Acts on one answer from the feed or a poll; `Some` ends the session.
    fn take_orders(
        &self,
        response: AgentResponse,
        handed: &mut std::collections::BTreeSet<u64>,
    ) -> Option<SessionEnd> {
        match response {
            AgentResponse::Orders(orders) => {
                for order in orders {
                    debug!(command = order.id, action = %order.action, "command received");
                    handed.insert(order.id);
                    if !self.inputs.commands.deliver(order) {
                        return Some(SessionEnd::Lost("the command runner has stopped".into()));
                    }
                }
                None
            }
            AgentResponse::Wake => {
                self.inputs.urgent.notify_one();
                None
            }
            AgentResponse::NotLeader { leader } => Some(SessionEnd::Redirect(leader)),
            other => Some(SessionEnd::Lost(format!(
                "unexpected answer on the order feed or a poll: {other:?}"
            ))),
        }
    }

    /// Sends mempool reports as they come: selected transactions at once
    /// (what arrives during a send goes with the next), summaries each
    /// second. Telemetry: what a failed send carried is not sent again.
    async fn mempool(&self, conn: &quinn::Connection) -> SessionEnd {
        let outbox = &self.inputs.mempool;
        loop {
            let Some(report) = outbox.take() else {
                outbox.ready().await;
                continue;
            };
            match call::<_, AgentResponse>(
                conn,
                &AgentRequest::Mempool(report),
                self.settings.limits,
            )
            .await
            {
                Ok(AgentResponse::MempoolTaken) => {}
                Ok(AgentResponse::NotLeader { leader }) => return SessionEnd::Redirect(leader),
                Ok(other) => {
                    return SessionEnd::Lost(format!(
                        "unexpected answer to a mempool report: {other:?}"
                    ))
                }
                Err(err) => return SessionEnd::Lost(format!("sending a mempool report: {err}")),
            }
        }
    }

    async fn deliveries(&self, conn: &quinn::Connection) -> SessionEnd {
        let spool = &self.inputs.spool;
        let limits = RpcLimits {
            timeout: Duration::from_secs(15),
            ..self.settings.limits
        };
        loop {
            let batch = spool.pending(256);
            if batch.is_empty() {
                spool.added().await;
                continue;
            }
            let count = batch.len();
            let request = AgentRequest::Deliver {
                spool_id: spool.id(),
                records: batch,
            };
            let failure = match call::<_, AgentResponse>(conn, &request, limits).await {
                Ok(AgentResponse::Delivered { through_seq }) => {
                    let spool = spool.clone();
                    match tokio::task::spawn_blocking(move || spool.acknowledge(through_seq)).await
                    {
                        Ok(Ok(dropped)) => {
                            self.stats
                                .records_delivered
                                .fetch_add(dropped as u64, Ordering::Relaxed);
                            debug!(through_seq, dropped, "spooled records committed");
                            continue;
                        }
                        Ok(Err(err)) => err.to_string(),
                        Err(err) => err.to_string(),
                    }
                }
                Ok(AgentResponse::NotLeader { leader }) => return SessionEnd::Redirect(leader),
                Ok(other) => format!("unexpected answer to a delivery: {other:?}"),
                Err(err) => format!("delivering {count} records: {err}"),
            };
            warn!(reason = %failure, retry_ms = self.settings.spool_retry.as_millis() as u64, "spool delivery failed; will retry");
            tokio::time::sleep(self.settings.spool_retry).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mevfleet_common::wire::{FrameError, WireError};

    #[test]
    fn only_a_request_the_leader_cannot_decode_sends_the_agent_back_to_polling() {
        // What a coordinator from before the feed answers: the request does
        // not decode as any request it knows.
        let old_leader = RpcError::Remote(WireError::from(FrameError::Malformed(
            "unexpected variant index 6".into(),
        )));
        assert!(leader_predates_the_feed(&old_leader));
        let stopping = RpcError::Remote(WireError::new(ErrorCode::UNAVAILABLE, "stopping"));
        assert!(!leader_predates_the_feed(&stopping));
        assert!(!leader_predates_the_feed(&RpcError::Timeout(
            Duration::from_secs(1)
        )));
        assert!(!leader_predates_the_feed(&RpcError::NoReply));
    }

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
