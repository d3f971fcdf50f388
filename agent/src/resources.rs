//! Applying the fleet's cgroup weights to this host's chain services: each
//! `[[services]]` unit with a `chain` gets that chain's weight as its CPU
//! and IO weight, through `systemctl set-property --runtime` where systemd
//! runs, or by writing `cpu.weight` and `io.weight` under
//! `[resources] cgroup_root`. A change under 10 % of what was applied is
//! not re-applied. The `set-resources` built-in applies weights by hand
//! until the fleet's weights change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mevfleet_common::alloc::worth_applying;
use mevfleet_common::shutdown::Shutdown;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, info_span, warn, Instrument};

use crate::config::ServiceConfig;

/// How weights reach the services.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `systemctl set-property --runtime UNIT CPUWeight=N IOWeight=N`.
    Systemd,
    /// Files under a cgroup v2 folder, one folder per unit.
    Cgroup(PathBuf),
    /// Neither: weights are not applied (and the log says so).
    Unavailable,
}

impl Backend {
    /// The cgroup folder if configured, else systemd if it runs here.
    pub fn detect(cgroup_root: Option<&Path>) -> Self {
        match cgroup_root {
            Some(root) => Backend::Cgroup(root.to_owned()),
            None if Path::new("/run/systemd/system").exists() => Backend::Systemd,
            None => Backend::Unavailable,
        }
    }
}

/// A request to apply weights by hand; answered with what was applied.
type Manual = (
    BTreeMap<String, u32>,
    oneshot::Sender<Result<String, String>>,
);

/// The handle the `set-resources` built-in uses.
#[derive(Clone, Debug)]
pub struct ResourceHandle {
    manual: mpsc::UnboundedSender<Manual>,
}

impl ResourceHandle {
    /// Applies `weights` (by chain) now; what was applied, or why not.
    pub async fn apply(&self, weights: BTreeMap<String, u32>) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.manual
            .send((weights, tx))
            .map_err(|_| "the resource applier has stopped".to_owned())?;
        rx.await
            .map_err(|_| "the resource applier has stopped".to_owned())?
    }
}

/// Applies weights to units, remembering what it applied.
#[derive(Debug)]
pub struct Applier {
    backend: Backend,
    units: Vec<(String, String)>,
    applied: BTreeMap<String, u32>,
}

impl Applier {
    /// An applier for the `services` that name a chain.
    pub fn new(backend: Backend, services: &[ServiceConfig]) -> Self {
        Self {
            backend,
            units: services
                .iter()
                .filter_map(|s| Some((s.unit.clone(), s.chain.clone()?)))
                .collect(),
            applied: BTreeMap::new(),
        }
    }

    /// Applies `weights` (by chain) to the units of those chains, unless
    /// `damped` and the change is under 10 %; a line per unit changed.
    pub async fn apply(
        &mut self,
        weights: &BTreeMap<String, u32>,
        damped: bool,
    ) -> Result<Vec<String>, String> {
        let mut done = Vec::new();
        let mut failures = Vec::new();
        for (unit, chain) in &self.units {
            let Some(&weight) = weights.get(chain) else {
                continue;
            };
            if damped && !worth_applying(self.applied.get(unit).copied(), weight) {
                continue;
            }
            match write_weight(&self.backend, unit, weight).await {
                Ok(()) => {
                    self.applied.insert(unit.clone(), weight);
                    done.push(format!("{unit} ({chain}): weight {weight}"));
                }
                Err(why) => failures.push(format!("{unit}: {why}")),
            }
        }
        if failures.is_empty() {
            Ok(done)
        } else {
            Err(failures.join("; "))
        }
    }
}

async fn write_weight(backend: &Backend, unit: &str, weight: u32) -> Result<(), String> {
    match backend {
        Backend::Cgroup(root) => {
            let dir = root.join(unit);
            if !dir.is_dir() {
                return Err(format!("no cgroup folder {}", dir.display()));
            }
            for file in ["cpu.weight", "io.weight"] {
                let path = dir.join(file);
                tokio::fs::write(&path, format!("{weight}\n"))
                    .await
                    .map_err(|err| format!("{}: {err}", path.display()))?;
            }
            Ok(())
        }
        Backend::Systemd => {
            let status = tokio::process::Command::new("systemctl")
                .args([
                    "set-property",
                    "--runtime",
                    unit,
                    &format!("CPUWeight={weight}"),
                    &format!("IOWeight={weight}"),
                ])
                .output()
                .await
                .map_err(|err| format!("cannot run systemctl: {err}"))?;
            if status.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "systemctl set-property failed: {}",
                    String::from_utf8_lossy(&status.stderr).trim()
                ))
            }
        }
        Backend::Unavailable => {
            Err("no systemd here and no [resources] cgroup_root configured".into())
        }
    }
}

