//! The limits the leader judges the fleet by: heartbeat timings, when an
//! agent counts as lost, the grace a new leader gives agents to reconnect,
//! per-chain policies and alert thresholds.

use std::collections::BTreeMap;
use std::time::Duration;

use mevfleet_common::wire::agent::ChainLimits;

use crate::config::{
    AlertsConfig, ChainPolicyConfig, HttpToken, RoutineConfig, ValidCoordinatorConfig,
};

/// How far back `check` looks for overnight alerts.
pub const OVERNIGHT: Duration = Duration::from_secs(12 * 3600);

/// The leader's limits.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetPolicy {
    /// How often agents heartbeat.
    pub heartbeat: Duration,
    /// How long an executor lease lasts.
    pub lease: Duration,
    /// An agent silent for longer than this is lost.
    pub agent_lost: Duration,
    /// A new leader waits this long for agents to reconnect before it marks
    /// any of them lost.
    pub leader_grace: Duration,
    /// Configured chain policies by name (others get the defaults).
    pub chains: BTreeMap<String, ChainPolicyConfig>,
    /// Alert thresholds.
    pub alerts: AlertsConfig,
    /// Bearer tokens for HTTP writes.
    pub http_tokens: Vec<HttpToken>,
    /// Routine automation.
    pub routine: RoutineConfig,
    /// The routine's windows, parsed (minutes of the day, UTC).
    pub windows: Vec<(u32, u32)>,
}

impl Default for FleetPolicy {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_millis(250),
            lease: Duration::from_millis(3000),
            agent_lost: Duration::from_secs(3),
            leader_grace: Duration::from_secs(10),
            chains: BTreeMap::new(),
            alerts: AlertsConfig::default(),
            http_tokens: Vec::new(),
            routine: RoutineConfig::default(),
            windows: vec![(0, 120)],
        }
    }
}

impl FleetPolicy {
    /// The policy a coordinator's config sets.
    pub fn from_config(config: &ValidCoordinatorConfig) -> Self {
        let failover = &config.config.failover;
        Self {
            heartbeat: Duration::from_millis(failover.heartbeat_ms),
            lease: Duration::from_millis(failover.lease_ms),
            agent_lost: Duration::from_millis(failover.agent_lost_ms),
            leader_grace: Duration::from_millis(failover.leader_grace_ms),
            chains: config
                .chains
                .iter()
                .map(|(name, policy)| (name.clone(), policy.config))
                .collect(),
            alerts: config.config.alerts,
            http_tokens: config.config.http_tokens.clone(),
            routine: config.config.routine.clone(),
            // Validated when the config was loaded.
            windows: config
                .config
                .routine
                .windows
                .iter()
                .filter_map(|w| super::routine::parse_window(w).ok())
                .collect(),
        }
    }

    /// The policy for `chain`.
    pub fn chain(&self, chain: &str) -> ChainPolicyConfig {
        self.chains.get(chain).copied().unwrap_or_default()
    }

    /// Heard from within this long: connected.
    pub fn connected_within(&self) -> Duration {
        self.heartbeat.saturating_mul(4).max(Duration::from_secs(1))
    }

    /// The limits an agent serving `chains` applies in its own verdict.
    pub fn limits_for(&self, chains: &[String]) -> Vec<ChainLimits> {
        chains
            .iter()
            .map(|chain| {
                let policy = self.chain(chain);
                ChainLimits {
                    chain: chain.clone(),
                    stale_after_blocks: policy.stale_after_blocks,
                    min_peers: policy.min_peers,
                    high_latency_ms: self.alerts.high_latency_ms,
                }
            })
            .collect()
    }
}
