//! What an agent reports about its host: per-chain node readings, host
//! resources, watched services and mev-boost, and the durable records it
//! spools until a coordinator has committed them. Shared by the agent (which
//! builds them), the coordinator (which keeps them) and the CLI (which
//! prints them).

use serde::{Deserialize, Serialize};

use crate::chain::HealthState;

/// One chain node as the agent last probed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The chain's configured name.
    pub chain: String,
    /// The agent's local verdict (lag is the coordinator's to add).
    pub state: HealthState,
    /// The latest block number, if the node ever answered.
    pub head: Option<u64>,
    /// The latest block's timestamp (seconds since the Unix epoch).
    pub head_timestamp: Option<u64>,
    /// Whether `eth_syncing` was anything but `false`.
    pub syncing: Option<bool>,
    /// `net_peerCount`, where the node reports it.
    pub peers: Option<u64>,
    /// The head request's latency in microseconds.
    pub rpc_latency_us: Option<u64>,
    /// The chain id the node reported.
    pub chain_id: Option<u64>,
    /// Why the last probe failed, if it did.
    pub error: Option<String>,
}

impl ChainReport {
    /// The latency in milliseconds, as shown to operators.
    pub fn rpc_latency_ms(&self) -> Option<f64> {
        self.rpc_latency_us.map(|us| us as f64 / 1000.0)
    }
}

/// Usage of one watched filesystem path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskReport {
    /// The configured path.
    pub path: String,
    /// Bytes in the filesystem.
    pub total_bytes: u64,
    /// Bytes available to unprivileged users.
    pub available_bytes: u64,
    /// Used share in whole percent (as `df` shows it).
    pub used_percent: u8,
    /// Why it could not be read, if it could not.
    pub error: Option<String>,
}

/// The host's resources.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostReport {
    /// CPU busy share over the last interval, in whole percent of all cores.
    pub cpu_percent: u8,
    /// Number of CPUs.
    pub cpus: u32,
    /// Memory in use (total minus available), bytes.
    pub memory_used_bytes: u64,
    /// Total memory, bytes.
    pub memory_total_bytes: u64,
    /// Load averages over 1, 5 and 15 minutes, in hundredths.
    pub load_centi: [u32; 3],
    /// Watched paths.
    pub disks: Vec<DiskReport>,
}

/// A watched systemd unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceReport {
    /// The unit name.
    pub unit: String,
    /// The chain the unit serves, if configured.
    pub chain: Option<String>,
    /// systemd's ActiveState (`active`, `failed`, ...), or `unknown` where
    /// systemd is not running on the host.
    pub active: String,
    /// systemd's SubState (`running`, `dead`, ...), if known.
    pub sub: Option<String>,
    /// How often systemd restarted it (`NRestarts`), if known.
    pub restarts: Option<u32>,
}

impl ServiceReport {
    /// Whether the unit is in a state an operator must look at.
    pub fn is_failed(&self) -> bool {
        matches!(self.active.as_str(), "failed" | "inactive")
    }
}

/// One relay behind mev-boost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayReport {
    /// The relay's URL (without credentials).
    pub url: String,
    /// Whether its status endpoint answered 200.
    pub ok: bool,
    /// Why not, if not.
    pub error: Option<String>,
}

/// The local mev-boost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MevBoostReport {
    /// mev-boost's URL.
    pub url: String,
    /// Whether `/eth/v1/builder/status` answered 200.
    pub ok: bool,
    /// Its latency in microseconds, when it answered.
    pub latency_us: Option<u64>,
    /// Why not, if not.
    pub error: Option<String>,
    /// The configured relays.
    pub relays: Vec<RelayReport>,
}

/// A change of sections since the last acknowledged heartbeat: only what
/// changed is sent; a new session starts with everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportDelta {
    /// Chains whose report changed.
    pub chains: Vec<ChainReport>,
    /// The host, if it changed.
    pub host: Option<HostReport>,
    /// The services, if any changed (the whole list).
    pub services: Option<Vec<ServiceReport>>,
    /// mev-boost, if it changed.
    pub mev_boost: Option<MevBoostReport>,
}

impl ReportDelta {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.chains.is_empty()
            && self.host.is_none()
            && self.services.is_none()
            && self.mev_boost.is_none()
    }
}

/// Everything an agent reports, as last known: the agent takes each
/// heartbeat's delta against the last acknowledged one, and the leader
/// merges the deltas back into its copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentReports {
    /// Chain reports by chain name.
    pub chains: std::collections::BTreeMap<String, ChainReport>,
    /// The host, once read.
    pub host: Option<HostReport>,
    /// Watched units.
    pub services: Vec<ServiceReport>,
    /// mev-boost, once read (never when none is configured).
    pub mev_boost: Option<MevBoostReport>,
}

