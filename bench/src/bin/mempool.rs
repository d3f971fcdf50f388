//! `mempool`: the agent's mempool stream against a plain reader, and the
//! delay from a node's send to the coordinator's receipt.
//!
//! Ingest: a firehose (`mevfleet_bench::firehose`, its own thread) sends N
//! distinct pending transactions as fast as the socket takes them. Each
//! round runs, one after the other on a fresh connection and a
//! single-threaded runtime (one core):
//! - the ceiling: a reader that only receives the frames;
//! - the agent: its real stream (decode with alloy types, dedup, per-second
//!   stats, selection of high-value transactions into the uplink's outbox,
//!   drained as the uplink would).
//!
//! The rate is frames over the time from the first to the last frame.
//!
//! Delay, at a steady rate with a send time stamped into each high-value
//! transaction:
//! - node send to the agent's sighting: the same stream in this process,
//!   reading the sightings out of the outbox;
//! - the agent's sighting to the leader's receipt: a real agent process
//!   forwarding to a real coordinator over QUIC, as the leader measures it
//!   (`forward_delay_ms` of `/api/mempool`). The firehose sends that agent
//!   no high-value transaction until its uplink is up and streaming, so the
//!   window holds no sighting that waited for the connection.
//!
//! Both delay phases run `--delay-runs` times; the report has each run and
//! the median p99 of each leg.
//!
//! Prints one JSON object with each round and the medians.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use mevfleet_agent::mempool::dedup::Dedup;
use mevfleet_agent::mempool::outbox::Outbox;
use mevfleet_agent::mempool::stats::{ChainStats, Selection};
use mevfleet_agent::mempool::stream::{self, StreamHandle, StreamSettings};
use mevfleet_agent::uplink::Backoff;
use mevfleet_bench::firehose::{self, Feed};
use mevfleet_bench::{median, Latency};
use mevfleet_common::mempool::MempoolReport;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_tests::{http_get, Anvil, TestFleet};
use serde::Serialize;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
#[command(
    about = "Mempool ingest rate of the agent's stream against a plain reader, and forwarding delay"
)]
struct Args {
    /// Distinct pending transactions the firehose sends per connection.
    #[arg(long, default_value_t = 500_000)]
    transactions: u64,
    /// Every this many transactions one is worth 2 ETH (selected and queued
    /// for the coordinator).
    #[arg(long, default_value_t = 1000)]
    high_value_every: u64,
    /// Rounds (ceiling, then agent, each round). The plain reader's rate
    /// swings by half between rounds on a shared machine (with how the
    /// sender's and the reader's turns fall), so the median wants several.
    #[arg(long, default_value_t = 9)]
    rounds: usize,
    /// Transactions a second for the delay phases.
    #[arg(long, default_value_t = 10_000)]
    paced_rate: u64,
    /// In the delay phases, every this many transactions one is high value.
    #[arg(long, default_value_t = 100)]
    paced_high_value_every: u64,
    /// Seconds each delay phase runs.
    #[arg(long, default_value_t = 20)]
    paced_seconds: u64,
    /// Times both delay phases run. One run's p99 rests on its slowest 1 %
    /// (about 20 sightings), which one scheduling stall on a shared VM can
    /// fill, so the report gives each run and the median.
    #[arg(long, default_value_t = 3)]
    delay_runs: usize,
}

#[derive(Debug, Serialize)]
struct Round {
    ceiling_tx_per_s: f64,
    agent_tx_per_s: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    transactions: u64,
    rounds: Vec<Round>,
    median_ceiling_tx_per_s: f64,
    median_agent_tx_per_s: f64,
    median_ratio: f64,
    selected_per_round: usize,
    paced_rate: u64,
    delay_runs: Vec<DelayRun>,
    /// Medians over the runs of each leg's p99, ms.
    median_send_to_sighting_p99_ms: f64,
    median_sighting_to_leader_p99_ms: f64,
}

#[derive(Debug, Serialize)]
struct DelayRun {
    /// Node send to the agent's sighting, in this process.
    send_to_sighting: Option<Latency>,
    /// The agent's sighting to the leader's receipt: [p50, p99] ms.
    sighting_to_leader_ms: Option<[f64; 2]>,
    /// What the paced firehose sent the real agent, and what the agent
    /// reports it took in (equal when it kept up).
    sent_to_agent_process: u64,
    taken_in_by_agent_process: u64,
}

