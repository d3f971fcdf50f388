//! `failover`: how long a chain goes without an executor. Two agents on two
//! anvil nodes (chain 1), a 3-member coordinator cluster, real processes.
//! Node death: the executor's anvil is killed; measured until the first
//! write the standby's gateway accepts. Agent death: the executor's agent
//! is killed with SIGKILL; same measure (the standby must wait out the dead
//! agent's lease). Gateway overhead: the same JSON-RPC read sent straight to
//! anvil and through the gateway, alternately. Prints one JSON object.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use mevfleet_bench::Latency;
use mevfleet_tests::{json_rpc, Anvil, TestFleet};
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Debug, Parser)]
#[command(about = "Executor failover times and the gateway's overhead")]
struct Args {
    /// Node-death trials.
    #[arg(long, default_value_t = 20)]
    node_trials: usize,
    /// Agent-death trials.
    #[arg(long, default_value_t = 20)]
    agent_trials: usize,
    /// Requests for the overhead measurement (each way).
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Signed transactions for the write overhead (each way).
    #[arg(long, default_value_t = 500)]
    writes: usize,
    /// Where to write every process's log at the end, to explain outliers
    /// (trial lines carry the kill's Unix time in ms).
    #[arg(long)]
    logs: Option<std::path::PathBuf>,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    lease_ms: u64,
    node_death_to_first_write: Option<Latency>,
    agent_death_to_first_write: Option<Latency>,
    direct_read: Option<Latency>,
    gateway_read: Option<Latency>,
    gateway_overhead_ratio_p50: f64,
    direct_write: Option<Latency>,
    gateway_write: Option<Latency>,
    gateway_write_overhead_ratio_p50: f64,
}

const DEV: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OTHER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const DEADLINE: Duration = Duration::from_secs(60);

struct Bench {
    fleet: TestFleet,
    nodes: Vec<(String, Anvil, SocketAddr)>,
}

impl Bench {
    fn node(&mut self, agent: &str) -> anyhow::Result<&mut (String, Anvil, SocketAddr)> {
        self.nodes
            .iter_mut()
            .find(|(id, _, _)| id == agent)
            .ok_or_else(|| anyhow::anyhow!("no agent {agent}"))
    }

    async fn executor(&self) -> anyhow::Result<String> {
        let (agent, _) = self.fleet.executor_of("ethereum", None, DEADLINE).await?;
        Ok(agent)
    }
}

async fn send(gateway: SocketAddr) -> Option<Value> {
    json_rpc(
        gateway,
        "eth_sendTransaction",
        json!([{"from": DEV, "to": OTHER, "value": "0x1"}]),
    )
    .await
    .ok()
}

/// Sends every 5 ms until a write is accepted; returns when.
async fn first_accepted(gateway: SocketAddr) -> anyhow::Result<Instant> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(answer) = send(gateway).await {
            if answer.get("result").is_some() {
                return Ok(Instant::now());
            }
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no write accepted within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `eth_sendRawTransaction` of transfers signed beforehand, alternately
/// straight to the node and through the gateway (consecutive nonces, so
/// every one is taken): the two latencies.
async fn write_overhead(
    node: SocketAddr,
    gateway: SocketAddr,
    writes: usize,
) -> anyhow::Result<(Option<Latency>, Option<Latency>)> {
    let count = json_rpc(node, "eth_getTransactionCount", json!([DEV, "pending"])).await?;
    let first = count["result"]
        .as_str()
        .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| anyhow::anyhow!("no nonce: {count}"))?;
    let mut raws = Vec::with_capacity(2 * writes);
    for nonce in first..first + 2 * writes as u64 {
        let signed = json_rpc(
            node,
            "eth_signTransaction",
            json!([{"from": DEV, "to": OTHER, "value": "0x1", "gas": "0x5208",
                    "nonce": format!("0x{nonce:x}"), "maxFeePerGas": "0x174876e800",
                    "maxPriorityFeePerGas": "0x1"}]),
        )
        .await?;
        let raw = signed["result"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("anvil did not sign: {signed}"))?;
        raws.push(raw.to_owned());
    }
    let (mut straight, mut through) = (Vec::new(), Vec::new());
    for pair in raws.chunks(2) {
        for (raw, to, times) in [
            (&pair[0], node, &mut straight),
            (&pair[1], gateway, &mut through),
        ] {
            let started = Instant::now();
            let sent = json_rpc(to, "eth_sendRawTransaction", json!([raw])).await?;
            times.push(started.elapsed());
            anyhow::ensure!(sent["result"].is_string(), "a write was refused: {sent}");
        }
    }
    Ok((Latency::of(&mut straight), Latency::of(&mut through)))
}

