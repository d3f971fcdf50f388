//! The dev fleet's processes: started with their output in log files,
//! watched, and stopped with SIGTERM (then SIGKILL after a grace period),
//! newest first, so agents stop before the coordinators they report to.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{kill_process, Pid, Signal};

use crate::cli::CliError;

/// A started process.
#[derive(Debug)]
pub struct DevChild {
    /// What it is (`coordinator-1`, `anvil host-a/ethereum`).
    pub name: String,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl DevChild {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Every process of the dev fleet.
#[derive(Debug, Default)]
pub struct Children {
    running: Vec<DevChild>,
}

impl Children {
    /// Starts `command` as `name`, with stdout and stderr in `logs/<file>.log`.
    pub fn spawn(
        &mut self,
        name: &str,
        mut command: Command,
        logs: &Path,
    ) -> Result<u32, CliError> {
        let file_name: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let log = logs.join(format!("{file_name}.log"));
        let out = File::create(&log)
            .map_err(|err| CliError::Failed(format!("cannot create {}: {err}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|err| CliError::Failed(format!("{}: {err}", log.display())))?;
        let program = command.get_program().to_string_lossy().into_owned();
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|err| CliError::Failed(format!("cannot start {name} ({program}): {err}")))?;
        let pid = child.id();
        self.running.push(DevChild {
            name: name.to_owned(),
            log,
            child,
        });
        Ok(pid)
    }

    /// The started processes, oldest first.
    pub fn list(&self) -> &[DevChild] {
        &self.running
    }

    /// Processes that have exited: what, how, and where its log is.
    pub fn exited(&mut self) -> Vec<String> {
        self.running
            .iter_mut()
            .filter_map(|c| match c.child.try_wait() {
                Ok(Some(status)) => Some(format!("{} {status} (see {})", c.name, c.log.display())),
                _ => None,
            })
            .collect()
    }

    /// Stops everything: SIGTERM newest first, then SIGKILL whatever is
    /// still running after `grace`.
    pub fn stop_all(&mut self, grace: Duration) {
        for child in self.running.iter().rev() {
            if let Some(pid) = Pid::from_raw(child.child.id() as i32) {
                let _gone = kill_process(pid, Signal::TERM);
            }
        }
        let deadline = Instant::now() + grace;
        for child in self.running.iter_mut().rev() {
            loop {
                match child.child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() >= deadline => {
                        eprintln!(
                            "{} did not stop within {} s: killing it",
                            child.name,
                            grace.as_secs()
                        );
                        let _killed = child.child.kill();
                        let _reaped = child.child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        }
        self.running.clear();
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.running {
            let _killed = child.child.kill();
            let _reaped = child.child.wait();
        }
    }
}
