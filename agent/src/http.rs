//! The agent's local HTTP (loopback by default): `/metrics` in the
//! Prometheus text format (chain heads, verdicts and RPC latency, host
//! resources, units, mev-boost, the uplink, the spool and the mempool) and `/health`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use mevfleet_common::chain::HealthState;
use mevfleet_common::exposition::{label, Exposition};
use mevfleet_common::shutdown::Shutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::info;

use crate::report::Sources;
use crate::spool::Spool;
use crate::uplink::{UplinkHandle, UplinkState};
use mevfleet_common::report::AgentReports;

/// Every chain verdict, for the one-hot state gauge.
const STATES: [HealthState; 7] = [
    HealthState::Healthy,
    HealthState::Degraded,
    HealthState::Stale,
    HealthState::Lagging,
    HealthState::Syncing,
    HealthState::Down,
    HealthState::WrongChain,
];

/// What the pages are built from.
#[derive(Clone, Debug)]
pub struct AgentStatus {
    /// This agent's id.
    pub agent_id: String,
    /// The probes.
    pub sources: Sources,
    /// The uplink.
    pub uplink: UplinkHandle,
    /// The spool.
    pub spool: Spool,
    /// The mempool streams.
    pub mempool: crate::mempool::Mempool,
}

/// Serves `/metrics` and `/health` on `listener` until `shutdown`.
pub fn spawn(listener: TcpListener, status: AgentStatus, shutdown: &Shutdown) {
    let router = Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/health", get(serve_health))
        .with_state(Arc::new(status));
    let token = shutdown.token().clone();
    shutdown.spawn_critical("http", async move {
        if let Ok(addr) = listener.local_addr() {
            info!(addr = %addr, "serving HTTP");
        }
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    });
}

async fn serve_metrics(State(status): State<Arc<AgentStatus>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&status),
    )
}

