//! Real Ethereum nodes for the suites: anvil (installed into `.tools/` by
//! scripts/setup.sh), on a port it picks, stopped (SIGKILL, like a crash)
//! and restarted on the same port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An anvil node.
#[derive(Debug)]
pub struct Anvil {
    chain_id: u64,
    block_time: Option<f64>,
    addr: SocketAddr,
    child: Option<Child>,
}

fn anvil_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.tools/anvil");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    path
}

fn spawn(port: u16, chain_id: u64, block_time: Option<f64>) -> anyhow::Result<(Child, SocketAddr)> {
    let mut command = Command::new(anvil_path());
    command
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--chain-id",
            &chain_id.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(seconds) = block_time {
        command.args(["--block-time", &seconds.to_string()]);
    }
    let mut child = command.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("anvil stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Reads anvil's banner for the port, then keeps draining its output.
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !sent {
                if let Some(addr) = line
                    .strip_prefix("Listening on ")
                    .and_then(|a| a.trim().parse::<SocketAddr>().ok())
                {
                    let _receiver_gone = tx.send(addr);
                    sent = true;
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(addr) => Ok((child, addr)),
        Err(_) => {
            let _killed = child.kill();
            anyhow::bail!("anvil did not report its address within 30 s")
        }
    }
}

impl Anvil {
    /// Starts anvil with `chain_id`, mining every `block_time` seconds (or
    /// on each transaction when `None`).
    pub fn start(chain_id: u64, block_time: Option<f64>) -> anyhow::Result<Self> {
        let (child, addr) = spawn(0, chain_id, block_time)?;
        Ok(Self {
            chain_id,
            block_time,
            addr,
            child: Some(child),
        })
    }

    /// The node's JSON-RPC URL.
    pub fn url(&self) -> url::Url {
        format!("http://{}", self.addr)
            .parse()
            .expect("a socket address is a valid URL host")
    }

    /// The node's WebSocket URL (anvil serves both on one port).
    pub fn ws_url(&self) -> url::Url {
        format!("ws://{}", self.addr)
            .parse()
            .expect("a socket address is a valid URL host")
    }

    /// The node's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the node with SIGKILL.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the node again on the same port (a fresh chain).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        let (child, _) = spawn(self.addr.port(), self.chain_id, self.block_time)?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _already_gone = self.kill();
    }
}
