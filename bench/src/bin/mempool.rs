//! `mempool`: how many pending transactions a second the agent's mempool
//! stream takes in on one core, against the ceiling of a plain reader.
//!
//! A firehose (a WebSocket server in this process, on its own thread and
//! core) answers `eth_subscribe` and then sends N distinct
//! `eth_subscription` notifications shaped like a node's (full pending
//! transactions), pre-encoded so the server costs little. Each round runs,
//! one after the other on a fresh connection and a single-threaded runtime:
//! - the ceiling: a reader that only receives the frames;
//! - the agent: its real stream (decode with alloy types, dedup, per-second
//!   stats, selection of high-value transactions into the uplink's outbox,
//!   drained as the uplink would).
//!
//! The rate is frames over the time from the first to the last frame.
//! Prints one JSON object with each round and the medians.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use mevfleet_agent::mempool::outbox::Outbox;
use mevfleet_agent::mempool::stats::{ChainStats, Dedup, Selection};
use mevfleet_agent::mempool::stream::{self, StreamSettings};
use mevfleet_agent::uplink::Backoff;
use mevfleet_common::shutdown::Shutdown;
use serde::Serialize;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Debug, Parser)]
#[command(about = "Mempool ingest rate of the agent's stream against a plain reader")]
struct Args {
    /// Distinct pending transactions the firehose sends per connection.
    #[arg(long, default_value_t = 500_000)]
    transactions: usize,
    /// Every this many transactions one is worth 2 ETH (selected and queued
    /// for the coordinator).
    #[arg(long, default_value_t = 1000)]
    high_value_every: usize,
    /// Rounds (ceiling, then agent, each round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
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
    transactions: usize,
    rounds: Vec<Round>,
    median_ceiling_tx_per_s: f64,
    median_agent_tx_per_s: f64,
    median_ratio: f64,
    selected_per_round: usize,
}

/// A node's notification for transaction `n` (distinct hash and sender nonce).
fn frame(n: usize, high_value: bool) -> String {
    let value = if high_value {
        "0x1bc16d674ec80000"
    } else {
        "0x2386f26fc10000"
    };
    let fee = 1_000_000_000u64 + (n as u64 % 97) * 10_000_000;
    format!(
        r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0xfeed","result":{{"type":"0x2","chainId":"0x1","nonce":"0x{n:x}","gas":"0x5208","maxFeePerGas":"0x{fee:x}","maxPriorityFeePerGas":"0x3b9aca00","to":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","value":"{value}","accessList":[],"input":"0x","r":"0x16f29b40bdb3494c62e401d713de461fd0e18d99bc589e93d9ca14229e3362c7","s":"0x4019c9fadab16f9c5b9d4871015777724c4f76ba61815f6242c27b6d800e90f6","yParity":"0x1","v":"0x1","hash":"0x{n:064x}","blockHash":null,"blockNumber":null,"transactionIndex":null,"from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","gasPrice":"0x{fee:x}"}}}}}}"#
    )
}

/// Serves every connection the whole firehose, on its own thread.
fn start_firehose(frames: Arc<Vec<Utf8Bytes>>) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                return;
            };
            while let Ok((socket, _)) = listener.accept().await {
                // One connection at a time: the rounds take turns.
                if let Err(err) = serve(socket, &frames).await {
                    eprintln!("firehose: {err}");
                }
            }
        });
    });
    Ok(addr)
}

async fn serve(socket: tokio::net::TcpStream, frames: &[Utf8Bytes]) -> anyhow::Result<()> {
    socket.set_nodelay(true)?;
    let mut ws = tokio_tungstenite::accept_async(socket).await?;
    // The subscription request, answered with the id it carries.
    let request = match ws.next().await {
        Some(Ok(Message::Text(text))) => text,
        other => anyhow::bail!("expected a subscription request, got {other:?}"),
    };
    let id: serde_json::Value = serde_json::from_str(request.as_str())?;
    ws.send(Message::text(format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":"0xfeed"}}"#,
        id["id"]
    )))
    .await?;
    for chunk in frames.chunks(256) {
        for frame in chunk {
            ws.feed(Message::Text(frame.clone())).await?;
        }
        ws.flush().await?;
    }
    // Keep the socket open until the reader hangs up.
    while let Some(Ok(_)) = ws.next().await {}
    Ok(())
}

/// Receives `count` frames and does nothing else: the ceiling.
async fn plain_reader(addr: SocketAddr, count: usize) -> anyhow::Result<f64> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}")).await?;
    ws.send(Message::text(
        r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newPendingTransactions",true]}"#,
    ))
    .await?;
    let mut received = 0usize;
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

/// The agent's stream over `count` frames; returns the rate and how many
/// transactions were selected for the coordinator.
async fn agent_stream(addr: SocketAddr, count: usize) -> anyhow::Result<(f64, usize)> {
    let shutdown = Shutdown::new();
    let outbox = Arc::new(Outbox::new(100_000));
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
    let handle = stream::spawn(settings, stats, outbox.clone(), &shutdown);
    // Drains the outbox as the uplink does.
    let drain = {
        let outbox = outbox.clone();
        tokio::spawn(async move {
            let mut selected = 0usize;
            loop {
                tokio::select! {
                    _ = outbox.ready() => {}
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                }
                if let Some(report) = outbox.take() {
                    selected += report.sightings.len();
                }
                if Arc::strong_count(&outbox) == 1 {
                    return selected;
                }
            }
        })
    };
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    let mut first = None;
    loop {
        ticks.tick().await;
        let frames = handle.frames.load(Ordering::Relaxed) as usize;
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
    // What is still queued counts as selected too.
    let queued = outbox.take().map_or(0, |r| r.sightings.len());
    drop(outbox);
    let selected = drain.await.unwrap_or(0) + queued;
    Ok((rate, selected))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let frames: Vec<Utf8Bytes> = (0..args.transactions)
        .map(|n| Utf8Bytes::from(frame(n, n % args.high_value_every.max(1) == 0)))
        .collect();
    let addr = start_firehose(Arc::new(frames))?;
    // The measured side: one thread, one core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut rounds = Vec::new();
    let mut selected_per_round = 0;
    for round in 0..args.rounds {
        let ceiling = runtime.block_on(plain_reader(addr, args.transactions))?;
        let (agent, selected) = runtime.block_on(agent_stream(addr, args.transactions))?;
        selected_per_round = selected;
        eprintln!("round {round}: ceiling {ceiling:.0}/s, agent {agent:.0}/s, selected {selected}");
        rounds.push(Round {
            ceiling_tx_per_s: ceiling,
            agent_tx_per_s: agent,
            ratio: agent / ceiling,
        });
    }
    let pick = |f: fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    let report = Report {
        benchmark: "mempool-ingest",
        transactions: args.transactions,
        median_ceiling_tx_per_s: pick(|r| r.ceiling_tx_per_s),
        median_agent_tx_per_s: pick(|r| r.agent_tx_per_s),
        median_ratio: pick(|r| r.ratio),
        rounds,
        selected_per_round,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