/// Starts applying the fleet's weights as they change (`fleet`), and
/// manual ones from the returned handle.
pub fn spawn(
    mut applier: Applier,
    mut fleet: watch::Receiver<BTreeMap<String, u32>>,
    shutdown: &Shutdown,
) -> ResourceHandle {
    let (manual_tx, mut manual) = mpsc::unbounded_channel::<Manual>();
    let token = shutdown.token().clone();
    shutdown.spawn(
        "resource-applier",
        async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    changed = fleet.changed() => {
                        if changed.is_err() {
                            break;
                        }
                        let weights = fleet.borrow_and_update().clone();
                        match applier.apply(&weights, true).await {
                            Ok(done) if done.is_empty() => {}
                            Ok(done) => info!(applied = %done.join(", "), "applied the fleet's weights"),
                            Err(why) => warn!(reason = %why, "cannot apply the fleet's weights"),
                        }
                    }
                    request = manual.recv() => {
                        let Some((weights, answer)) = request else { break };
                        let result = applier.apply(&weights, false).await.map(|done| {
                            if done.is_empty() {
                                "no service of these chains on this host".to_owned()
                            } else {
                                done.join("\n")
                            }
                        });
                        let _gone = answer.send(result);
                    }
                }
            }
        }
        .instrument(info_span!("resource-applier")),
    );
    ResourceHandle { manual: manual_tx }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(unit: &str, chain: Option<&str>) -> ServiceConfig {
        ServiceConfig {
            unit: unit.into(),
            chain: chain.map(str::to_owned),
        }
    }

    fn read(root: &Path, unit: &str, file: &str) -> String {
        std::fs::read_to_string(root.join(unit).join(file)).unwrap_or_default()
    }

    #[tokio::test]
    async fn weights_are_written_per_unit_and_small_changes_are_damped() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        for unit in ["erigon.service", "nitro.service", "mev-boost.service"] {
            std::fs::create_dir(root.path().join(unit))?;
        }
        let services = [
            service("erigon.service", Some("ethereum")),
            service("nitro.service", Some("arbitrum")),
            service("mev-boost.service", None),
        ];
        let mut applier = Applier::new(Backend::Cgroup(root.path().to_owned()), &services);
        let weights = |pairs: &[(&str, u32)]| -> BTreeMap<String, u32> {
            pairs.iter().map(|(c, w)| ((*c).to_owned(), *w)).collect()
        };

        let done = applier
            .apply(&weights(&[("ethereum", 400), ("arbitrum", 200)]), true)
            .await;
        assert_eq!(done.map(|d| d.len()), Ok(2));
        assert_eq!(read(root.path(), "erigon.service", "cpu.weight"), "400\n");
        assert_eq!(read(root.path(), "erigon.service", "io.weight"), "400\n");
        assert_eq!(read(root.path(), "nitro.service", "cpu.weight"), "200\n");
        assert_eq!(
            read(root.path(), "mev-boost.service", "cpu.weight"),
            "",
            "no chain: untouched"
        );

        // 400 -> 430 is under 10 %: not re-applied; 200 -> 250 is.
        let done = applier
            .apply(&weights(&[("ethereum", 430), ("arbitrum", 250)]), true)
            .await;
        assert_eq!(
            done,
            Ok(vec!["nitro.service (arbitrum): weight 250".to_owned()])
        );
        assert_eq!(read(root.path(), "erigon.service", "cpu.weight"), "400\n");
        // By hand, nothing is damped.
        applier
            .apply(&weights(&[("ethereum", 430)]), false)
            .await
            .map_err(anyhow::Error::msg)?;
        assert_eq!(read(root.path(), "erigon.service", "cpu.weight"), "430\n");

        // A unit without its cgroup folder is reported by name.
        std::fs::remove_dir_all(root.path().join("nitro.service"))?;
        let err = applier.apply(&weights(&[("arbitrum", 1000)]), true).await;
        assert!(
            err.as_ref()
                .is_err_and(|e| e.contains("nitro.service: no cgroup folder")),
            "{err:?}"
        );
        Ok(())
    }
}
