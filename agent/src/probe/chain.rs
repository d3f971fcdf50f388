//! Probing one chain node over JSON-RPC (alloy): `eth_chainId`,
//! `eth_syncing`, the latest block's number and timestamp, `net_peerCount`
//! where the node has it, and the latency; on an interval, feeding the local
//! verdict and publishing the result on a watch channel.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::primitives::U64;
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::{BatchRequest, RpcClient};
use alloy::rpc::types::{Block, SyncStatus};
use alloy::transports::http::{Http, HyperClient};
use mevfleet_common::chain::HealthState;
use mevfleet_common::report::{ChainReport, SpoolRecord};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::wire::agent::ChainLimits;
use tokio::sync::{mpsc, watch};
use tracing::{info, info_span, warn, Instrument};
use url::Url;

use super::verdict::{LocalHealth, NodeReading, Sample, VerdictPolicy};

/// After a failed probe, the next comes this many times sooner than the
/// interval: hard failures are confirmed in a fraction of a second.
const SUSPECT_SPEEDUP: u32 = 4;

/// How a chain probe runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSettings {
    /// The chain's name (for logs).
    pub chain: String,
    /// The node's JSON-RPC URL.
    pub rpc: Url,
    /// Time between probes.
    pub interval: Duration,
    /// A probe not answered within this fails.
    pub timeout: Duration,
    /// The verdict's thresholds.
    pub policy: VerdictPolicy,
}

/// What a chain probe publishes after every sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainStatus {
    /// The chain's name.
    pub chain: String,
    /// The verdict and what it is based on.
    pub health: LocalHealth,
}

impl ChainStatus {
    /// The status as reported to the coordinators.
    pub fn report(&self) -> ChainReport {
        let last = self.health.last.as_ref();
        ChainReport {
            chain: self.chain.clone(),
            state: self.health.state,
            head: last.map(|r| r.head),
            head_timestamp: last.map(|r| r.head_timestamp),
            syncing: last.map(|r| r.syncing),
            peers: last.and_then(|r| r.peers),
            rpc_latency_us: last.map(|_| self.health.median_latency().as_micros() as u64),
            chain_id: last.map(|r| r.chain_id),
            error: self.health.last_error.clone(),
        }
    }
}

/// What a probe is wired to besides its status channel.
#[derive(Debug, Default)]
pub struct ProbeHooks {
    /// The fleet's limits by chain, as the coordinators last sent them;
    /// they override the policy's stale, peer and latency limits.
    pub limits: Option<watch::Receiver<BTreeMap<String, ChainLimits>>>,
    /// Where verdict changes go (to be spooled).
    pub transitions: Option<mpsc::UnboundedSender<SpoolRecord>>,
}

/// A running chain probe.
#[derive(Clone, Debug)]
pub struct ChainProbeHandle {
    status: watch::Receiver<ChainStatus>,
}

impl ChainProbeHandle {
    /// The latest status, updated after every sample.
    pub fn status(&self) -> watch::Receiver<ChainStatus> {
        self.status.clone()
    }
}

/// Starts probing as a tracked task of `shutdown`.
pub fn spawn(settings: ProbeSettings, shutdown: &Shutdown) -> ChainProbeHandle {
    spawn_with(settings, ProbeHooks::default(), shutdown)
}

/// The policy to judge by: the configured one with the fleet's limits.
fn effective_policy(
    base: &VerdictPolicy,
    chain: &str,
    limits: Option<&watch::Receiver<BTreeMap<String, ChainLimits>>>,
) -> VerdictPolicy {
    let fleet = limits.and_then(|l| l.borrow().get(chain).cloned());
    match fleet {
        Some(limits) => VerdictPolicy {
            stale_after_blocks: limits.stale_after_blocks,
            min_peers: limits.min_peers,
            high_latency: Duration::from_millis(limits.high_latency_ms),
            ..*base
        },
        None => *base,
    }
}

/// A provider for the node at `url`, over the agent's HTTP client (no TLS
/// set up unless the URL is `https`).
fn provider(url: Url) -> RootProvider {
    let transport = Http::with_client(HyperClient::with_service(crate::post::client()), url);
    let is_local = transport.guess_local();
    RootProvider::new(RpcClient::new(transport, is_local))
}

