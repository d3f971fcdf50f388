//! What the agent reports: every probe's latest result, read from the
//! probes' channels as one [`AgentReports`] (whose `delta_since` is what a
//! heartbeat carries).

use mevfleet_common::report::{AgentReports, HostReport, MevBoostReport, ServiceReport};
use tokio::sync::watch;

use crate::probe::chain::ChainStatus;

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
    pub fn snapshot(&self) -> AgentReports {
        AgentReports {
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
