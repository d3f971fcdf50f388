//! `agent-footprint`: resident memory and CPU of a mevfleet agent probing
//! five chains (anvil nodes on the five known chain ids, at their nominal
//! block times) and the host at its default intervals, heartbeating to a
//! coordinator — measured over the same window, side by side, with
//! Prometheus's node_exporter scraped once a second (our agent's /metrics is
//! scraped once a second too). Prints one JSON object.

use std::time::{Duration, Instant};

use clap::Parser;
use mevfleet_bench::footprint::{Footprint, Sampler};
use mevfleet_tests::{http_get, Anvil, ChildProcess, TestFleet};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(about = "Agent footprint against node_exporter over the same window")]
struct Args {
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Time to let both settle before measuring, in seconds.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// The node_exporter binary (Debian: prometheus-node-exporter).
    #[arg(long, default_value = "prometheus-node-exporter")]
    node_exporter: String,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    chains: usize,
    probe_interval_ms: u64,
    seconds: u64,
    agent: Footprint,
    node_exporter: Footprint,
    rss_ratio_agent_to_node_exporter: f64,
    cpu_ratio_agent_to_node_exporter: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let chains = [
        ("ethereum", 1, 12.0),
        ("arbitrum", 42161, 0.25),
        ("optimism", 10, 2.0),
        ("base", 8453, 2.0),
        ("polygon", 137, 2.0),
    ];
    let anvils: Vec<(&str, Anvil)> = chains
        .iter()
        .map(|(name, id, block)| Ok((*name, Anvil::start(*id, Some(*block))?)))
        .collect::<anyhow::Result<_>>()?;
    let mut fleet = TestFleet::start(1).await?;
    let served: Vec<(&str, &Anvil)> = anvils.iter().map(|(n, a)| (*n, a)).collect();
    fleet.add_agent("bench-host", &served)?;
    for (name, _) in &anvils {
        fleet
            .wait_chain_state("bench-host", name, "healthy")
            .await?;
    }
    let agent = fleet.agent("bench-host")?;
    let agent_pid = agent
        .process
        .as_ref()
        .map(ChildProcess::id)
        .ok_or_else(|| anyhow::anyhow!("agent not running"))?;

    let (_, exporter_addr) = mevfleet_tests::free_ports()?;
    let mut command = std::process::Command::new(&args.node_exporter);
    command.arg(format!("--web.listen-address={exporter_addr}"));
    let exporter = ChildProcess::spawn(command).map_err(|err| {
        anyhow::anyhow!(
            "cannot start {} (scripts/bench/agent-footprint.sh installs it): {err}",
            args.node_exporter
        )
    })?;
    mevfleet_tests::wait_until(
        "node_exporter to answer",
        Duration::from_secs(30),
        || async { http_get(exporter_addr, "/metrics").await.ok() },
    )
    .await?;

    eprintln!("warming up for {} s", args.warmup);
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    eprintln!("measuring for {} s", args.seconds);
    let mut ours = Sampler::new(agent_pid)?;
    let mut theirs = Sampler::new(exporter.id())?;
    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < Duration::from_secs(args.seconds) {
        ticks.tick().await;
        let (a, b) = tokio::join!(
            http_get(agent.http, "/metrics"),
            http_get(exporter_addr, "/metrics")
        );
        a?;
        b?;
        ours.sample()?;
        theirs.sample()?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let agent_fp = ours.finish("mevfleet-agent", seconds)?;
    let exporter_fp = theirs.finish("node_exporter", seconds)?;
    let report = Report {
        benchmark: "agent-footprint",
        chains: chains.len(),
        probe_interval_ms: 200,
        seconds: args.seconds,
        rss_ratio_agent_to_node_exporter: agent_fp.rss_mib_median / exporter_fp.rss_mib_median,
        cpu_ratio_agent_to_node_exporter: agent_fp.cpu_percent_of_one_core
            / exporter_fp.cpu_percent_of_one_core.max(f64::EPSILON),
        agent: agent_fp,
        node_exporter: exporter_fp,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    drop(exporter);
    fleet.stop().await
}
