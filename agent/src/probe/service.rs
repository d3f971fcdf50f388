//! Watched systemd units: `systemctl show` for their ActiveState, SubState
//! and restart count. Where systemd is not running (a container, a dev
//! machine) every unit is reported `unknown`, not failed.

use std::path::Path;
use std::time::Duration;

use mevfleet_common::report::ServiceReport;
use tokio::process::Command;

use crate::config::ServiceConfig;

/// How long one `systemctl show` may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether systemd is the running init (as `sd_booted()` decides).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Reads `ActiveState`, `SubState` and `NRestarts` from `systemctl show` output.
pub fn parse_show(unit: &ServiceConfig, output: &str) -> ServiceReport {
    let field = |name: &str| {
        output
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix('='))
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    ServiceReport {
        unit: unit.unit.clone(),
        chain: unit.chain.clone(),
        active: field("ActiveState").unwrap_or("unknown").to_owned(),
        sub: field("SubState").map(str::to_owned),
        restarts: field("NRestarts").and_then(|n| n.parse().ok()),
    }
}

fn unknown(unit: &ServiceConfig) -> ServiceReport {
    ServiceReport {
        unit: unit.unit.clone(),
        chain: unit.chain.clone(),
        active: "unknown".into(),
        sub: None,
        restarts: None,
    }
}

/// One reading of every unit.
pub async fn read(units: &[ServiceConfig]) -> Vec<ServiceReport> {
    if !systemd_running() {
        return units.iter().map(unknown).collect();
    }
    let mut reports = Vec::with_capacity(units.len());
    for unit in units {
        let show = Command::new("systemctl")
            .args(["show", "--property=ActiveState,SubState,NRestarts", "--"])
            .arg(&unit.unit)
            .kill_on_drop(true)
            .output();
        let report = match tokio::time::timeout(SYSTEMCTL_TIMEOUT, show).await {
            Ok(Ok(output)) if output.status.success() => {
                parse_show(unit, &String::from_utf8_lossy(&output.stdout))
            }
            _ => unknown(unit),
        };
        reports.push(report);
    }
    reports
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_systemctl_show() {
        let unit = ServiceConfig {
            unit: "erigon.service".into(),
            chain: Some("ethereum".into()),
        };
        let report = parse_show(&unit, "NRestarts=3\nActiveState=failed\nSubState=failed\n");
        assert_eq!(report.active, "failed");
        assert_eq!(report.sub.as_deref(), Some("failed"));
        assert_eq!(report.restarts, Some(3));
        assert!(report.is_failed());
        let empty = parse_show(&unit, "");
        assert_eq!((empty.active.as_str(), empty.restarts), ("unknown", None));
    }
}
