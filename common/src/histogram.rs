//! A latency histogram that many tasks record into without a lock, written
//! out as a Prometheus histogram (cumulative `_bucket`s, `_sum`, `_count`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::exposition::Exposition;

/// Bucket upper bounds in seconds: 10 µs to 5 s, about three per decade.
const BOUNDS_SECONDS: [f64; 18] = [
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Counts of durations by bucket, with their sum.
#[derive(Debug, Default)]
pub struct LatencyHistogram {
    /// Per bucket, not cumulative; the last counts what is above every bound.
    counts: [AtomicU64; BOUNDS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one duration.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = BOUNDS_SECONDS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BOUNDS_SECONDS.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many durations were recorded.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// Writes the histogram family `name` (its unit is seconds).
    pub fn write(&self, out: &mut Exposition, name: &str, help: &str) {
        out.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in BOUNDS_SECONDS.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            out.sample(&bucket, &format!("le=\"{bound}\""), cumulative);
        }
        cumulative += self.counts[BOUNDS_SECONDS.len()].load(Ordering::Relaxed);
        out.sample(&bucket, "le=\"+Inf\"", cumulative);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        out.sample(&format!("{name}_sum"), "", sum);
        out.sample(&format!("{name}_count"), "", cumulative);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(histogram: &LatencyHistogram) -> String {
        let mut out = Exposition::new();
        histogram.write(&mut out, "x_seconds", "Test.");
        out.finish()
    }

    #[test]
    fn buckets_are_cumulative_and_bounds_inclusive() {
        let histogram = LatencyHistogram::new();
        histogram.observe(Duration::from_micros(50));
        histogram.observe(Duration::from_micros(51));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(9));
        let text = written(&histogram);
        assert!(text.contains("# TYPE x_seconds histogram"), "{text}");
        assert!(
            text.contains("x_seconds_bucket{le=\"0.00005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.0001\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.0025\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("x_seconds_bucket{le=\"0.005\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("x_seconds_bucket{le=\"5\"} 3\n"), "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("x_seconds_count 4\n"), "{text}");
        assert!(text.contains("x_seconds_sum 9.003101\n"), "{text}");
        assert_eq!(histogram.count(), 4);
    }

    #[test]
    fn an_empty_histogram_is_still_a_whole_family() {
        let text = written(&LatencyHistogram::new());
        assert_eq!(text.matches("x_seconds_bucket").count(), 19, "{text}");
        assert!(text.contains("x_seconds_bucket{le=\"+Inf\"} 0\n"), "{text}");
        assert!(text.contains("x_seconds_sum 0\n"), "{text}");
    }
}
