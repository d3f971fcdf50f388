//! Known chains, their ids and nominal block times, and the health states a
//! chain node can be in.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A chain mevfleet knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnownChain {
    /// The name used in config and the CLI.
    pub name: &'static str,
    /// The EIP-155 chain id `eth_chainId` must return.
    pub chain_id: u64,
    /// Nominal time between blocks.
    pub block_time: Duration,
    /// Whether mempool streaming is on by default: ethereum and polygon only
    /// (Arbitrum and Base have no public mempool; Optimism's is the
    /// sequencer's and not worth streaming by default).
    pub mempool_by_default: bool,
}

/// The chains of the design's table. Other chain ids may be configured with
/// an explicit block time.
pub const KNOWN_CHAINS: [KnownChain; 5] = [
    KnownChain {
        name: "ethereum",
        chain_id: 1,
        block_time: Duration::from_secs(12),
        mempool_by_default: true,
    },
    KnownChain {
        name: "arbitrum",
        chain_id: 42161,
        block_time: Duration::from_millis(250),
        mempool_by_default: false,
    },
    KnownChain {
        name: "optimism",
        chain_id: 10,
        block_time: Duration::from_secs(2),
        mempool_by_default: false,
    },
    KnownChain {
        name: "base",
        chain_id: 8453,
        block_time: Duration::from_secs(2),
        mempool_by_default: false,
    },
    KnownChain {
        name: "polygon",
        chain_id: 137,
        block_time: Duration::from_secs(2),
        mempool_by_default: true,
    },
];

/// Looks a chain up by its configured name.
pub fn known_chain(name: &str) -> Option<&'static KnownChain> {
    KNOWN_CHAINS.iter().find(|chain| chain.name == name)
}

/// Whether mempool streaming is on by default for a chain name; chains
/// configured by id only default to off.
pub fn mempool_default(name: &str) -> bool {
    known_chain(name).is_some_and(|chain| chain.mempool_by_default)
}

/// The health verdict for one chain node, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthState {
    /// Everything within limits.
    Healthy,
    /// Few peers or high RPC latency: usable, but not preferred.
    Degraded,
    /// The head block is older than k times the block time.
    Stale,
    /// Behind the corroborated fleet head by more than the lag limit.
    Lagging,
    /// `eth_syncing` is not `false`.
    Syncing,
    /// Unreachable, refusing, timing out or failing too often.
    Down,
    /// `eth_chainId` differs from the configured chain: never eligible.
    WrongChain,
}

impl HealthState {
    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Healthy => "healthy",
            HealthState::Degraded => "degraded",
            HealthState::Stale => "stale",
            HealthState::Lagging => "lagging",
            HealthState::Syncing => "syncing",
            HealthState::Down => "down",
            HealthState::WrongChain => "wrong_chain",
        }
    }

    /// The verdict for a node is the worst of its checks.
    pub fn worst(self, other: HealthState) -> HealthState {
        self.max(other)
    }
}

impl fmt::Display for HealthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_chains_match_the_design_table() {
        let eth = known_chain("ethereum").expect("ethereum is known");
        assert_eq!((eth.chain_id, eth.block_time), (1, Duration::from_secs(12)));
        assert_eq!(known_chain("arbitrum").map(|c| c.chain_id), Some(42161));
        assert_eq!(
            known_chain("arbitrum").map(|c| c.block_time),
            Some(Duration::from_millis(250))
        );
        assert_eq!(known_chain("base").map(|c| c.chain_id), Some(8453));
        assert!(known_chain("solana").is_none());
        assert!(mempool_default("ethereum") && mempool_default("polygon"));
        assert!(!mempool_default("arbitrum") && !mempool_default("base"));
    }

    #[test]
    fn the_verdict_is_the_worst_check() {
        use HealthState::*;
        assert_eq!(Healthy.worst(Degraded), Degraded);
        assert_eq!(Down.worst(Syncing), Down);
        assert_eq!(Down.worst(WrongChain), WrongChain);
        assert_eq!(Stale.worst(Lagging), Lagging);
    }
}