/// Starts probing with `hooks`, as a tracked task of `shutdown`.
pub fn spawn_with(
    settings: ProbeSettings,
    hooks: ProbeHooks,
    shutdown: &Shutdown,
) -> ChainProbeHandle {
    let (tx, status) = watch::channel(ChainStatus {
        chain: settings.chain.clone(),
        health: LocalHealth::default(),
    });
    let token = shutdown.token().clone();
    let span = info_span!("chain-probe", chain = %settings.chain);
    shutdown.spawn(
        "chain-probe",
        async move {
            let provider = provider(settings.rpc.clone());
            let mut health = LocalHealth::default();
            let mut next = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep_until(next) => {}
                }
                let started = tokio::time::Instant::now();
                let sample = probe_once(&provider, settings.timeout).await;
                let before = health.state;
                let first = health.last.is_none() && health.failures == 0;
                let policy =
                    effective_policy(&settings.policy, &settings.chain, hooks.limits.as_ref());
                let after = health.observe(sample, unix_now(), &policy);
                // The first verdict is where the node starts, not a change.
                if after != before && !(first && after == HealthState::Healthy) {
                    log_change(&settings.chain, before, after, &health);
                    if let Some(transitions) = &hooks.transitions {
                        let _closed = transitions.send(SpoolRecord::ChainTransition {
                            chain: settings.chain.clone(),
                            from: before,
                            to: after,
                            at_ms: unix_now_ms(),
                            reason: health
                                .last_error
                                .clone()
                                .filter(|_| after == HealthState::Down),
                        });
                    }
                }
                next = (started + pause_after(&health, settings.interval))
                    .max(tokio::time::Instant::now());
                tx.send_replace(ChainStatus {
                    chain: settings.chain.clone(),
                    health: health.clone(),
                });
            }
        }
        .instrument(span),
    );
    ChainProbeHandle { status }
}

/// How long to wait before the next probe: the interval, or a fraction of
/// it after a failure not yet confirmed, so a dead node is down within a
/// few short probes (and a passing glitch is cleared as fast).
fn pause_after(health: &LocalHealth, interval: Duration) -> Duration {
    let suspect = health.failures > 0 && health.state != HealthState::Down;
    if suspect {
        interval / SUSPECT_SPEEDUP
    } else {
        interval
    }
}

fn log_change(chain: &str, before: HealthState, after: HealthState, health: &LocalHealth) {
    let head = health.last.as_ref().map(|r| r.head);
    match after {
        HealthState::Healthy => {
            info!(chain, from = %before, to = %after, head, "chain node state changed")
        }
        _ => {
            warn!(chain, from = %before, to = %after, head, error = health.last_error.as_deref(), "chain node state changed")
        }
    }
}

/// One probe: every read in one JSON-RPC batch (one HTTP request), within
/// `timeout`. The latency is the batch's round trip.
pub async fn probe_once(provider: &RootProvider, timeout: Duration) -> Sample {
    let reads = async {
        let client = provider.client();
        let mut batch = BatchRequest::new(client);
        let encode =
            |err: alloy::transports::TransportError| format!("cannot encode a request: {err}");
        let chain_id = batch
            .add_call::<_, U64>("eth_chainId", &())
            .map_err(encode)?;
        let syncing = batch
            .add_call::<_, SyncStatus>("eth_syncing", &())
            .map_err(encode)?;
        let block = batch
            .add_call::<_, Option<Block>>("eth_getBlockByNumber", &("latest", false))
            .map_err(encode)?;
        let peers = batch
            .add_call::<_, U64>("net_peerCount", &())
            .map_err(encode)?;
        let started = Instant::now();
        batch.send().await.map_err(|err| err.to_string())?;
        let latency = started.elapsed();
        let block = block
            .await
            .map_err(|err| format!("eth_getBlockByNumber: {err}"))?
            .ok_or_else(|| "the node has no latest block".to_owned())?;
        Ok::<_, String>(NodeReading {
            chain_id: chain_id
                .await
                .map_err(|err| format!("eth_chainId: {err}"))?
                .to::<u64>(),
            syncing: !matches!(
                syncing.await.map_err(|err| format!("eth_syncing: {err}"))?,
                SyncStatus::None
            ),
            head: block.header.number,
            head_timestamp: block.header.timestamp,
            // Nodes without net_peerCount (anvil, some L2 nodes) report no peers.
            peers: peers.await.ok().map(|count| count.to::<u64>()),
            latency,
        })
    };
    match tokio::time::timeout(timeout, reads).await {
        Ok(Ok(reading)) => Sample::Read(reading),
        Ok(Err(reason)) => Sample::Failed(reason),
        Err(_) => Sample::Failed(format!("no answer within {} ms", timeout.as_millis())),
    }
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_not_yet_confirmed_is_probed_again_sooner() {
        let interval = Duration::from_millis(200);
        let health = |state, failures| LocalHealth {
            state,
            failures,
            ..LocalHealth::default()
        };
        let cases = [
            (health(HealthState::Healthy, 0), 200),
            (health(HealthState::Healthy, 1), 50),
            (health(HealthState::Degraded, 2), 50),
            (health(HealthState::Down, 3), 200),
            (health(HealthState::Down, 0), 200),
        ];
        for (health, expected_ms) in cases {
            assert_eq!(
                pause_after(&health, interval),
                Duration::from_millis(expected_ms),
                "{health:?}"
            );
        }
    }
}
