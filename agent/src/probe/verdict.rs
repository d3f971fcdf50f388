//! The local health verdict for one chain node, as a pure function of its
//! probe samples: what the agent can judge alone (down, wrong chain,
//! syncing, stale, degraded). Lag against the fleet head is the
//! coordinator's to judge. Hard failures act after a few consecutive failed
//! probes; a node that was down comes back only after consecutive good ones,
//! so one lucky answer does not flap it.

use std::collections::VecDeque;
use std::time::Duration;

use mevfleet_common::chain::HealthState;

/// What one successful probe read from the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeReading {
    /// `eth_chainId`.
    pub chain_id: u64,
    /// Whether `eth_syncing` was anything but `false`.
    pub syncing: bool,
    /// The latest block number.
    pub head: u64,
    /// The latest block's timestamp (seconds since the Unix epoch).
    pub head_timestamp: u64,
    /// `net_peerCount`, or `None` where the node does not report peers.
    pub peers: Option<u64>,
    /// How long the head request took.
    pub latency: Duration,
}

/// One probe's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample {
    /// The node answered.
    Read(NodeReading),
    /// The node refused, timed out or answered with an error.
    Failed(String),
}

/// The thresholds of the local verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerdictPolicy {
    /// The chain id the node must report.
    pub chain_id: u64,
    /// The chain's nominal block time.
    pub block_time: Duration,
    /// A head older than this many block times is stale.
    pub stale_after_blocks: u32,
    /// Fewer peers than this is degraded (where peers are reported).
    pub min_peers: u32,
    /// An RPC latency above this is degraded.
    pub high_latency: Duration,
    /// Consecutive failed probes before the node is down.
    pub failures_before_down: u32,
    /// Consecutive good probes before a down node counts as up again.
    pub successes_before_up: u32,
}

/// The verdict's memory between samples.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalHealth {
    /// The current verdict.
    pub state: HealthState,
    /// Failed probes in a row.
    pub failures: u32,
    /// Good probes in a row.
    pub successes: u32,
    /// The last reading, if any.
    pub last: Option<NodeReading>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// The latencies of the last good probes, newest last; the verdict
    /// judges their median, so one slow answer does not degrade a node.
    pub latencies: VecDeque<Duration>,
}

/// How many latencies the median is taken over.
pub const LATENCY_WINDOW: usize = 5;

impl Default for LocalHealth {
    /// A node not yet probed counts as down until it answers.
    fn default() -> Self {
        Self {
            state: HealthState::Down,
            failures: 0,
            successes: 0,
            last: None,
            last_error: None,
            latencies: VecDeque::with_capacity(LATENCY_WINDOW),
        }
    }
}

impl LocalHealth {
    /// Takes one sample at `now_unix` (seconds) and returns the new verdict.
    pub fn observe(
        &mut self,
        sample: Sample,
        now_unix: u64,
        policy: &VerdictPolicy,
    ) -> HealthState {
        match sample {
            Sample::Failed(reason) => {
                self.failures = self.failures.saturating_add(1);
                self.successes = 0;
                self.last_error = Some(reason);
                if self.failures >= policy.failures_before_down {
                    self.state = HealthState::Down;
                }
            }
            Sample::Read(reading) => {
                self.failures = 0;
                self.successes = self.successes.saturating_add(1);
                self.last_error = None;
                if self.latencies.len() == LATENCY_WINDOW {
                    self.latencies.pop_front();
                }
                self.latencies.push_back(reading.latency);
                let smoothed = NodeReading {
                    latency: self.median_latency(),
                    ..reading.clone()
                };
                let judged = judge(&smoothed, now_unix, policy);
                let recovering = self.state == HealthState::Down && self.last.is_some();
                if !recovering || self.successes >= policy.successes_before_up {
                    self.state = judged;
                }
                self.last = Some(reading);
            }
        }
        self.state
    }

    /// The median of the recent latencies (zero before any good probe).
    pub fn median_latency(&self) -> Duration {
        let mut sorted: Vec<Duration> = self.latencies.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

/// The verdict of one good reading: the worst of its checks.
pub fn judge(reading: &NodeReading, now_unix: u64, policy: &VerdictPolicy) -> HealthState {
    if reading.chain_id != policy.chain_id {
        return HealthState::WrongChain;
    }
    if reading.syncing {
        return HealthState::Syncing;
    }
    let stale_after = policy
        .block_time
        .saturating_mul(policy.stale_after_blocks)
        .as_secs()
        .max(1);
    if now_unix.saturating_sub(reading.head_timestamp) > stale_after {
        return HealthState::Stale;
    }
    let few_peers = reading
        .peers
        .is_some_and(|peers| peers < u64::from(policy.min_peers));
    if few_peers || reading.latency > policy.high_latency {
        return HealthState::Degraded;
    }
    HealthState::Healthy
}

#[cfg(test)]
#[path = "verdict_tests.rs"]
mod tests;
