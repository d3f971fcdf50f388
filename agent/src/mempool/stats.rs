//! One chain's mempool accounting, free of I/O: dedup by hash with a TTL,
//! the arrivals and fee caps of the current second, percentiles and a
//! trailing median when a second completes, and which transactions are
//! selected for the coordinator. The stream feeds it; time is passed in.
//! Memory is bounded at any arrival rate: hashes by the dedup's capacity,
//! fees by a fixed-size uniform sample of the second.

use std::collections::{BTreeSet, VecDeque};

use alloy::primitives::{Address, B256};
use mevfleet_common::mempool::{median, MempoolSummary, Sighting, SightingReason};

use super::decode::PendingTx;
use super::dedup::Dedup;

/// How many past seconds' p50 the trailing median looks at.
const TRAILING_SECONDS: usize = 60;

/// Fee caps kept for one second's percentiles. Up to this many a second
/// (far above any public chain's pending rate) every fee counts; beyond
/// it a uniform sample of this size stands for the second, which puts the
/// p99 within a fraction of a percent and keeps memory and the per-second
/// sort bounded.
const FEE_SAMPLE: usize = 8192;

/// Which transactions are selected for the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selection {
    /// A transaction worth at least this (wei) is high value.
    pub high_value_wei: u128,
    /// Transactions from or to these are forwarded.
    pub watched: BTreeSet<Address>,
    /// Forward every transaction.
    pub forward_all: bool,
}

/// One chain's mempool figures.
#[derive(Debug)]
pub struct ChainStats {
    chain: String,
    selection: Selection,
    dedup: Dedup,
    second: u64,
    arrivals: u64,
    fees: FeeSample,
    arrivals_total: u64,
    dropped_total: u64,
    trailing: VecDeque<f64>,
    finished: Option<MempoolSummary>,
    last_fees: Option<[f64; 3]>,
}

/// What taking in one transaction gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Seen before (within the TTL).
    Duplicate,
    /// New and not selected.
    Counted,
    /// New and selected for the coordinator.
    Selected(Sighting),
}

impl ChainStats {
    /// Empty figures for `chain`.
    pub fn new(chain: &str, selection: Selection, dedup: Dedup) -> Self {
        Self {
            chain: chain.to_owned(),
            selection,
            dedup,
            second: 0,
            arrivals: 0,
            fees: FeeSample::default(),
            arrivals_total: 0,
            dropped_total: 0,
            trailing: VecDeque::with_capacity(TRAILING_SECONDS),
            finished: None,
            last_fees: None,
        }
    }