/// Receives `count` frames and does nothing else: the ceiling.
async fn plain_reader(addr: SocketAddr, count: u64) -> anyhow::Result<f64> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await?;
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newPendingTransactions",true]}"#,
    ))
    .await?;
    let mut received = 0u64;
    let mut first = None;
    // The reply to the subscription comes first.
    while received < count + 1 {
        match ws.next().await {
            Some(Ok(Message::Text(_))) => {
                received += 1;
                if received == 2 {
                    first = Some(Instant::now());
                }
            }
            Some(Ok(_)) => {}
            other => anyhow::bail!("the firehose ended early: {other:?}"),
        }
    }
    let elapsed = first.map_or(Duration::ZERO, |t| t.elapsed());
    let _closed = ws.close(None).await;
    Ok((count - 1) as f64 / elapsed.as_secs_f64())
}

/// The agent's real stream on `addr`, selecting transactions over 1 ETH
/// into `outbox`.
fn spawn_stream(
    addr: SocketAddr,
    outbox: Arc<Outbox>,
    shutdown: &Shutdown,
) -> anyhow::Result<StreamHandle> {
    let settings = StreamSettings {
        chain: "ethereum".into(),
        ws: format!("ws://{addr}").parse()?,
        // No node behind it: txpool_status fails fast and is left out.
        rpc: "http://127.0.0.1:9".parse()?,
        full_transactions: true,
        silence_timeout: Duration::from_secs(30),
        backoff: Backoff::default(),
    };
    let stats = ChainStats::new(
        "ethereum",
        Selection {
            high_value_wei: 1_000_000_000_000_000_000,
            watched: Default::default(),
            forward_all: false,
        },
        Dedup::new(120_000_000, 500_000),
    );
    Ok(stream::spawn(settings, stats, outbox, shutdown))
}

/// Drains `outbox` as the uplink does, handing each report to `each`, until
/// the outbox is the drain's alone; then returns what `each` kept.
fn drain<T: Send + 'static>(
    outbox: Arc<Outbox>,
    mut kept: T,
    each: impl Fn(&mut T, MempoolReport) + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = outbox.ready() => {}
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
            if let Some(report) = outbox.take() {
                each(&mut kept, report);
            }
            if Arc::strong_count(&outbox) == 1 {
                // What is still queued counts too.
                if let Some(report) = outbox.take() {
                    each(&mut kept, report);
                }
                return kept;
            }
        }
    })
}

/// The agent's stream over `count` frames; returns the rate and how many
/// transactions were selected for the coordinator.
async fn agent_stream(addr: SocketAddr, count: u64) -> anyhow::Result<(f64, usize)> {
    let shutdown = Shutdown::new();
    let outbox = Arc::new(Outbox::new(100_000));
    let handle = spawn_stream(addr, outbox.clone(), &shutdown)?;
    let selected = drain(outbox, 0usize, |n, report| *n += report.sightings.len());
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut first = None;
    loop {
        ticks.tick().await;
        let frames = handle.frames.load(Ordering::Relaxed);
        if frames > 0 && first.is_none() {
            first = Some((Instant::now(), frames));
        }
        if frames >= count {
            break;
        }
    }
    let (start, at_start) = first.unwrap_or((Instant::now(), 0));
    let rate = (count - at_start) as f64 / start.elapsed().as_secs_f64();
    shutdown.cancel();
    shutdown.wait(Duration::from_secs(5)).await;
    drop(handle);
    Ok((rate, selected.await.unwrap_or(0)))
}

