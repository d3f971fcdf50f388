//! What waits to go to the coordinator about the mempool: each chain's
//! latest summary and the selected transactions, in a bounded queue that
//! counts what it drops rather than slow the stream down. The uplink takes
//! a report whenever it is woken; `/metrics` reads the latest summaries.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use mevfleet_common::mempool::{MempoolReport, MempoolSummary, Sighting};
use tokio::sync::Notify;

/// The mempool reports waiting for the uplink.
#[derive(Debug)]
pub struct Outbox {
    inner: Mutex<Inner>,
    ready: Notify,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    unsent: BTreeMap<String, MempoolSummary>,
    latest: BTreeMap<String, MempoolSummary>,
    sightings: VecDeque<Sighting>,
    dropped: u64,
}

impl Outbox {
    /// An outbox holding at most `capacity` selected transactions.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            ready: Notify::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A chain's summary of its last second (replaces an unsent one).
    pub fn summary(&self, summary: MempoolSummary) {
        let mut inner = self.lock();
        inner.latest.insert(summary.chain.clone(), summary.clone());
        inner.unsent.insert(summary.chain.clone(), summary);
        drop(inner);
        self.ready.notify_one();
    }

    /// A selected transaction; false when the queue is full and it was
    /// dropped (and counted).
    pub fn sighting(&self, sighting: Sighting) -> bool {
        let mut inner = self.lock();
        if inner.sightings.len() >= self.capacity {
            inner.dropped += 1;
            return false;
        }
        inner.sightings.push_back(sighting);
        drop(inner);
        self.ready.notify_one();
        true
    }

    /// Everything waiting, if anything is.
    pub fn take(&self) -> Option<MempoolReport> {
        let mut inner = self.lock();
        if inner.unsent.is_empty() && inner.sightings.is_empty() {
            return None;
        }
        Some(MempoolReport {
            summaries: std::mem::take(&mut inner.unsent).into_values().collect(),
            sightings: inner.sightings.drain(..).collect(),
            sightings_dropped_total: inner.dropped,
        })
    }

    /// Waits until something was added since the last wait.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Each chain's latest summary, sent or not.
    pub fn latest(&self) -> Vec<MempoolSummary> {
        self.lock().latest.values().cloned().collect()
    }

    /// Selected transactions dropped since the agent started.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mevfleet_common::mempool::SightingReason;

    fn sighting(n: u64) -> Sighting {
        Sighting {
            chain: "ethereum".into(),
            hash: format!("0x{n:064x}"),
            value_wei: 1,
            from: None,
            to: None,
            seen_us: n,
            reason: SightingReason::HighValue,
        }
    }

    fn summary(chain: &str, second: u64) -> MempoolSummary {
        MempoolSummary {
            chain: chain.into(),
            second,
            streaming: true,
            arrivals: 1,
            arrivals_total: second,
            dropped_total: 0,
            pending: None,
            queued: None,
            fee_gwei: None,
            trailing_p50_gwei: None,
            error: None,
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_take_empties_it() {
        let outbox = Outbox::new(2);
        assert!(outbox.take().is_none());
        assert!(outbox.sighting(sighting(1)) && outbox.sighting(sighting(2)));
        assert!(!outbox.sighting(sighting(3)));
        outbox.summary(summary("ethereum", 10));
        outbox.summary(summary("ethereum", 11));
        outbox.summary(summary("polygon", 11));
        let report = outbox.take().expect("a report");
        let seen: Vec<u64> = report.sightings.iter().map(|s| s.seen_us).collect();
        assert_eq!(seen, vec![1, 2]);
        assert_eq!(report.sightings_dropped_total, 1);
        let seconds: Vec<(String, u64)> = report
            .summaries
            .iter()
            .map(|s| (s.chain.clone(), s.second))
            .collect();
        assert_eq!(
            seconds,
            vec![("ethereum".into(), 11), ("polygon".into(), 11)],
            "only the newest unsent summary of each chain"
        );
        assert!(outbox.take().is_none());
        assert_eq!(outbox.latest().len(), 2, "the latest stay for /metrics");
        assert!(outbox.sighting(sighting(4)), "room again");
    }
}
