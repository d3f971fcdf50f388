//! The fleet's mempool as the leader sees it: each agent's latest summary
//! per chain and a short window of the transactions agents forwarded, with
//! when each agent first saw them. In memory on the leader only (telemetry,
//! never Raft), emptied when it takes or leaves office. The view is a pure
//! function of the window: rates and fees, the gas spike, the high-value
//! list, and which agent sees transactions first and by how much.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mevfleet_common::mempool::{
    median, AgentMempoolView, FirstSeenView, HighValueView, MempoolReport, MempoolSummary,
    MempoolView, SightingReason,
};

/// How long a forwarded transaction stays in the window.
pub const WINDOW: Duration = Duration::from_secs(600);

/// Transactions kept per chain at most (the oldest go first).
const MAX_PER_CHAIN: usize = 100_000;

/// A summary older than this no longer counts (its agent stopped streaming).
const SUMMARY_FRESH: Duration = Duration::from_secs(10);

/// High-value transactions shown per chain.
const HIGH_VALUE_SHOWN: usize = 20;

/// One forwarded transaction and who saw it when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forwarded {
    /// Its hash.
    pub hash: String,
    /// Its value in wei.
    pub value_wei: u128,
    /// Its sender.
    pub from: Option<String>,
    /// Its recipient.
    pub to: Option<String>,
    /// Why agents forwarded it.
    pub reason: SightingReason,
    /// Each agent's first sighting.
    pub seen: Vec<SeenBy>,
}

/// One agent's first sighting of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenBy {
    /// The agent.
    pub agent: String,
    /// When it saw it (µs since the Unix epoch, its clock).
    pub seen_us: u64,
    /// When its report reached the leader (µs since the Unix epoch, the
    /// leader's clock).
    pub received_us: u64,
}

impl SeenBy {
    /// From the agent's sighting to the leader's receipt, ms. Across hosts
    /// this includes their clocks' skew, so it can be below zero.
    pub fn forward_delay_ms(&self) -> f64 {
        (self.received_us as f64 - self.seen_us as f64) / 1000.0
    }
}

#[derive(Debug, Default)]
struct ChainWindow {
    by_hash: HashMap<String, Forwarded>,
    order: VecDeque<(Instant, String)>,
}

#[derive(Debug, Default)]
struct Inner {
    summaries: BTreeMap<(String, String), (Instant, MempoolSummary)>,
    chains: BTreeMap<String, ChainWindow>,
}

/// The leader's mempool window.
#[derive(Debug, Default)]
pub struct MempoolWindow {
    inner: Mutex<Inner>,
}

/// A copy of the window for building the view.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WindowSnapshot {
    /// Fresh summaries: (chain, agent) to summary.
    pub summaries: BTreeMap<(String, String), MempoolSummary>,
    /// Forwarded transactions by chain, oldest first.
    pub forwarded: BTreeMap<String, Vec<Forwarded>>,
}

impl MempoolWindow {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets everything (this member took or left office).
    pub fn clear(&self) {
        *self.lock() = Inner::default();
    }

    /// Takes in `agent`'s report, received at `now` (`now_us` on the wall
    /// clock).
    pub fn take(&self, agent: &str, report: MempoolReport, now: Instant, now_us: u64) {
        let mut inner = self.lock();
        for summary in report.summaries {
            inner
                .summaries
                .insert((summary.chain.clone(), agent.to_owned()), (now, summary));
        }
        for sighting in report.sightings {
            let window = inner.chains.entry(sighting.chain.clone()).or_default();
            let seen_by = SeenBy {
                agent: agent.to_owned(),
                seen_us: sighting.seen_us,
                received_us: now_us,
            };
            match window.by_hash.get_mut(&sighting.hash) {
                Some(known) => {
                    if !known.seen.iter().any(|seen| seen.agent == agent) {
                        known.seen.push(seen_by);
                    }
                }
                None => {
                    window.order.push_back((now, sighting.hash.clone()));
                    window.by_hash.insert(
                        sighting.hash.clone(),
                        Forwarded {
                            hash: sighting.hash,
                            value_wei: sighting.value_wei,
                            from: sighting.from,
                            to: sighting.to,
                            reason: sighting.reason,
                            seen: vec![seen_by],
                        },
                    );
                }
            }
        }
        for window in inner.chains.values_mut() {
            while let Some((at, hash)) = window.order.front() {
                let expired = now.saturating_duration_since(*at) > WINDOW
                    || window.order.len() > MAX_PER_CHAIN;
                if !expired {
                    break;
                }
                window.by_hash.remove(hash);
                window.order.pop_front();
            }
        }
    }

    /// The fresh part of the window as of `now`.
    pub fn snapshot(&self, now: Instant) -> WindowSnapshot {
        let inner = self.lock();
        WindowSnapshot {
            summaries: inner
                .summaries
                .iter()
                .filter(|(_, (at, _))| now.saturating_duration_since(*at) <= SUMMARY_FRESH)
                .map(|(key, (_, summary))| (key.clone(), summary.clone()))
                .collect(),
            forwarded: inner
                .chains
                .iter()
                .map(|(chain, window)| {
                    let list = window
                        .order
                        .iter()
                        .filter_map(|(_, hash)| window.by_hash.get(hash).cloned())
                        .collect();
                    (chain.clone(), list)
                })
                .collect(),
        }
    }
}