/// The same stream on a paced firehose for `seconds`: the delay from the
/// firehose's send (stamped in the value) to the agent's sighting.
async fn send_to_sighting(addr: SocketAddr, seconds: u64) -> anyhow::Result<Option<Latency>> {
    let shutdown = Shutdown::new();
    let outbox = Arc::new(Outbox::new(100_000));
    let handle = spawn_stream(addr, outbox.clone(), &shutdown)?;
    let delays = drain(outbox, Vec::new(), |delays: &mut Vec<Duration>, report| {
        for sighting in report.sightings {
            if let Some(sent_us) = firehose::stamp_of(sighting.value_wei) {
                delays.push(Duration::from_micros(
                    sighting.seen_us.saturating_sub(sent_us),
                ));
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    shutdown.cancel();
    shutdown.wait(Duration::from_secs(5)).await;
    drop(handle);
    let mut delays = delays.await.unwrap_or_default();
    Ok(Latency::of(&mut delays))
}

/// A real agent process on a paced firehose (its `ws`; an anvil node is its
/// `rpc`) forwarding to a one-member coordinator for `seconds`: the
/// leader's own figure for the delay from sighting to receipt, and how many
/// transactions the agent reports it took in.
async fn sighting_to_leader(
    addr: SocketAddr,
    armed: &AtomicBool,
    seconds: u64,
) -> anyhow::Result<(Option<[f64; 2]>, u64)> {
    let anvil = Anvil::start(1, Some(12.0))?;
    let mut fleet = TestFleet::start(1).await?;
    let config = format!(
        "[[chains]]\nname = \"ethereum\"\nrpc = \"{}\"\nws = \"ws://{addr}\"\nmempool = true\n[mempool]\nhigh_value_eth = 1.0\n",
        anvil.url()
    );
    fleet.add_agent_with("host-a", &[], &config)?;
    let member = fleet
        .members
        .values()
        .next()
        .map(|m| m.http)
        .ok_or_else(|| anyhow::anyhow!("no coordinator"))?;
    let agent = |view: &Value| -> Option<Value> {
        view.get(0)?["agents"]
            .as_array()?
            .iter()
            .find(|a| a["agent"] == "host-a")
            .cloned()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    // The coordinator may not listen yet, nor have a leader: keep asking.
    loop {
        let view = http_get(member, "/api/mempool")
            .await
            .and_then(|text| serde_json::from_str::<Value>(&text).map_err(anyhow::Error::from));
        if view
            .as_ref()
            .is_ok_and(|view| agent(view).is_some_and(|a| a["streaming"] == true))
        {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the agent never streamed: {view:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Only now does the firehose send transactions the agent selects: what
    // it saw while its uplink was still connecting waited for the
    // connection, not on the forwarding path this measures.
    armed.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let view: Value = serde_json::from_str(&http_get(member, "/api/mempool").await?)?;
    fleet.stop().await?;
    let agent = agent(&view);
    let delay = agent
        .as_ref()
        .and_then(|a| serde_json::from_value(a["forward_delay_ms"].clone()).ok());
    let arrivals = agent
        .and_then(|a| a["arrivals_total"].as_u64())
        .unwrap_or(0);
    Ok((delay, arrivals))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let burst = firehose::start(firehose::burst(args.transactions, args.high_value_every))?;
    // The measured side: one thread, one core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rounds = Vec::new();
    let mut selected_per_round = 0;
    for round in 0..args.rounds {
        let ceiling = runtime.block_on(plain_reader(burst.addr, args.transactions))?;
        let (agent, selected) = runtime.block_on(agent_stream(burst.addr, args.transactions))?;
        selected_per_round = selected;
        eprintln!("round {round}: ceiling {ceiling:.0}/s, agent {agent:.0}/s, selected {selected}");
        rounds.push(Round {
            ceiling_tx_per_s: ceiling,
            agent_tx_per_s: agent,
            ratio: agent / ceiling,
        });
    }
    let paced = |armed: Arc<AtomicBool>| Feed::Paced {
        rate: args.paced_rate,
        high_value_every: args.paced_high_value_every,
        armed,
    };
    let here = firehose::start(paced(Arc::new(AtomicBool::new(true))))?;
    let mut delay_runs = Vec::new();
    for run in 0..args.delay_runs {
        let send_to_sighting = runtime.block_on(send_to_sighting(here.addr, args.paced_seconds))?;
        eprintln!("run {run}: send to sighting: {send_to_sighting:?}");
        let armed = Arc::new(AtomicBool::new(false));
        let remote = firehose::start(paced(armed.clone()))?;
        let (sighting_to_leader, taken_in) = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
            .block_on(sighting_to_leader(remote.addr, &armed, args.paced_seconds))?;
        let sent = remote.sent.load(Ordering::Relaxed);
        eprintln!(
            "run {run}: sighting to leader: {sighting_to_leader:?}; sent {sent}, taken in {taken_in}"
        );
        delay_runs.push(DelayRun {
            send_to_sighting,
            sighting_to_leader_ms: sighting_to_leader,
            sent_to_agent_process: sent,
            taken_in_by_agent_process: taken_in,
        });
    }
    let p99s = |leg: fn(&DelayRun) -> Option<f64>| {
        median(&mut delay_runs.iter().filter_map(leg).collect::<Vec<_>>())
    };
    let median_send_to_sighting_p99_ms =
        p99s(|run| run.send_to_sighting.as_ref().map(|l| l.p99_ms));
    let median_sighting_to_leader_p99_ms =
        p99s(|run| run.sighting_to_leader_ms.map(|[_, p99]| p99));
    let pick = |f: fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    let report = Report {
        benchmark: "mempool",
        transactions: args.transactions,
        median_ceiling_tx_per_s: pick(|r| r.ceiling_tx_per_s),
        median_agent_tx_per_s: pick(|r| r.agent_tx_per_s),
        median_ratio: pick(|r| r.ratio),
        rounds,
        selected_per_round,
        paced_rate: args.paced_rate,
        delay_runs,
        median_send_to_sighting_p99_ms,
        median_sighting_to_leader_p99_ms,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
