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
use mevfleet_tests::{json_rpc, wait_until, Anvil, TestFleet};
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
        wait_until("an executor", DEADLINE, || async {
            let chains = self.fleet.cli_json(&["chains"], &[]).await.ok()?;
            let chain = chains
                .as_array()?
                .iter()
                .find(|c| c["chain"] == "ethereum")?
                .clone();
            chain["executor"].as_str().map(str::to_owned)
        })
        .await
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
    eprintln!("overhead measured");

    // --- node death
    let mut node_times = Vec::new();
    for trial in 0..args.node_trials {
        let executor = bench.executor().await?;
        let standby = other(&executor);
        let standby_gateway = bench.node(standby)?.2;
        let killed = Instant::now();
        bench.node(&executor)?.1.kill()?;
        let accepted = first_accepted(standby_gateway).await?;
        node_times.push(accepted.duration_since(killed));
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

    let report = Report {
        benchmark: "failover",
        lease_ms: 3000,
        node_death_to_first_write: Latency::of(&mut node_times),
        agent_death_to_first_write: Latency::of(&mut agent_times),
        gateway_overhead_ratio_p50: match (&direct_read, &gateway_read) {
            (Some(d), Some(g)) => g.p50_ms / d.p50_ms,
            _ => f64::NAN,
        },
        direct_read,
        gateway_read,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    bench.fleet.stop().await
}
