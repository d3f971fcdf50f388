//! What the agent reports: a snapshot of every probe's latest result, and
//! the delta between two snapshots that a heartbeat carries (only the
//! sections that changed; everything when there is no base).

use std::collections::BTreeMap;

use mevfleet_common::report::{
    ChainReport, HostReport, MevBoostReport, ReportDelta, ServiceReport,
};
use tokio::sync::watch;

use crate::probe::chain::ChainStatus;

/// Every probe's latest result.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Chain reports by chain.
    pub chains: BTreeMap<String, ChainReport>,
    /// The host, once read.
    pub host: Option<HostReport>,
    /// Watched units.
    pub services: Vec<ServiceReport>,
    /// mev-boost, once read (never when none is configured).
    pub mev_boost: Option<MevBoostReport>,
}

impl Snapshot {
    /// What changed since `base` (everything when there is none).
    pub fn delta_since(&self, base: Option<&Snapshot>) -> ReportDelta {
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
}

/// The probes' result channels.
#[derive(Clone, Debug)]
pub struct Sources {
    /// One per configured chain.
    pub chains: Vec<watch::Receiver<ChainStatus>>,
    /// The host probe.
    pub host: watch::Receiver<Option<HostReport>>,
    /// The service probe.
    pub services: watch::Receiver<Vec<ServiceReport>>,
    /// The mev-boost probe.
    pub mev_boost: watch::Receiver<Option<MevBoostReport>>,
}

impl Sources {
    /// The latest of everything.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            chains: self
                .chains
                .iter()
                .map(|status| {
                    let report = status.borrow().report();
                    (report.chain.clone(), report)
                })
                .collect(),
            host: self.host.borrow().clone(),
            services: self.services.borrow().clone(),
            mev_boost: self.mev_boost.borrow().clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use mevfleet_common::chain::HealthState;

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

    fn snapshot(heads: &[(&str, u64)], cpu: u8) -> Snapshot {
        Snapshot {
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
