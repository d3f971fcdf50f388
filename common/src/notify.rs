//! The systemd notify protocol (`Type=notify` units): `READY=1` once a
//! daemon serves, `WATCHDOG=1` three times per `WatchdogSec` from a task on
//! the daemon's runtime (a wedged runtime stops pinging and systemd
//! restarts the process), and `STOPPING=1` when it begins to stop. Without
//! `NOTIFY_SOCKET` (not under systemd) every call does nothing.

use std::time::Duration;

use sd_notify::NotifyState;
use tracing::{info, warn};

use crate::shutdown::Shutdown;

fn send(state: NotifyState<'_>) {
    if let Err(err) = sd_notify::notify(false, &[state]) {
        warn!(error = %err, "cannot notify systemd");
    }
}

/// The daemon serves: tells systemd, and pings its watchdog (if it asks
/// for one) until `shutdown`.
pub fn ready(shutdown: &Shutdown) {
    send(NotifyState::Ready);
    let mut usec = 0;
    if !sd_notify::watchdog_enabled(false, &mut usec) || usec == 0 {
        return;
    }
    let every = Duration::from_micros(usec) / 3;
    info!(
        watchdog_ms = (usec / 1000),
        ping_ms = every.as_millis() as u64,
        "systemd watchdog armed"
    );
    let token = shutdown.token().clone();
    shutdown.spawn("watchdog", async move {
        let mut pings = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = token.cancelled() => break,
                _ = pings.tick() => send(NotifyState::Watchdog),
            }
        }
    });
}

/// The daemon begins to stop.
pub fn stopping() {
    send(NotifyState::Stopping);
}
