//! What QUIC's loss recovery did on the load generator's connections, summed
//! over every simulated agent: packets declared lost, congestion events,
//! datagrams and PINGs sent and received, and where the RTT estimates and
//! congestion windows stand. Read before and after a burst, it shows what
//! the burst did to the transport, which latencies alone do not.

use std::time::Duration;

use serde::Serialize;

/// The counters QUIC keeps per connection, summed over a set of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PathCounters {
    /// Packets sent.
    pub sent_packets: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Times a congestion controller cut its window.
    pub congestion_events: u64,
    /// UDP datagrams sent.
    pub datagrams_sent: u64,
    /// UDP datagrams received.
    pub datagrams_received: u64,
    /// PING frames sent: loss-recovery probes and keep-alives.
    pub pings_sent: u64,
}

impl PathCounters {
    fn add(&mut self, stats: &quinn::ConnectionStats) {
        self.sent_packets += stats.path.sent_packets;
        self.lost_packets += stats.path.lost_packets;
        self.congestion_events += stats.path.congestion_events;
        self.datagrams_sent += stats.udp_tx.datagrams;
        self.datagrams_received += stats.udp_rx.datagrams;
        self.pings_sent += stats.frame_tx.ping;
    }

    /// How far each counter moved since `before`.
    fn since(&self, before: &Self) -> Self {
        Self {
            sent_packets: self.sent_packets.saturating_sub(before.sent_packets),
            lost_packets: self.lost_packets.saturating_sub(before.lost_packets),
            congestion_events: self
                .congestion_events
                .saturating_sub(before.congestion_events),
            datagrams_sent: self.datagrams_sent.saturating_sub(before.datagrams_sent),
            datagrams_received: self
                .datagrams_received
                .saturating_sub(before.datagrams_received),
            pings_sent: self.pings_sent.saturating_sub(before.pings_sent),
        }
    }
}

/// Counters and estimates of a set of connections at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathsReading {
    /// The summed counters.
    pub counters: PathCounters,
    /// Each connection's smoothed RTT estimate.
    rtts: Vec<Duration>,
    /// Each connection's congestion window, in bytes.
    cwnds: Vec<u64>,
}

impl PathsReading {
    /// Reads every connection of `conns`.
    pub fn of(conns: &[quinn::Connection]) -> Self {
        let mut reading = Self {
            rtts: Vec::with_capacity(conns.len()),
            cwnds: Vec::with_capacity(conns.len()),
            ..Self::default()
        };
        for conn in conns {
            let stats = conn.stats();
            reading.counters.add(&stats);
            reading.rtts.push(stats.path.rtt);
            reading.cwnds.push(stats.path.cwnd);
        }
        reading.rtts.sort_unstable();
        reading.cwnds.sort_unstable();
        reading
    }

    /// What happened between `before` and this reading, with the estimates
    /// as they stand now.
    pub fn since(&self, before: &Self) -> PathsChange {
        let rtt_ms = |q: f64| nearest_rank(&self.rtts, q).map_or(0.0, |rtt| ms(*rtt));
        PathsChange {
            counters: self.counters.since(&before.counters),
            rtt_before_p50_ms: nearest_rank(&before.rtts, 0.5).map_or(0.0, |rtt| ms(*rtt)),
            rtt_p50_ms: rtt_ms(0.5),
            rtt_p99_ms: rtt_ms(0.99),
            cwnd_min_bytes: self.cwnds.first().copied().unwrap_or(0),
            cwnd_p50_bytes: nearest_rank(&self.cwnds, 0.5).copied().unwrap_or(0),
        }
    }
}

/// What a set of connections did over a span, summed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathsChange {
    /// How far the summed counters moved.
    #[serde(flatten)]
    pub counters: PathCounters,
    /// The median smoothed RTT estimate when the span began.
    pub rtt_before_p50_ms: f64,
    /// The median smoothed RTT estimate at its end.
    pub rtt_p50_ms: f64,
    /// The 99th percentile of the RTT estimates at its end.
    pub rtt_p99_ms: f64,
    /// The smallest congestion window at its end.
    pub cwnd_min_bytes: u64,
    /// The median congestion window at its end.
    pub cwnd_p50_bytes: u64,
}

impl std::fmt::Display for PathsChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} packets sent, {} declared lost, {} congestion events, {} datagrams out and {} in, \
             {} PINGs; RTT estimate p50 {:.1} -> {:.1} ms (p99 {:.1} ms); window min {} B, p50 {} B",
            self.counters.sent_packets,
            self.counters.lost_packets,
            self.counters.congestion_events,
            self.counters.datagrams_sent,
            self.counters.datagrams_received,
            self.counters.pings_sent,
            self.rtt_before_p50_ms,
            self.rtt_p50_ms,
            self.rtt_p99_ms,
            self.cwnd_min_bytes,
            self.cwnd_p50_bytes,
        )
    }
}

fn nearest_rank<T>(sorted: &[T], q: f64) -> Option<&T> {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(lost: u64, rtts_ms: &[u64], cwnds: &[u64]) -> PathsReading {
        PathsReading {
            counters: PathCounters {
                sent_packets: 10 * lost + 100,
                lost_packets: lost,
                congestion_events: lost / 2,
                datagrams_sent: 90,
                datagrams_received: 80,
                pings_sent: lost,
            },
            rtts: rtts_ms
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
            cwnds: cwnds.to_vec(),
        }
    }

    #[test]
    fn a_change_counts_only_what_happened_in_the_span() {
        let before = reading(4, &[5, 5, 6], &[12_000, 12_000, 12_000]);
        let mut after = reading(24, &[400, 420, 900], &[2_904, 8_400, 12_000]);
        after.counters.datagrams_sent = 190;
        let change = after.since(&before);
        assert_eq!(change.counters.lost_packets, 20);
        assert_eq!(change.counters.congestion_events, 10);
        assert_eq!(change.counters.sent_packets, 200);
        assert_eq!(change.counters.datagrams_sent, 100);
        assert_eq!(change.counters.datagrams_received, 0);
        assert_eq!(change.counters.pings_sent, 20);
        assert_eq!(change.rtt_before_p50_ms, 5.0);
        assert_eq!(change.rtt_p50_ms, 420.0);
        assert_eq!(change.rtt_p99_ms, 900.0);
        assert_eq!(change.cwnd_min_bytes, 2_904);
        assert_eq!(change.cwnd_p50_bytes, 8_400);
    }

    #[test]
    fn no_connections_read_as_zeroes() {
        let none = PathsReading::of(&[]);
        let change = none.since(&none);
        assert_eq!(change.counters.lost_packets, 0);
        assert_eq!(change.rtt_p50_ms, 0.0);
        assert_eq!(change.cwnd_min_bytes, 0);
    }
}
