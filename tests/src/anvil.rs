//! Real Ethereum nodes for the suites: anvil (installed into `.tools/` by
//! scripts/setup.sh), on a port it picks, stopped (SIGKILL, like a crash)
//! and restarted on the same port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// When anvil mines.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mining {
    /// A block per transaction (`None`) or every so many seconds.
    Blocks(Option<f64>),
    /// Never (`--no-mining`): transactions stay pending.
    Off,
}

/// An anvil node.
#[derive(Debug)]
pub struct Anvil {
    chain_id: u64,
    mining: Mining,
    addr: SocketAddr,
    child: Option<Child>,
}

/// The first dev account anvil funds (and signs for).
pub const DEV_ACCOUNT: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/// The second dev account.
pub const OTHER_ACCOUNT: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

fn anvil_path() -> PathBuf {
    let path =
        mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR")).join(".tools/anvil");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup.sh",
        path.display()
    );
    path
}

fn spawn(port: u16, chain_id: u64, mining: Mining) -> anyhow::Result<(Child, SocketAddr)> {
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
    match mining {
        Mining::Blocks(Some(seconds)) => {
            command.args(["--block-time", &seconds.to_string()]);
        }
        Mining::Blocks(None) => {}
        Mining::Off => {
            command.arg("--no-mining");
        }
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
        Self::start_mining(chain_id, Mining::Blocks(block_time))
    }

    /// Starts anvil with `chain_id` and no mining: transactions stay in
    /// its pool.
    pub fn start_without_mining(chain_id: u64) -> anyhow::Result<Self> {
        Self::start_mining(chain_id, Mining::Off)
    }

    fn start_mining(chain_id: u64, mining: Mining) -> anyhow::Result<Self> {
        let (child, addr) = spawn(0, chain_id, mining)?;
        Ok(Self {
            chain_id,
            mining,
            addr,
            child: Some(child),
        })
    }

    /// The node's JSON-RPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A transfer of `value_wei` from the dev account to the other one at
    /// `nonce`, with a fee cap of `fee_gwei`, signed by the node
    /// (`eth_signTransaction`): the raw transaction, valid on any anvil of
    /// the same chain id.
    pub async fn signed_transfer(
        &self,
        nonce: u64,
        value_wei: u128,
        fee_gwei: u64,
    ) -> anyhow::Result<String> {
        let signed = crate::json_rpc(
            self.addr,
            "eth_signTransaction",
            serde_json::json!([{"from": DEV_ACCOUNT, "to": OTHER_ACCOUNT,
                "value": format!("0x{value_wei:x}"), "gas": "0x5208", "nonce": format!("0x{nonce:x}"),
                "maxFeePerGas": format!("0x{:x}", u128::from(fee_gwei) * 1_000_000_000),
                "maxPriorityFeePerGas": "0x1"}]),
        )
        .await?;
        signed["result"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("anvil did not sign: {signed}"))
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
        let (child, _) = spawn(self.addr.port(), self.chain_id, self.mining)?;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _already_gone = self.kill();
    }
}