fn unix_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Writes every coordinator's and agent's log into `dir`.
fn save_logs(bench: &Bench, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (id, member) in &bench.fleet.members {
        if let Some(process) = &member.process {
            std::fs::write(dir.join(format!("coordinator-{id}.log")), process.stderr())?;
        }
    }
    for (id, agent) in &bench.fleet.agents {
        if let Some(process) = &agent.process {
            std::fs::write(dir.join(format!("agent-{id}.log")), process.stderr())?;
        }
    }
    Ok(())
}

fn other(agent: &str) -> &'static str {
    if agent == "host-a" {
        "host-b"
    } else {
        "host-a"
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let a = Anvil::start(1, Some(1.0))?;
    let b = Anvil::start(1, Some(1.0))?;
    let mut fleet = TestFleet::start_with(3, "leader_grace_ms = 3000").await?;
    let gateway_a = fleet.add_executor("host-a", "ethereum", &a)?;
    let gateway_b = fleet.add_executor("host-b", "ethereum", &b)?;
    let mut bench = Bench {
        fleet,
        nodes: vec![
            ("host-a".into(), a, gateway_a),
            ("host-b".into(), b, gateway_b),
        ],
    };
    let executor = bench.executor().await?;
    first_accepted(bench.node(&executor)?.2).await?;

    // --- gateway overhead: the same read, straight and through the gateway
    let (_, anvil, gateway) = bench.node(&executor)?;
    let url = anvil.url();
    let direct: SocketAddr = format!("127.0.0.1:{}", url.port().unwrap_or(0)).parse()?;
    let gateway = *gateway;
    let (mut straight, mut through) = (Vec::new(), Vec::new());
    for _ in 0..args.requests {
        let started = Instant::now();
        json_rpc(direct, "eth_blockNumber", json!([])).await?;
        straight.push(started.elapsed());
        let started = Instant::now();
        json_rpc(gateway, "eth_blockNumber", json!([])).await?;
        through.push(started.elapsed());
    }
    let direct_read = Latency::of(&mut straight);
    let gateway_read = Latency::of(&mut through);
    let (direct_write, gateway_write) = write_overhead(direct, gateway, args.writes).await?;
    eprintln!("overhead measured");

    // --- node death
    let mut node_times = Vec::new();
    for trial in 0..args.node_trials {
        let executor = bench.executor().await?;
        let standby = other(&executor);
        let standby_gateway = bench.node(standby)?.2;
        let killed = Instant::now();
        let killed_unix_ms = unix_ms();
        bench.node(&executor)?.1.kill()?;
        let accepted = first_accepted(standby_gateway).await?;
        node_times.push(accepted.duration_since(killed));
        eprintln!("node death {trial}: {executor}'s node killed at unix ms {killed_unix_ms}");
        bench.node(&executor)?.1.restart()?;
        bench
            .fleet
            .wait_chain_state(&executor, "ethereum", "healthy")
            .await?;
        eprintln!("node death {trial}: {:?}", node_times.last());
    }

    // --- agent death
    let mut agent_times = Vec::new();
    for trial in 0..args.agent_trials {
        let executor = bench.executor().await?;
        let standby = other(&executor);
        let standby_gateway = bench.node(standby)?.2;
        let agent = bench
            .fleet
            .agents
            .get_mut(&executor)
            .ok_or_else(|| anyhow::anyhow!("no agent"))?;
        let mut process = agent
            .process
            .take()
            .ok_or_else(|| anyhow::anyhow!("not running"))?;
        let killed = Instant::now();
        eprintln!(
            "agent death {trial}: {executor} killed at unix ms {}",
            unix_ms()
        );
        process.kill9()?;
        let accepted = first_accepted(standby_gateway).await?;
        agent_times.push(accepted.duration_since(killed));
        agent.start()?;
        bench
            .fleet
            .wait_chain_state(&executor, "ethereum", "healthy")
            .await?;
        eprintln!("agent death {trial}: {:?}", agent_times.last());
    }

    if let Some(dir) = &args.logs {
        save_logs(&bench, dir)?;
    }
    let report = Report {
        benchmark: "failover",
        lease_ms: 3000,
        node_death_to_first_write: Latency::of(&mut node_times),
        agent_death_to_first_write: Latency::of(&mut agent_times),
        gateway_overhead_ratio_p50: match (&direct_read, &gateway_read) {
            (Some(d), Some(g)) => g.p50_ms / d.p50_ms,
            _ => f64::NAN,
        },
        gateway_write_overhead_ratio_p50: match (&direct_write, &gateway_write) {
            (Some(d), Some(g)) => g.p50_ms / d.p50_ms,
            _ => f64::NAN,
        },
        direct_read,
        gateway_read,
        direct_write,
        gateway_write,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    bench.fleet.stop().await
}
