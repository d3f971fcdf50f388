//! The mempool's vocabulary: what an agent reports about the pending
//! transactions it streams (a summary per chain and second, and selected
//! transactions with when it first saw them), and the fleet-wide view the
//! coordinator builds from them (`mevfleet mempool`, `/api/mempool`).
//! Telemetry: it lives in the leader's memory, never in Raft.

use serde::{Deserialize, Serialize};

/// One chain's mempool on one agent over its last whole second.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MempoolSummary {
    /// The chain.
    pub chain: String,
    /// The second this covers (seconds since the Unix epoch, agent's clock).
    pub second: u64,
    /// Whether the subscription is up.
    pub streaming: bool,
    /// New pending transactions seen in that second (after dedup).
    pub arrivals: u64,
    /// Every new pending transaction since the agent started.
    pub arrivals_total: u64,
    /// Transactions the agent could not take in (decode failures, full
    /// queues), since it started.
    pub dropped_total: u64,
    /// `txpool_status` pending, when the node answers it.
    pub pending: Option<u64>,
    /// `txpool_status` queued, when the node answers it.
    pub queued: Option<u64>,
    /// Fee cap percentiles (gwei): p50, p90, p99 of the arrivals of the
    /// latest second that had any (a quiet chain keeps its last fees).
    pub fee_gwei: Option<[f64; 3]>,
    /// The median of the preceding seconds' p50 (gwei), for spotting spikes.
    pub trailing_p50_gwei: Option<f64>,
    /// Why the stream is down, when it is.
    pub error: Option<String>,
}

/// Why an agent forwards one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SightingReason {
    /// Its value is over the high-value threshold.
    HighValue,
    /// It is from or to a watched address.
    Watched,
    /// The agent forwards every transaction (`forward_all`).
    All,
}

/// A transaction an agent forwards, with when it first saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// The chain.
    pub chain: String,
    /// The transaction hash (0x-prefixed hex).
    pub hash: String,
    /// Its value in wei.
    pub value_wei: u128,
    /// Its sender, when known (0x-prefixed hex).
    pub from: Option<String>,
    /// Its recipient; none for contract creation.
    pub to: Option<String>,
    /// When the agent first saw it (µs since the Unix epoch, agent's clock).
    pub seen_us: u64,
    /// Why it is forwarded.
    pub reason: SightingReason,
}

/// What an agent sends about its mempools: the latest summaries and the
/// transactions selected since the last report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MempoolReport {
    /// One per streaming chain, when a second has completed.
    pub summaries: Vec<MempoolSummary>,
    /// Selected transactions, in the order seen.
    pub sightings: Vec<Sighting>,
    /// Selected transactions dropped because the uplink fell behind, since
    /// the agent started.
    pub sightings_dropped_total: u64,
}

/// One chain's mempool across the fleet (the contract's `mempool` element).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MempoolView {
    /// The chain.
    pub chain: String,
    /// New pending transactions a second (the busiest agent's last second).
    pub rate_per_s: f64,
    /// Pending transactions (`txpool_status`, the highest agent's).
    pub pending: Option<u64>,
    /// Queued transactions (`txpool_status`, the highest agent's).
    pub queued: Option<u64>,
    /// The median fee cap of the latest second with arrivals (gwei).
    pub fee_p50_gwei: Option<f64>,
    /// The 90th percentile fee cap of that second (gwei).
    pub fee_p90_gwei: Option<f64>,
    /// The trailing median of the p50 (gwei).
    pub trailing_p50_gwei: Option<f64>,
    /// Whether the p50 is over `alerts.gas_spike_multiplier` times the
    /// trailing median.
    pub gas_spike: bool,
    /// High-value transactions in the window, newest first.
    pub high_value: Vec<HighValueView>,
    /// Per agent: its share of first sightings and its median lead.
    pub first_seen: Vec<FirstSeenView>,
    /// Each streaming agent's own figures.
    pub agents: Vec<AgentMempoolView>,
}

/// A high-value transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighValueView {
    /// Its hash.
    pub hash: String,
    /// Its value in wei (a decimal string: wei overflow JSON numbers).
    pub value_wei: String,
    /// Its sender, when known.
    pub from: Option<String>,
    /// Its recipient.
    pub to: Option<String>,
    /// The agent that saw it first.
    pub first_seen_by: String,
    /// When (ms since the Unix epoch, that agent's clock).
    pub first_seen_ms: u64,
}

/// One agent's standing in first sightings of a chain's transactions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstSeenView {
    /// The agent.
    pub agent: String,
    /// The share of transactions seen by two agents or more that it saw first.
    pub share: f64,
    /// Over those it saw first, the median time before the next agent, ms.
    pub median_lead_ms: Option<f64>,
    /// How many transactions it saw first.
    pub first: u64,
    /// How many of the compared transactions it saw at all.
    pub seen: u64,
}

/// One agent's figures for a chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentMempoolView {
    /// The agent.
    pub agent: String,
    /// Whether its subscription is up.
    pub streaming: bool,
    /// Its last second's arrivals.
    pub rate_per_s: u64,
    /// Everything it has seen since it started.
    pub arrivals_total: u64,
    /// What it could not take in.
    pub dropped_total: u64,
    /// Its node's pending count.
    pub pending: Option<u64>,
    /// Its node's queued count.
    pub queued: Option<u64>,
    /// Its last second's median fee cap (gwei).
    pub fee_p50_gwei: Option<f64>,
    /// Why its stream is down, when it is.
    pub error: Option<String>,
    /// From its sighting of a forwarded transaction to the leader's receipt
    /// of it, over the window: p50 and p99, ms (on the two hosts' clocks,
    /// so it includes their skew). None before its first forwarded one.
    #[serde(default)]
    pub forward_delay_ms: Option<[f64; 2]>,
}

/// The wall clock in µs since the Unix epoch (first-seen times compare
/// across hosts, so they are wall-clock times).
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The median of `values` (the mean of the middle two for an even count);
/// none when empty. Sorts `values`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 0 {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(super::median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(super::median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(super::median(&mut []), None);
    }
}