/// The view of every chain in `snapshot`; a p50 over `spike_multiplier`
/// times its trailing median is a gas spike.
pub fn view(snapshot: &WindowSnapshot, spike_multiplier: f64) -> Vec<MempoolView> {
    let mut chains: BTreeMap<&str, Vec<(&str, &MempoolSummary)>> = BTreeMap::new();
    for ((chain, agent), summary) in &snapshot.summaries {
        chains
            .entry(chain.as_str())
            .or_default()
            .push((agent.as_str(), summary));
    }
    for chain in snapshot.forwarded.keys() {
        chains.entry(chain.as_str()).or_default();
    }
    chains
        .into_iter()
        .map(|(chain, agents)| {
            let forwarded = snapshot
                .forwarded
                .get(chain)
                .map(Vec::as_slice)
                .unwrap_or_default();
            chain_view(chain, &agents, forwarded, spike_multiplier)
        })
        .collect()
}

fn chain_view(
    chain: &str,
    agents: &[(&str, &MempoolSummary)],
    forwarded: &[Forwarded],
    spike_multiplier: f64,
) -> MempoolView {
    // The busiest streaming agent speaks for the chain's fees.
    let busiest = agents
        .iter()
        .filter(|(_, s)| s.streaming && s.fee_gwei.is_some())
        .max_by_key(|(_, s)| s.arrivals)
        .map(|(_, s)| *s);
    let fee_p50 = busiest.and_then(|s| s.fee_gwei).map(|f| f[0]);
    let trailing = busiest.and_then(|s| s.trailing_p50_gwei);
    let gas_spike = matches!((fee_p50, trailing), (Some(p50), Some(t)) if t > 0.0 && p50 > spike_multiplier * t);
    MempoolView {
        chain: chain.to_owned(),
        rate_per_s: agents.iter().map(|(_, s)| s.arrivals).max().unwrap_or(0) as f64,
        pending: agents.iter().filter_map(|(_, s)| s.pending).max(),
        queued: agents.iter().filter_map(|(_, s)| s.queued).max(),
        fee_p50_gwei: fee_p50,
        fee_p90_gwei: busiest.and_then(|s| s.fee_gwei).map(|f| f[1]),
        trailing_p50_gwei: trailing,
        gas_spike,
        high_value: high_value(forwarded),
        first_seen: first_seen(forwarded),
        agents: agents
            .iter()
            .map(|(agent, s)| AgentMempoolView {
                agent: (*agent).to_owned(),
                streaming: s.streaming,
                rate_per_s: s.arrivals,
                arrivals_total: s.arrivals_total,
                dropped_total: s.dropped_total,
                pending: s.pending,
                queued: s.queued,
                fee_p50_gwei: s.fee_gwei.map(|f| f[0]),
                error: s.error.clone(),
                forward_delay_ms: forward_delay(agent, forwarded),
            })
            .collect(),
    }
}

/// `agent`'s delay from sighting to the leader's receipt over the window:
/// p50 and p99 (nearest rank), ms; none before its first sighting.
pub fn forward_delay(agent: &str, forwarded: &[Forwarded]) -> Option<[f64; 2]> {
    let mut delays: Vec<f64> = forwarded
        .iter()
        .flat_map(|tx| tx.seen.iter())
        .filter(|seen| seen.agent == agent)
        .map(SeenBy::forward_delay_ms)
        .collect();
    if delays.is_empty() {
        return None;
    }
    delays.sort_unstable_by(f64::total_cmp);
    let rank =
        |p: f64| delays[((p * delays.len() as f64).ceil() as usize).clamp(1, delays.len()) - 1];
    Some([rank(0.50), rank(0.99)])
}

/// Sightings in time order, ties to the lowest agent id so the answer does
/// not depend on arrival order.
fn by_time(a: &&SeenBy, b: &&SeenBy) -> std::cmp::Ordering {
    a.seen_us.cmp(&b.seen_us).then(a.agent.cmp(&b.agent))
}

/// The earliest sighting of a transaction.
fn earliest(tx: &Forwarded) -> Option<&SeenBy> {
    tx.seen.iter().min_by(by_time)
}

fn high_value(forwarded: &[Forwarded]) -> Vec<HighValueView> {
    forwarded
        .iter()
        .rev()
        .filter(|tx| tx.reason == SightingReason::HighValue)
        .filter_map(|tx| {
            let first = earliest(tx)?;
            Some(HighValueView {
                hash: tx.hash.clone(),
                value_wei: tx.value_wei.to_string(),
                from: tx.from.clone(),
                to: tx.to.clone(),
                first_seen_by: first.agent.clone(),
                first_seen_ms: first.seen_us / 1000,
            })
        })
        .take(HIGH_VALUE_SHOWN)
        .collect()
}

/// Over the transactions two agents or more saw: each agent's share of
/// first sightings and its median lead over the next agent to see them.
pub fn first_seen(forwarded: &[Forwarded]) -> Vec<FirstSeenView> {
    let mut compared = 0u64;
    let mut per_agent: BTreeMap<&str, (u64, u64, Vec<f64>)> = BTreeMap::new();
    for tx in forwarded.iter().filter(|tx| tx.seen.len() >= 2) {
        let mut seen: Vec<&SeenBy> = tx.seen.iter().collect();
        seen.sort_by(by_time);
        compared += 1;
        let first = seen[0];
        let lead_ms = (seen[1].seen_us - first.seen_us) as f64 / 1000.0;
        for by in &seen {
            per_agent.entry(by.agent.as_str()).or_default().1 += 1;
        }
        let entry = per_agent.entry(first.agent.as_str()).or_default();
        entry.0 += 1;
        entry.2.push(lead_ms);
    }
    let mut table: Vec<FirstSeenView> = per_agent
        .into_iter()
        .map(|(agent, (first, seen, mut leads))| FirstSeenView {
            agent: agent.to_owned(),
            share: first as f64 / compared as f64,
            median_lead_ms: median(&mut leads),
            first,
            seen,
        })
        .collect();
    table.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.agent.cmp(&b.agent)));
    table
}

#[cfg(test)]
#[path = "mempool_tests.rs"]
mod tests;
