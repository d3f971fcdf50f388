//! Running the built binaries: locating them, capturing their output, and
//! stopping them (SIGTERM, or kill -9) when a test ends.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::wait::wait_until;

/// The path of a workspace binary in the same target folder as the test.
/// `cargo nextest run --workspace` builds them (the agent and coordinator
/// packages have integration tests of their own, which makes cargo build
/// their binaries).
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the process knows its own path");
    // Tests run from <target>/<profile>/deps, benchmark binaries from
    // <target>/<profile>: look beside the executable, then one level up.
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join(name))
        .collect();
    candidates.iter().find(|path| path.exists()).cloned().unwrap_or_else(|| {
        panic!(
            "{name} is missing beside {}: build the binaries first (cargo build --workspace --bins)",
            exe.display()
        )
    })
}

/// A child process whose stderr is captured, stopped when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl ChildProcess {
    /// Starts `command` with stderr captured (and stdout discarded), logging
    /// at `info`.
    pub fn spawn(command: Command) -> anyhow::Result<Self> {
        Self::spawn_with_log_level(command, "info")
    }

    /// Starts `command` with stderr captured, logging at `log_level`.
    pub fn spawn_with_log_level(mut command: Command, log_level: &str) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .env("RUST_LOG", log_level)
            .spawn()?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut text) = sink.lock() {
                        text.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        Ok(Self { child, stderr })
    }

    /// What the process has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`.
    pub async fn wait_for_log(&self, needle: &str, deadline: Duration) -> anyhow::Result<()> {
        wait_until(&format!("log line `{needle}`"), deadline, || async {
            self.stderr().contains(needle).then_some(())
        })
        .await
        .map_err(|err| anyhow::anyhow!("{err}\n--- stderr:\n{}", self.stderr()))
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Kills the process with SIGKILL (no chance to flush or clean up) and
    /// reaps it.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit.
    pub async fn terminate(&mut self, deadline: Duration) -> anyhow::Result<ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let child = &mut self.child;
        wait_until("the process to exit", deadline, || {
            let status = child.try_wait().ok().flatten();
            async move { status }
        })
        .await
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _already_gone = self.child.kill();
        let _reaped = self.child.wait();
    }
}
