//! Probing one chain node over JSON-RPC (alloy): `eth_chainId`,
//! `eth_syncing`, the latest block's number and timestamp, `net_peerCount`
//! where the node has it, and the latency; on an interval, feeding the local
//! verdict and publishing the result on a watch channel.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::U64;
use alloy::providers::{Provider, ProviderBuilder, RootProvider};
use alloy::rpc::types::SyncStatus;
use mevfleet_common::chain::HealthState;
use mevfleet_common::shutdown::Shutdown;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;
use tracing::{info, warn};
use url::Url;

use super::verdict::{LocalHealth, NodeReading, Sample, VerdictPolicy};

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
    let (tx, status) = watch::channel(ChainStatus {
        chain: settings.chain.clone(),
        health: LocalHealth::default(),
    });
    let token = shutdown.token().clone();
    shutdown.spawn("chain-probe", async move {
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_hyper_http(settings.rpc.clone());
        let mut health = LocalHealth::default();
        let mut ticks = tokio::time::interval(settings.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let sample = probe_once(&provider, settings.timeout).await;
            let before = health.state;
            let after = health.observe(sample, unix_now(), &settings.policy);
            if after != before {
                log_change(&settings.chain, before, after, &health);
            }
            tx.send_replace(ChainStatus {
                chain: settings.chain.clone(),
                health: health.clone(),
            });
        }
    });
    ChainProbeHandle { status }
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

/// One probe: all reads at once, within `timeout`.
pub async fn probe_once(provider: &RootProvider, timeout: Duration) -> Sample {
    let reads = async {
        let started = Instant::now();
        let head = async {
            let block = provider.get_block_by_number(BlockNumberOrTag::Latest).await;
            (block, started.elapsed())
        };
        let peers = provider.raw_request::<_, U64>("net_peerCount".into(), ());
        let (chain_id, syncing, (block, latency), peers) =
            tokio::join!(provider.get_chain_id(), provider.syncing(), head, peers);
        let block = block
            .map_err(|err| format!("eth_getBlockByNumber: {err}"))?
            .ok_or_else(|| "the node has no latest block".to_owned())?;
        Ok::<_, String>(NodeReading {
            chain_id: chain_id.map_err(|err| format!("eth_chainId: {err}"))?,
            syncing: !matches!(
                syncing.map_err(|err| format!("eth_syncing: {err}"))?,
                SyncStatus::None
            ),
            head: block.header.number,
            head_timestamp: block.header.timestamp,
            // Nodes without net_peerCount (anvil, some L2 nodes) report no peers.
            peers: peers.ok().map(|count| count.to::<u64>()),
            latency,
        })
    };
    match tokio::time::timeout(timeout, reads).await {
        Ok(Ok(reading)) => Sample::Read(reading),
        Ok(Err(reason)) => Sample::Failed(reason),
        Err(_) => Sample::Failed(format!("no answer within {} ms", timeout.as_millis())),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
