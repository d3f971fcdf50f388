//! Shared pieces of the mevfleet benchmarks: latency statistics, process
//! footprints, simulated agents, their QUIC paths and the mempool firehose.

pub mod etcd;
pub mod firehose;
pub mod footprint;
pub mod quic_paths;
pub mod scraped;
pub mod sim;

use std::time::Duration;

use serde::Serialize;

/// Latency percentiles of a run, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    /// Number of samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest sample.
    pub max_ms: f64,
}

impl Latency {
    /// Percentiles of `samples` (nearest-rank).
    pub fn of(samples: &mut [Duration]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[index].as_secs_f64() * 1000.0
        };
        Some(Self {
            count: samples.len(),
            p50_ms: rank(0.50),
            p90_ms: rank(0.90),
            p99_ms: rank(0.99),
            max_ms: rank(1.0),
        })
    }
}

/// The middle value of `values` (the upper one of an even count); 0 when
/// empty. Sorts `values`.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let latency = Latency::of(&mut samples).expect("samples");
        assert_eq!(
            (latency.p50_ms, latency.p99_ms, latency.max_ms),
            (50.0, 99.0, 100.0)
        );
        assert!(Latency::of(&mut []).is_none());
    }
}