async fn serve_health(State(status): State<Arc<AgentStatus>>) -> impl IntoResponse {
    let snapshot = status.sources.snapshot();
    let connected = matches!(
        *status.uplink.state().borrow(),
        UplinkState::Connected { .. }
    );
    let all_healthy = snapshot
        .chains
        .values()
        .all(|c| c.state == HealthState::Healthy);
    let chains: serde_json::Map<String, serde_json::Value> = snapshot
        .chains
        .values()
        .map(|c| (c.chain.clone(), json!(c.state)))
        .collect();
    Json(json!({
        "status": if connected && all_healthy { "ok" } else { "degraded" },
        "agent_id": status.agent_id,
        "uplink": if connected { "connected" } else { "connecting" },
        "chains": chains,
        "spool_pending": status.spool.len(),
    }))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `/metrics` page.
pub fn render(status: &AgentStatus) -> String {
    let snapshot = status.sources.snapshot();
    let mut out = Exposition::new();
    out.family(
        "mevfleet_agent_build_info",
        "gauge",
        "Version of this agent.",
    );
    out.sample(
        "mevfleet_agent_build_info",
        &format!(
            "{},{}",
            label("version", mevfleet_common::VERSION),
            label("agent", &status.agent_id)
        ),
        1,
    );
    chain_metrics(&mut out, &snapshot);
    host_metrics(&mut out, &snapshot);
    let connected = matches!(
        *status.uplink.state().borrow(),
        UplinkState::Connected { .. }
    );
    out.gauge(
        "mevfleet_agent_uplink_connected",
        "1 while registered with the coordinator leader.",
        u8::from(connected),
    );
    let stats = status.uplink.stats();
    counter(
        &mut out,
        "mevfleet_agent_heartbeats_total",
        "Heartbeats the leader acknowledged.",
        stats.heartbeats.load(Ordering::Relaxed),
    );
    counter(
        &mut out,
        "mevfleet_agent_uplink_failures_total",
        "Coordinator sessions that ended in a failure.",
        stats.session_failures.load(Ordering::Relaxed),
    );
    out.gauge(
        "mevfleet_agent_heartbeat_rtt_seconds",
        "Round trip of the last acknowledged heartbeat.",
        stats.last_heartbeat_rtt_us.load(Ordering::Relaxed) as f64 / 1e6,
    );
    out.gauge(
        "mevfleet_agent_spool_pending",
        "Spooled records waiting for the coordinators to commit them.",
        status.spool.len(),
    );
    counter(
        &mut out,
        "mevfleet_agent_spool_delivered_total",
        "Spooled records the coordinators committed.",
        stats.records_delivered.load(Ordering::Relaxed),
    );
    crate::mempool::metrics::render(&mut out, &status.mempool);
    out.finish()
}

fn counter(out: &mut Exposition, name: &str, help: &str, value: u64) {
    out.family(name, "counter", help);
    out.sample(name, "", value);
}

fn chain_metrics(out: &mut Exposition, snapshot: &AgentReports) {
    let now = unix_now();
    out.family(
        "mevfleet_agent_chain_state",
        "gauge",
        "1 for the chain node's current local verdict.",
    );
    for chain in snapshot.chains.values() {
        for state in STATES {
            out.sample(
                "mevfleet_agent_chain_state",
                &format!(
                    "{},{}",
                    label("chain", &chain.chain),
                    label("state", state.as_str())
                ),
                u8::from(chain.state == state),
            );
        }
    }
    out.family(
        "mevfleet_agent_chain_head",
        "gauge",
        "Latest block number the node reports.",
    );
    for chain in snapshot.chains.values() {
        if let Some(head) = chain.head {
            out.sample(
                "mevfleet_agent_chain_head",
                &label("chain", &chain.chain),
                head,
            );
        }
    }
    out.family(
        "mevfleet_agent_chain_head_age_seconds",
        "gauge",
        "Age of the latest block.",
    );
    for chain in snapshot.chains.values() {
        if let Some(ts) = chain.head_timestamp {
            out.sample(
                "mevfleet_agent_chain_head_age_seconds",
                &label("chain", &chain.chain),
                now.saturating_sub(ts),
            );
        }
    }
    out.family(
        "mevfleet_agent_chain_rpc_latency_seconds",
        "gauge",
        "Median latency of the node's head request over the recent probes.",
    );
    for chain in snapshot.chains.values() {
        if let Some(us) = chain.rpc_latency_us {
            out.sample(
                "mevfleet_agent_chain_rpc_latency_seconds",
                &label("chain", &chain.chain),
                us as f64 / 1e6,
            );
        }
    }
    out.family(
        "mevfleet_agent_chain_peers",
        "gauge",
        "Peers of the node (where it reports them).",
    );
    for chain in snapshot.chains.values() {
        if let Some(peers) = chain.peers {
            out.sample(
                "mevfleet_agent_chain_peers",
                &label("chain", &chain.chain),
                peers,
            );
        }
    }
}

fn host_metrics(out: &mut Exposition, snapshot: &AgentReports) {
    if let Some(host) = &snapshot.host {
        out.gauge(
            "mevfleet_agent_host_cpu_ratio",
            "CPU busy share of all cores over the last host probe.",
            f64::from(host.cpu_percent) / 100.0,
        );
        out.gauge(
            "mevfleet_agent_host_memory_used_bytes",
            "Memory in use (total minus available).",
            host.memory_used_bytes,
        );
        out.gauge(
            "mevfleet_agent_host_memory_total_bytes",
            "Total memory.",
            host.memory_total_bytes,
        );
        out.gauge(
            "mevfleet_agent_host_load1",
            "Load average over one minute.",
            f64::from(host.load_centi[0]) / 100.0,
        );
        out.family(
            "mevfleet_agent_disk_used_ratio",
            "gauge",
            "Used share of the filesystem holding a watched path.",
        );
        for disk in host.disks.iter().filter(|d| d.error.is_none()) {
            out.sample(
                "mevfleet_agent_disk_used_ratio",
                &label("path", &disk.path),
                f64::from(disk.used_percent) / 100.0,
            );
        }
        out.family(
            "mevfleet_agent_disk_available_bytes",
            "gauge",
            "Bytes available on the filesystem holding a watched path.",
        );
        for disk in host.disks.iter().filter(|d| d.error.is_none()) {
            out.sample(
                "mevfleet_agent_disk_available_bytes",
                &label("path", &disk.path),
                disk.available_bytes,
            );
        }
    }
    if !snapshot.services.is_empty() {
        out.family(
            "mevfleet_agent_service_active",
            "gauge",
            "1 when the watched unit is active (0 otherwise; absent where systemd is not running).",
        );
        for unit in snapshot.services.iter().filter(|u| u.active != "unknown") {
            out.sample(
                "mevfleet_agent_service_active",
                &label("unit", &unit.unit),
                u8::from(unit.active == "active"),
            );
        }
    }
    if let Some(boost) = &snapshot.mev_boost {
        out.gauge(
            "mevfleet_agent_mev_boost_up",
            "1 when mev-boost's status endpoint answers 200.",
            u8::from(boost.ok),
        );
        out.family(
            "mevfleet_agent_relay_up",
            "gauge",
            "1 when the relay's status endpoint answers 200.",
        );
        for relay in &boost.relays {
            out.sample(
                "mevfleet_agent_relay_up",
                &label("relay", &relay.url),
                u8::from(relay.ok),
            );
        }
    }
}
