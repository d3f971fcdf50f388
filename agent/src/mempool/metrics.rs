//! The mempool's part of the agent's `/metrics`: per chain, whether the
//! stream is up, arrivals and drops, the node's pending and queued counts,
//! the last second's fee median, and resubscriptions.

use mevfleet_common::exposition::{label, Exposition};

use super::Mempool;

/// Writes the mempool families.
pub fn render(out: &mut Exposition, mempool: &Mempool) {
    if mempool.streams.is_empty() {
        return;
    }
    let summaries = mempool.outbox.latest();
    let summary = |chain: &str| summaries.iter().find(|s| s.chain == chain);
    let families: [(&str, &str, &str); 6] = [
        (
            "mevfleet_agent_mempool_streaming",
            "gauge",
            "1 while the chain's pending-transaction subscription is up.",
        ),
        (
            "mevfleet_agent_mempool_subscriptions_total",
            "counter",
            "Subscriptions made (the first and every resubscription).",
        ),
        (
            "mevfleet_agent_mempool_transactions_total",
            "counter",
            "New pending transactions seen (after dedup).",
        ),
        (
            "mevfleet_agent_mempool_dropped_total",
            "counter",
            "Pending transactions not taken in (bad frames, full queues, vanished before fetch).",
        ),
        (
            "mevfleet_agent_mempool_pending",
            "gauge",
            "Pending transactions in the node's pool (txpool_status).",
        ),
        (
            "mevfleet_agent_mempool_fee_p50_gwei",
            "gauge",
            "Median fee cap of the last second's arrivals, in gwei.",
        ),
    ];
    for (i, (name, kind, help)) in families.iter().enumerate() {
        out.family(name, kind, help);
        for stream in &mempool.streams {
            let state = stream.state.borrow().clone();
            let last = summary(&stream.chain);
            let value = match i {
                0 => Some(f64::from(u8::from(state.streaming))),
                1 => Some(state.subscriptions as f64),
                2 => Some(last.map_or(0, |s| s.arrivals_total) as f64),
                3 => Some(last.map_or(0, |s| s.dropped_total) as f64),
                4 => last.and_then(|s| s.pending).map(|p| p as f64),
                _ => last.and_then(|s| s.fee_gwei).map(|f| f[0]),
            };
            if let Some(value) = value {
                out.sample(name, &label("chain", &stream.chain), value);
            }
        }
    }
    out.family(
        "mevfleet_agent_mempool_sightings_dropped_total",
        "counter",
        "Selected transactions dropped because the uplink fell behind.",
    );
    out.sample(
        "mevfleet_agent_mempool_sightings_dropped_total",
        "",
        mempool.outbox.dropped(),
    );
}
