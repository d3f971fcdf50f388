//! The coordinator's Prometheus exposition: Raft term, leadership, log,
//! commit and applied indexes, apply lag, snapshots, and per-peer
//! replication lag (on the leader), the agents registered and connected,
//! how long heartbeats take to answer, and each streamed chain's mempool
//! (on the leader).

use openraft::ServerState;

use std::time::Instant;

use mevfleet_common::exposition::{label, Exposition};

use crate::fleet::assess::presence;
use crate::fleet::Fleet;
use mevfleet_common::wire::fleet::Presence;

/// The `/metrics` text for this member.
pub async fn render(fleet: &Fleet) -> String {
    let core = fleet.core();
    let metrics = core.raft().metrics().borrow().clone();
    let mut out = Exposition::new();
    out.family(
        "mevfleet_build_info",
        "gauge",
        "Version of this coordinator.",
    );
    out.sample(
        "mevfleet_build_info",
        &format!("version=\"{}\"", mevfleet_common::VERSION),
        1,
    );
    out.gauge(
        "mevfleet_raft_node_id",
        "This member's Raft node id.",
        core.node_id(),
    );
    out.gauge(
        "mevfleet_raft_term",
        "Current Raft term.",
        metrics.current_term,
    );
    out.gauge(
        "mevfleet_raft_is_leader",
        "1 when this member is the leader.",
        u8::from(metrics.state == ServerState::Leader),
    );
    out.gauge(
        "mevfleet_raft_leader_id",
        "Node id of the leader this member knows (0 when none).",
        metrics.current_leader.unwrap_or(0),
    );
    out.gauge(
        "mevfleet_raft_running",
        "1 while the Raft core runs; 0 after a fatal error.",
        u8::from(metrics.running_state.is_ok()),
    );
    out.gauge(
        "mevfleet_raft_peers_on_raft_port",
        "Peers this member sends openraft's calls to on their Raft port; the others get them on their QUIC port. On the leader, every follower unless a firewall or an older member stands in the way.",
        core.peers_on_raft_port().len(),
    );
    let last_log = metrics.last_log_index.unwrap_or(0);
    let applied = metrics.last_applied.map(|id| id.index).unwrap_or(0);
    out.gauge(
        "mevfleet_raft_last_log_index",
        "Index of the last entry in this member's log.",
        last_log,
    );
    out.gauge(
        "mevfleet_raft_applied_index",
        "Index of the last entry applied to the state machine.",
        applied,
    );
    out.gauge(
        "mevfleet_raft_apply_lag_entries",
        "Entries in the log not yet applied.",
        last_log.saturating_sub(applied),
    );
    out.gauge(
        "mevfleet_raft_snapshot_index",
        "Last log index covered by the current snapshot (0 when none).",
        metrics.snapshot.map(|id| id.index).unwrap_or(0),
    );
    out.family(
        "mevfleet_raft_snapshots_total",
        "counter",
        "Snapshots built or installed since this member started.",
    );
    out.sample(
        "mevfleet_raft_snapshots_total",
        "",
        core.view().snapshot_count(),
    );
    if let Some(replication) = &metrics.replication {
        out.family(
            "mevfleet_raft_replication_lag_entries",
            "gauge",
            "Entries the leader has that a peer has not yet matched.",
        );
        for (peer, matched_id) in replication {
            if *peer == core.node_id() {
                continue;
            }
            let lag = last_log.saturating_sub(matched_id.map(|id| id.index).unwrap_or(0));
            out.sample(
                "mevfleet_raft_replication_lag_entries",
                &format!("peer=\"{peer}\""),
                lag,
            );
        }
        // The commit index is the highest index a quorum of voters holds.
        let mut matched: Vec<u64> = metrics
            .membership_config
            .membership()
            .voter_ids()
            .map(|id| match replication.get(&id) {
                Some(m) => m.map(|log_id| log_id.index).unwrap_or(0),
                None if id == core.node_id() => last_log,
                None => 0,
            })
            .collect();
        matched.sort_unstable_by(|a, b| b.cmp(a));
        if let Some(committed) = matched.get(matched.len() / 2) {
            out.gauge(
                "mevfleet_raft_commit_index",
                "Highest index held by a quorum of voters (leader only).",
                committed,
            );
        }
    }
    let stalled = fleet.live().stalled_total().as_secs_f64();
    out.family(
        "mevfleet_service_stalled_seconds_total",
        "counter",
        "Time this member's service threads could not run on time (not counted against agents' silence).",
    );
    out.sample("mevfleet_service_stalled_seconds_total", "", stalled);
    fleet.heartbeat_timing().write(
        &mut out,
        "mevfleet_heartbeat_processing_seconds",
        "Time this member took to answer an agent's heartbeat once its request was read.",
    );
    let registered = core.view().read(|a| a.state.agents.len()).await;
    out.gauge(
        "mevfleet_agents_registered",
        "Agents in the registry.",
        registered,
    );
    if metrics.state == ServerState::Leader {
        let connected = fleet
            .live()
            .connected(Instant::now(), fleet.policy().connected_within());
        out.gauge(
            "mevfleet_agents_connected",
            "Agents whose heartbeats arrive (leader only).",
            connected,
        );
        let now = Instant::now();
        let in_office = fleet.live().in_office(now).unwrap_or_default();
        let ages = fleet.live().ages(now);
        let lost = core
            .view()
            .read(|a| {
                a.state
                    .agents
                    .keys()
                    .filter(|id| {
                        presence(ages.get(id.as_str()).copied(), in_office, fleet.policy())
                            == Presence::Lost
                    })
                    .count()
            })
            .await;
        out.gauge(
            "mevfleet_agents_lost",
            "Registered agents silent for longer than failover.agent_lost_ms (leader only).",
            lost,
        );
        mempool_metrics(&mut out, fleet);
    }
    out.finish()
}

