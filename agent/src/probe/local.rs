//! The slower probes of the host itself: resources and disks, the watched
//! systemd units, and mev-boost with its relays, on `[probe]
//! host_interval_ms`, each published on its own watch channel.

use std::time::Duration;

use mevfleet_common::report::{HostReport, MevBoostReport, ServiceReport};
use mevfleet_common::shutdown::Shutdown;
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::host::HostProbe;
use super::mev_boost::StatusClient;
use super::service;
use crate::config::AgentConfig;

/// The channels the host probes publish on.
#[derive(Clone, Debug)]
pub struct LocalProbes {
    /// Host resources, after the first reading.
    pub host: watch::Receiver<Option<HostReport>>,
    /// Watched units.
    pub services: watch::Receiver<Vec<ServiceReport>>,
    /// mev-boost, after the first reading (never without `[mev_boost]`).
    pub mev_boost: watch::Receiver<Option<MevBoostReport>>,
}

/// Starts the host probes as one tracked task of `shutdown`.
pub fn spawn(config: &AgentConfig, shutdown: &Shutdown) -> LocalProbes {
    let (host_tx, host) = watch::channel(None);
    let (services_tx, services) = watch::channel(Vec::new());
    let (boost_tx, mev_boost) = watch::channel(None);
    let interval = Duration::from_millis(config.probe.host_interval_ms);
    let units = config.services.clone();
    let boost = config.mev_boost.clone();
    let mut host_probe = HostProbe::new(config.probe.disks.clone());
    let client = StatusClient::new(interval.min(Duration::from_secs(5)));
    let token = shutdown.token().clone();
    shutdown.spawn("host-probe", async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = ticks.tick() => {}
            }
            host_tx.send_replace(Some(host_probe.read()));
            if !units.is_empty() {
                services_tx.send_replace(service::read(&units).await);
            }
            if let Some(boost) = &boost {
                boost_tx.send_replace(Some(client.read(boost).await));
            }
        }
    });
    LocalProbes {
        host,
        services,
        mev_boost,
    }
}