    /// Readies the dedup for these hashes, about to arrive: see
    /// [`Dedup::prepare`].
    pub fn prepare<'h>(&self, hashes: impl Iterator<Item = &'h B256>) {
        self.dedup.prepare(hashes);
    }

    /// A hash arrived (hash mode): whether it is new. Its fee and value
    /// come later with [`Self::fetched`].
    pub fn hash_arrived(&mut self, hash: B256, now_us: u64) -> bool {
        if !self.dedup.first_time(hash, now_us) {
            return false;
        }
        self.count_arrival(now_us);
        true
    }

    /// A whole transaction arrived at `now_us` (full mode).
    pub fn arrived(&mut self, tx: &PendingTx, now_us: u64) -> Taken {
        if !self.dedup.first_time(tx.hash, now_us) {
            return Taken::Duplicate;
        }
        self.count_arrival(now_us);
        self.describe(tx, now_us)
    }

    /// A transaction first seen as a hash at `seen_us` was fetched.
    pub fn fetched(&mut self, tx: &PendingTx, seen_us: u64) -> Taken {
        self.describe(tx, seen_us)
    }

    /// Transactions that could not be taken in (bad frames, full queues).
    pub fn dropped(&mut self, count: u64) {
        self.dropped_total += count;
    }

    fn count_arrival(&mut self, now_us: u64) {
        self.advance(now_us / 1_000_000);
        self.arrivals += 1;
        self.arrivals_total += 1;
    }

    /// Moves to `second`, keeping the summary of the one that ended until
    /// [`Self::roll`] takes it.
    fn advance(&mut self, second: u64) {
        if self.second == 0 {
            self.second = second;
        } else if second > self.second {
            self.finished = Some(self.summary_of_current());
            self.roll_to(second);
        }
    }

    fn describe(&mut self, tx: &PendingTx, seen_us: u64) -> Taken {
        if let Some(fee) = tx.fee_cap_wei() {
            if seen_us / 1_000_000 == self.second {
                self.fees.add(fee);
            }
        }
        let value = tx.value_wei();
        let watched = |a: &Option<Address>| a.is_some_and(|a| self.selection.watched.contains(&a));
        let reason = if value >= self.selection.high_value_wei {
            SightingReason::HighValue
        } else if watched(&tx.from) || watched(&tx.to) {
            SightingReason::Watched
        } else if self.selection.forward_all {
            SightingReason::All
        } else {
            return Taken::Counted;
        };
        Taken::Selected(Sighting {
            chain: self.chain.clone(),
            hash: tx.hash.to_string(),
            value_wei: value,
            from: tx.from.map(|a| a.to_string()),
            to: tx.to.map(|a| a.to_string()),
            seen_us,
            reason,
        })
    }

    /// Ends the seconds before `now_us`: the summary of the last second
    /// that ended and was not taken yet (none before a second has ended).
    pub fn roll(&mut self, now_us: u64) -> Option<MempoolSummary> {
        self.advance(now_us / 1_000_000);
        self.finished.take()
    }

    fn summary_of_current(&self) -> MempoolSummary {
        MempoolSummary {
            chain: self.chain.clone(),
            second: self.second,
            streaming: true,
            arrivals: self.arrivals,
            arrivals_total: self.arrivals_total,
            dropped_total: self.dropped_total,
            pending: None,
            queued: None,
            fee_gwei: percentiles(&self.fees.kept).or(self.last_fees),
            trailing_p50_gwei: median(&mut self.trailing.iter().copied().collect::<Vec<_>>()),
            error: None,
        }
    }

    fn roll_to(&mut self, second: u64) {
        if let Some(fees @ [p50, _, _]) = percentiles(&self.fees.kept) {
            self.last_fees = Some(fees);
            if self.trailing.len() == TRAILING_SECONDS {
                self.trailing.pop_front();
            }
            self.trailing.push_back(p50);
        }
        self.second = second;
        self.arrivals = 0;
        self.fees.clear();
    }
}

/// One second's fee caps: all of them up to [`FEE_SAMPLE`], then a uniform
/// sample of that size (reservoir sampling, Vitter's algorithm R).
#[derive(Debug)]
struct FeeSample {
    kept: Vec<u128>,
    seen: u64,
    /// xorshift64* state: fast, and uniform enough for sampling.
    random: u64,
}

impl Default for FeeSample {
    fn default() -> Self {
        Self {
            kept: Vec::new(),
            seen: 0,
            random: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

impl FeeSample {
    fn add(&mut self, fee: u128) {
        self.seen += 1;
        if self.kept.len() < FEE_SAMPLE {
            self.kept.push(fee);
            return;
        }
        // The n-th fee replaces a kept one with probability FEE_SAMPLE / n.
        let slot = (u128::from(self.next_random()) * u128::from(self.seen)) >> 64;
        if let Some(kept) = self.kept.get_mut(slot as usize) {
            *kept = fee;
        }
    }

    fn next_random(&mut self) -> u64 {
        self.random ^= self.random >> 12;
        self.random ^= self.random << 25;
        self.random ^= self.random >> 27;
        self.random.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn clear(&mut self) {
        self.kept.clear();
        self.seen = 0;
    }
}

/// p50, p90 and p99 of fee caps in wei, as gwei (nearest rank).
fn percentiles(fees: &[u128]) -> Option<[f64; 3]> {
    if fees.is_empty() {
        return None;
    }
    let mut sorted = fees.to_vec();
    sorted.sort_unstable();
    let rank = |p: f64| {
        let index = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
        sorted[index] as f64 / 1e9
    };
    Some([rank(0.50), rank(0.90), rank(0.99)])
}

#[cfg(test)]
#[path = "stats_tests.rs"]
mod tests;