impl AgentReports {
    /// What changed since `base` (everything when there is none).
    pub fn delta_since(&self, base: Option<&AgentReports>) -> ReportDelta {
        let Some(base) = base else {
            return ReportDelta {
                chains: self.chains.values().cloned().collect(),
                host: self.host.clone(),
                services: Some(self.services.clone()),
                mev_boost: self.mev_boost.clone(),
            };
        };
        ReportDelta {
            chains: self
                .chains
                .values()
                .filter(|chain| base.chains.get(&chain.chain) != Some(chain))
                .cloned()
                .collect(),
            host: self
                .host
                .clone()
                .filter(|host| base.host.as_ref() != Some(host)),
            services: Some(self.services.clone()).filter(|s| *s != base.services),
            mev_boost: self
                .mev_boost
                .clone()
                .filter(|boost| base.mev_boost.as_ref() != Some(boost)),
        }
    }

    /// Merges what a heartbeat says changed.
    pub fn merge(&mut self, delta: ReportDelta) {
        for chain in delta.chains {
            self.chains.insert(chain.chain.clone(), chain);
        }
        if let Some(host) = delta.host {
            self.host = Some(host);
        }
        if let Some(services) = delta.services {
            self.services = services;
        }
        if let Some(mev_boost) = delta.mev_boost {
            self.mev_boost = Some(mev_boost);
        }
    }
}

/// Something an agent must report durably: spooled on its disk until a
/// coordinator has committed it, applied exactly once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpoolRecord {
    /// A chain node's local verdict changed.
    ChainTransition {
        /// The chain.
        chain: String,
        /// The verdict before.
        from: HealthState,
        /// The verdict after.
        to: HealthState,
        /// When, on the agent's clock (ms since the Unix epoch).
        at_ms: u64,
        /// The failure behind it, if any.
        reason: Option<String>,
    },
    /// A write the gateway accepted or refused.
    Execution(Execution),
    /// What became of an accepted transaction.
    Inclusion(Inclusion),
    /// Where a fleet command stands on this agent.
    Command(crate::command::CommandResult),
    /// The agent puts itself in (or out of) safe mode (the `safe-mode`
    /// built-in action).
    SafeMode {
        /// On or off.
        on: bool,
    },
    /// The agent drains (or undrains) itself (the `drain` built-in action).
    Drain {
        /// On or off.
        on: bool,
    },
}

/// A write through an executor gateway.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The chain.
    pub chain: String,
    /// The JSON-RPC method.
    pub method: String,
    /// The transaction (or bundle) hash the node returned, when accepted.
    pub hash: Option<String>,
    /// `x-mevfleet-strategy`.
    pub strategy: Option<String>,
    /// `x-mevfleet-expected-profit-wei`.
    pub expected_profit_wei: Option<u128>,
    /// The lease epoch it went out under (0 when refused without one).
    pub epoch: u64,
    /// When (ms since the Unix epoch, agent's clock).
    pub at_ms: u64,
    /// Whether it went out to the node.
    pub accepted: bool,
    /// Why not, when refused (by the gateway or the node).
    pub reason: Option<String>,
    /// The JSON-RPC error code of a refusal: -32001, -32002 or -32003 from
    /// the gateway, the node's or relay's own code otherwise.
    pub refusal_code: Option<i64>,
}

/// A transaction's fate, followed until its receipt (or given up).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inclusion {
    /// The chain.
    pub chain: String,
    /// The transaction hash.
    pub hash: String,
    /// The block it was included in; none when it was not seen in time.
    pub block: Option<u64>,
    /// Whether the receipt says it succeeded.
    pub success: bool,
    /// When it was settled (ms since the Unix epoch, agent's clock).
    pub at_ms: u64,
}

/// A spooled record with its place in the agent's spool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spooled {
    /// Position in the spool, increasing from 1, never reused.
    pub seq: u64,
    /// The record.
    pub record: SpoolRecord,
}

#[cfg(test)]
mod tests {
    use crate::chain::HealthState;

    use super::*;

    fn chain(name: &str, head: u64) -> ChainReport {
        ChainReport {
            chain: name.into(),
            state: HealthState::Healthy,
            head: Some(head),
            head_timestamp: Some(1),
            syncing: Some(false),
            peers: None,
            rpc_latency_us: Some(800),
            chain_id: Some(1),
            error: None,
        }
    }

    fn snapshot(heads: &[(&str, u64)], cpu: u8) -> AgentReports {
        AgentReports {
            chains: heads
                .iter()
                .map(|(name, head)| ((*name).to_owned(), chain(name, *head)))
                .collect(),
            host: Some(HostReport {
                cpu_percent: cpu,
                ..HostReport::default()
            }),
            services: Vec::new(),
            mev_boost: None,
        }
    }

    #[test]
    fn a_heartbeat_carries_only_what_changed() {
        let base = snapshot(&[("ethereum", 10), ("base", 20)], 5);
        let full = base.delta_since(None);
        assert_eq!(full.chains.len(), 2);
        assert!(full.host.is_some() && full.services.is_some());

        assert!(base.delta_since(Some(&base)).is_empty());

        let next = snapshot(&[("ethereum", 10), ("base", 21)], 5);
        let delta = next.delta_since(Some(&base));
        assert_eq!(delta.chains, vec![chain("base", 21)]);
        assert!(delta.host.is_none() && delta.services.is_none());

        let busier = snapshot(&[("ethereum", 10), ("base", 21)], 50);
        let delta = busier.delta_since(Some(&next));
        assert!(delta.chains.is_empty());
        assert_eq!(delta.host.map(|h| h.cpu_percent), Some(50));
    }
}