/// The mempool window's figures, per chain (and per agent for first
/// sightings and forwarding delay).
fn mempool_metrics(out: &mut Exposition, fleet: &Fleet) {
    let view = crate::fleet::mempool::view(
        &fleet.mempool().snapshot(Instant::now()),
        fleet.policy().alerts.gas_spike_multiplier,
    );
    let chain = |c: &str| label("chain", c);
    let chain_agent = |c: &str, agent: &str| format!("{},{}", chain(c), label("agent", agent));
    out.gauges(
        "mevfleet_mempool_rate_per_second",
        "New pending transactions a second (the busiest agent's last second).",
        view.iter().map(|c| (chain(&c.chain), c.rate_per_s)),
    );
    out.gauges(
        "mevfleet_mempool_pending",
        "Pending transactions in the pool (the highest agent's txpool_status).",
        view.iter()
            .filter_map(|c| Some((chain(&c.chain), c.pending?))),
    );
    out.gauges(
        "mevfleet_mempool_gas_spike",
        "1 while the median fee cap is over alerts.gas_spike_multiplier times its trailing median.",
        view.iter()
            .map(|c| (chain(&c.chain), u8::from(c.gas_spike))),
    );
    out.gauges(
        "mevfleet_mempool_first_seen_share",
        "Share of the transactions two agents or more saw that this agent saw first.",
        view.iter().flat_map(|c| {
            c.first_seen
                .iter()
                .map(|row| (chain_agent(&c.chain, &row.agent), row.share))
        }),
    );
    out.gauges(
        "mevfleet_mempool_forward_delay_p99_seconds",
        "99th percentile over the window of the delay from an agent's sighting to the leader's receipt (includes clock skew between hosts).",
        view.iter().flat_map(|c| {
            c.agents.iter().filter_map(|agent| {
                let [_, p99] = agent.forward_delay_ms?;
                Some((chain_agent(&c.chain, &agent.agent), p99 / 1000.0))
            })
        }),
    );
}
