//! A Prometheus histogram read off a `/metrics` page, and percentiles of
//! what it counted between two readings (each a bucket's upper bound, so
//! "at most").

use serde::Serialize;

/// One reading of a histogram: cumulative counts by upper bound (seconds,
/// `+Inf` last) and the sum.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HistogramReading {
    buckets: Vec<(f64, u64)>,
    sum_seconds: f64,
}

impl HistogramReading {
    /// Reads histogram `name` from an exposition; `None` when it is absent.
    pub fn parse(page: &str, name: &str) -> Option<Self> {
        let bucket_prefix = format!("{name}_bucket{{le=\"");
        let sum_prefix = format!("{name}_sum ");
        let mut reading = Self::default();
        for line in page.lines() {
            if let Some(rest) = line.strip_prefix(&bucket_prefix) {
                let (bound, count) = rest.split_once("\"} ")?;
                let bound = if bound == "+Inf" {
                    f64::INFINITY
                } else {
                    bound.parse().ok()?
                };
                reading.buckets.push((bound, count.trim().parse().ok()?));
            } else if let Some(sum) = line.strip_prefix(&sum_prefix) {
                reading.sum_seconds = sum.trim().parse().ok()?;
            }
        }
        (!reading.buckets.is_empty()).then_some(reading)
    }

    /// What was counted after `earlier` up to this reading.
    pub fn since(&self, earlier: &Self) -> BucketedLatency {
        let counts: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .map(|(bound, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(b, _)| b == bound)
                    .map_or(0, |(_, c)| *c);
                (*bound, count.saturating_sub(before))
            })
            .collect();
        let count = counts.last().map_or(0, |(_, c)| *c);
        let at_most = |q: f64| {
            let wanted = (q * count as f64).ceil().max(1.0) as u64;
            counts
                .iter()
                .find(|(_, c)| *c >= wanted)
                .map_or(f64::INFINITY, |(bound, _)| bound * 1000.0)
        };
        let sum = (self.sum_seconds - earlier.sum_seconds).max(0.0);
        BucketedLatency {
            count,
            mean_ms: if count == 0 {
                0.0
            } else {
                sum * 1000.0 / count as f64
            },
            p50_at_most_ms: at_most(0.50),
            p99_at_most_ms: at_most(0.99),
            max_at_most_ms: at_most(1.0),
        }
    }
}

/// Percentiles from a histogram: each is the upper bound of the bucket it
/// falls in.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BucketedLatency {
    /// How many were counted.
    pub count: u64,
    /// Their mean.
    pub mean_ms: f64,
    /// The median is at most this.
    pub p50_at_most_ms: f64,
    /// The 99th percentile is at most this.
    pub p99_at_most_ms: f64,
    /// The largest is at most this (infinite when over every bound).
    pub max_at_most_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(counts: [u64; 4], sum: f64) -> String {
        format!(
            "# TYPE h histogram\nh_bucket{{le=\"0.001\"}} {}\nh_bucket{{le=\"0.01\"}} {}\n\
             h_bucket{{le=\"0.1\"}} {}\nh_bucket{{le=\"+Inf\"}} {}\nh_sum {sum}\nh_count {}\n",
            counts[0], counts[1], counts[2], counts[3], counts[3]
        )
    }

    #[test]
    fn percentiles_of_what_was_counted_between_two_readings() {
        let before = HistogramReading::parse(&page([10, 10, 10, 10], 0.005), "h").expect("parsed");
        let after =
            HistogramReading::parse(&page([108, 109, 110, 110], 0.105), "h").expect("parsed");
        let latency = after.since(&before);
        assert_eq!(latency.count, 100);
        assert!((latency.mean_ms - 1.0).abs() < 1e-9, "{latency:?}");
        assert_eq!(latency.p50_at_most_ms, 1.0);
        assert_eq!(latency.p99_at_most_ms, 10.0);
        assert_eq!(latency.max_at_most_ms, 100.0);
    }

    #[test]
    fn a_missing_histogram_reads_as_none() {
        assert_eq!(HistogramReading::parse("other 1\n", "h"), None);
    }
}
