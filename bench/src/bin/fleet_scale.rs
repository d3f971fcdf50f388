//! `fleet-scale`: a 3-member coordinator cluster (real processes, fsync on)
//! and 10,000 simulated agents in this process (`mevfleet_bench::sim`),
//! each with its own certificate and QUIC connection to the leader,
//! heartbeating every second.
//!
//! - Registration: every agent dials and says hello (a Raft write each).
//! - Heartbeats, after a warm-up, for a measured window: each heartbeat's
//!   round trip at the agent, the longest gap between two acknowledged
//!   heartbeats of one agent, failed heartbeats, the leader's own count of
//!   lost agents (`mevfleet_agents_lost`, read every second), and each
//!   coordinator's CPU and resident memory.
//! - Broadcast: the same agents, still heartbeating, each acknowledge
//!   commands issued to `all`: the time from the request until every agent
//!   has received a command, and until every result is committed.
//!
//! Prints one JSON object.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mevfleet_bench::footprint::{Footprint, Sampler};
use mevfleet_bench::quic_paths::{PathsChange, PathsReading};
use mevfleet_bench::scraped::{BucketedLatency, HistogramReading};
use mevfleet_bench::sim::{find_leader, start_cluster, Seen, SimAgent};
use mevfleet_bench::Latency;
use mevfleet_common::command::{CommandSpec, Target};
use mevfleet_common::identity::Role;
use mevfleet_common::tls::{self, Service};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{call, RpcLimits};
use mevfleet_tests::{dial, http_get, metric_in, ChildProcess, TestPki};
use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};

#[derive(Debug, Parser)]
#[command(about = "Heartbeats and broadcasts of many simulated agents against a 3-member cluster")]
struct Args {
    /// Simulated agents.
    #[arg(long, default_value_t = 10_000)]
    agents: usize,
    /// Agents sharing one client UDP socket.
    #[arg(long, default_value_t = 500)]
    per_socket: usize,
    /// Handshakes and hellos in flight at once during registration.
    #[arg(long, default_value_t = 64)]
    dial_concurrency: usize,
    /// Seconds of heartbeats before measuring.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Seconds of heartbeats measured.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Commands broadcast to all, one after another.
    #[arg(long, default_value_t = 20)]
    commands: usize,
    /// Commands issued (to all, expiring at once) before the measured
    /// broadcasts: the history a fleet's week leaves, which the leader
    /// keeps for seven days (up to 10,000 commands).
    #[arg(long, default_value_t = 0)]
    history: usize,
    /// Agents that only wait for commands and never heartbeat (the old
    /// fan-out benchmark's setting).
    #[arg(long)]
    no_heartbeats: bool,
    /// Runtime worker threads of the load generator. One costs it the
    /// least CPU per heartbeat, leaving more of the shared cores to the
    /// coordinators, as one does for the real agent.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    threads: u16,
}

#[derive(Debug, Default, Serialize)]
struct Heartbeats {
    acknowledged: usize,
    per_second: f64,
    failed: usize,
    round_trip: Option<Latency>,
    /// The longest time between two acknowledged heartbeats of one agent.
    longest_gap_ms: f64,
    /// Agents with a gap over the loss limit (failover.agent_lost_ms).
    agents_with_gap_over_loss_limit: usize,
    /// The most agents the leader counted lost in one of its samples.
    leader_lost_max: f64,
    /// The fewest agents the leader counted connected in one sample (none
    /// when no sample could be read).
    leader_connected_min: Option<f64>,
    /// The leader's own time to answer a heartbeat once its request was
    /// read (its `mevfleet_heartbeat_processing_seconds` over the window).
    leader_processing: Option<BucketedLatency>,
    /// The highest of the per-second p99s of that time.
    leader_processing_worst_second_p99_at_most_ms: Option<f64>,
    /// Time the leader's service threads could not run on time, over the
    /// window (`mevfleet_service_stalled_seconds_total`).
    leader_stalled_s: Option<f64>,
    /// How late the load generator's own runtime ran a 50 ms tick at worst:
    /// a heartbeat answered while it was behind waits that long to be seen.
    generator_late_max_ms: f64,
    /// Ticks of the generator's runtime that came over 50 ms late.
    generator_ticks_over_50ms_late: usize,
    first_failures: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Broadcasts {
    commands: usize,
    all_received: Option<Latency>,
    all_acknowledged: Option<Latency>,
    /// Each result's delivery, sent to committed, over every command.
    result_delivery: Option<Latency>,
    /// Each command on its own, in the order issued.
    per_command: Vec<CommandTrial>,
}

/// One broadcast command, from the request to the last result.
#[derive(Debug, Serialize)]
struct CommandTrial {
    all_received_ms: f64,
    all_acknowledged_ms: f64,
    /// Each agent's result, sent to committed.
    result_delivery: Option<Latency>,
    /// What QUIC did on the agents' connections meanwhile.
    agent_paths: PathsChange,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    agents: usize,
    heartbeat_ms: u64,
    agent_lost_ms: u64,
    history_commands: usize,
    registration_s: f64,
    heartbeats: Heartbeats,
    coordinators: Vec<Footprint>,
    load_generator: Footprint,
    broadcasts: Broadcasts,
}

const HEARTBEAT_MS: u64 = 1000;
const AGENT_LOST_MS: u64 = 3000;

/// Waits for `count` registrations, giving their connections; other
/// events are dropped.
async fn registered(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    count: usize,
) -> anyhow::Result<Vec<quinn::Connection>> {
    let mut conns = Vec::with_capacity(count);
    let mut registered = 0;
    let mut failures = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
    while registered < count {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(Seen::Registered(conn))) => {
                conns.push(conn);
                registered += 1;
                if registered % 1000 == 0 {
                    eprintln!("{registered} agents registered");
                }
            }
            Ok(Some(Seen::Failed(err))) => failures.push(err),
            Ok(Some(_)) => {}
            _ => anyhow::bail!(
                "only {registered} of {count} agents registered; failures: {:?}",
                failures.iter().take(3).collect::<Vec<_>>()
            ),
        }
        anyhow::ensure!(
            failures.len() < 10,
            "agents failed to register: {:?}",
            &failures[..3]
        );
    }
    Ok(conns)
}

const STALLED: &str = "mevfleet_service_stalled_seconds_total";
/// How often the generator checks that its own runtime runs on time.
const LATENESS_TICK: Duration = Duration::from_millis(50);

/// Until `end`, how late this process's runtime runs a task that wakes
/// every [`LATENESS_TICK`]: the worst lateness (ms) and how many wakes
/// came over 50 ms late.
async fn generator_lateness(end: tokio::time::Instant) -> (f64, usize) {
    let mut ticks = tokio::time::interval(LATENESS_TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut worst, mut over) = (Duration::ZERO, 0);
    while tokio::time::Instant::now() < end {
        let late = ticks.tick().await.elapsed();
        worst = worst.max(late);
        if late > Duration::from_millis(50) {
            over += 1;
        }
    }
    (worst.as_secs_f64() * 1000.0, over)
}

/// The leader's `/metrics` page; `None` when it cannot be read right now.
async fn leader_page(leader_http: SocketAddr) -> Option<String> {
    http_get(leader_http, "/metrics").await.ok()
}

/// An unlabelled sample's value on a metrics page.
fn gauge(page: &str, name: &str) -> Option<f64> {
    metric_in(page, name).ok()
}

/// The leader's heartbeat processing histogram on a metrics page.
fn processing(page: &str) -> Option<HistogramReading> {
    HistogramReading::parse(page, "mevfleet_heartbeat_processing_seconds")
}

/// The measured window of heartbeats, sampling the coordinators each second.
async fn measure(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    seconds: u64,
    pids: &[(String, u32)],
    leader_http: SocketAddr,
) -> anyhow::Result<(Heartbeats, Vec<Footprint>, Footprint)> {
    let mut samplers: Vec<Sampler> = pids
        .iter()
        .map(|(_, pid)| Sampler::new(*pid))
        .collect::<anyhow::Result<_>>()?;
    let mut own = Sampler::new(std::process::id())?;
    let mut beats = Heartbeats::default();
    let mut rtts = Vec::new();
    let mut longest_gap = Duration::ZERO;
    let mut over_limit = 0usize;
    let started = Instant::now();
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let first_page = leader_page(leader_http).await;
    let first_processing = first_page.as_deref().and_then(processing);
    let first_stalled = first_page.as_deref().and_then(|page| gauge(page, STALLED));
    let mut last_processing = first_processing.clone();
    let mut last_stalled = first_stalled;
    let lateness = tokio::spawn(generator_lateness(end));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => break,
            _ = ticks.tick() => {
                for sampler in &mut samplers {
                    sampler.sample()?;
                }
                own.sample()?;
                let Some(page) = leader_page(leader_http).await else { continue };
                if let Some(lost) = gauge(&page, "mevfleet_agents_lost") {
                    beats.leader_lost_max = beats.leader_lost_max.max(lost);
                }
                if let Some(connected) = gauge(&page, "mevfleet_agents_connected") {
                    let fewest = beats.leader_connected_min.map_or(connected, |n| n.min(connected));
                    beats.leader_connected_min = Some(fewest);
                }
                if let Some(now) = processing(&page) {
                    if let Some(last) = &last_processing {
                        let second = now.since(last);
                        if second.count > 0 {
                            let worst = beats
                                .leader_processing_worst_second_p99_at_most_ms
                                .map_or(second.p99_at_most_ms, |w| w.max(second.p99_at_most_ms));
                            beats.leader_processing_worst_second_p99_at_most_ms = Some(worst);
                        }
                    }
                    last_processing = Some(now);
                }
                if let Some(stalled) = gauge(&page, STALLED) {
                    last_stalled = Some(stalled);
                }
            }
            event = seen.recv() => match event {
                Some(Seen::Beat { rtt, gap }) => {
                    rtts.push(rtt);
                    if let Some(gap) = gap {
                        longest_gap = longest_gap.max(gap);
                        if gap > Duration::from_millis(AGENT_LOST_MS) {
                            over_limit += 1;
                        }
                    }
                }
                Some(Seen::BeatFailed(err) | Seen::Failed(err)) => {
                    beats.failed += 1;
                    if beats.first_failures.len() < 5 {
                        beats.first_failures.push(err);
                    }
                }
                Some(_) => {}
                None => anyhow::bail!("every agent stopped"),
            },
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    beats.acknowledged = rtts.len();
    beats.per_second = rtts.len() as f64 / elapsed;
    beats.round_trip = Latency::of(&mut rtts);
    beats.longest_gap_ms = longest_gap.as_secs_f64() * 1000.0;
    beats.agents_with_gap_over_loss_limit = over_limit;
    (
        beats.generator_late_max_ms,
        beats.generator_ticks_over_50ms_late,
    ) = lateness.await?;
    if let (Some(first), Some(last)) = (&first_processing, &last_processing) {
        beats.leader_processing = Some(last.since(first));
    }
    if let (Some(first), Some(last)) = (first_stalled, last_stalled) {
        beats.leader_stalled_s = Some(last - first);
    }
    let footprints = samplers
        .into_iter()
        .zip(pids)
        .map(|(sampler, (name, _))| sampler.finish(name, elapsed))
        .collect::<anyhow::Result<_>>()?;
    Ok((
        beats,
        footprints,
        own.finish("fleet-scale (load generator)", elapsed)?,
    ))
}

/// Broadcasts `commands` commands to all, one after another, and times
/// their delivery to and acknowledgement by every one of `agents`.
async fn broadcast(
    seen: &mut mpsc::UnboundedReceiver<Seen>,
    conns: &[quinn::Connection],
    admin: &mevfleet_common::tls::Credentials,
    leader: SocketAddr,
    args: &Args,
) -> anyhow::Result<Broadcasts> {
    let (agents, commands) = (args.agents, args.commands);
    let (conn, _endpoint) = dial(admin, leader, Service::Admin)
        .await
        .map_err(anyhow::Error::msg)?;
    if args.history > 0 {
        eprintln!("issuing {} commands of history", args.history);
        for _ in 0..args.history {
            let request = AdminRequest::Broadcast(CommandSpec {
                target: Target::All,
                action: "noop".into(),
                args: Vec::new(),
                timeout_ms: None,
                expires_in_ms: 1,
            });
            match call::<_, AdminResponse>(&conn, &request, RpcLimits::default()).await? {
                AdminResponse::Issued { .. } => {}
                other => anyhow::bail!("a history command was answered {other:?}"),
            }
        }
        // What the history stirred up settles before the measured commands.
        let settled = tokio::time::Instant::now() + Duration::from_secs(3);
        while let Ok(Some(_)) = tokio::time::timeout_at(settled, seen.recv()).await {}
    }
    let (mut received_all, mut acknowledged_all) = (Vec::new(), Vec::new());
    let mut deliveries_all = Vec::with_capacity(agents * commands);
    let mut per_command = Vec::with_capacity(commands);
    for trial in 0..commands {
        let request = AdminRequest::Broadcast(CommandSpec {
            target: Target::All,
            action: "noop".into(),
            args: Vec::new(),
            timeout_ms: None,
            expires_in_ms: 600_000,
        });
        let paths_before = PathsReading::of(conns);
        let sent = Instant::now();
        let id = match call::<_, AdminResponse>(&conn, &request, RpcLimits::default()).await? {
            AdminResponse::Issued { command_id, .. } => command_id,
            other => anyhow::bail!("broadcast answered {other:?}"),
        };
        let (mut received, mut committed, mut failed) = (0usize, 0usize, 0usize);
        let (mut last_received, mut last_committed) = (sent, sent);
        let mut deliveries = Vec::with_capacity(agents);
        // Heartbeats keep arriving meanwhile, so the deadline is per command.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut progress = tokio::time::Instant::now() + Duration::from_secs(5);
        while committed < agents {
            if tokio::time::Instant::now() >= progress {
                eprintln!("command {trial}: {received} received, {committed} committed, {failed} agents failed so far");
                progress += Duration::from_secs(5);
            }
            let event = tokio::time::timeout_at(deadline, seen.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "command {trial}: {received} received, {committed} committed after 120 s"
                    )
                })?
                .ok_or_else(|| anyhow::anyhow!("every agent stopped"))?;
            match event {
                Seen::Received(c, at) if c == id => {
                    received += 1;
                    last_received = last_received.max(at);
                }
                Seen::Committed {
                    id: c,
                    at,
                    delivery,
                } if c == id => {
                    committed += 1;
                    last_committed = last_committed.max(at);
                    deliveries.push(delivery);
                }
                Seen::Failed(err) => {
                    failed += 1;
                    if failed <= 3 {
                        eprintln!("command {trial}: {err}");
                    }
                }
                _ => {}
            }
        }
        let (to_all, acked) = (
            last_received.duration_since(sent),
            last_committed.duration_since(sent),
        );
        eprintln!("command {trial}: all received {to_all:?}, all acknowledged {acked:?}");
        let paths = PathsReading::of(conns).since(&paths_before);
        eprintln!("command {trial}: the agents' QUIC paths: {paths}");
        let delivery = Latency::of(&mut deliveries);
        if let Some(delivery) = &delivery {
            eprintln!(
                "command {trial}: results delivered in p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
                delivery.p50_ms, delivery.p90_ms, delivery.p99_ms, delivery.max_ms
            );
        }
        deliveries_all.append(&mut deliveries);
        per_command.push(CommandTrial {
            all_received_ms: to_all.as_secs_f64() * 1000.0,
            all_acknowledged_ms: acked.as_secs_f64() * 1000.0,
            result_delivery: delivery,
            agent_paths: paths,
        });
        received_all.push(to_all);
        acknowledged_all.push(acked);
    }
    Ok(Broadcasts {
        commands,
        all_received: Latency::of(&mut received_all),
        all_acknowledged: Latency::of(&mut acknowledged_all),
        result_delivery: Latency::of(&mut deliveries_all),
        per_command,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let members = start_cluster(
        &pki,
        &format!("[failover]\nheartbeat_ms = {HEARTBEAT_MS}\nagent_lost_ms = {AGENT_LOST_MS}\n"),
    )?;
    let addrs: Vec<SocketAddr> = members.iter().map(|m| m.quic).collect();
    let admin = pki.creds(Role::Operator, "bench")?;
    let leader_index = find_leader(&admin, &addrs).await?;
    let leader = &members[leader_index];
    let pids: Vec<(String, u32)> = members
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let role = if i == leader_index {
                "leader"
            } else {
                "follower"
            };
            Some((
                format!("coordinator {} ({role})", m.id),
                m.process.as_ref()?.id(),
            ))
        })
        .collect();
    anyhow::ensure!(pids.len() == 3, "a coordinator is not running");

    eprintln!(
        "leader at {}; issuing {} agent certificates",
        leader.quic, args.agents
    );
    let issued = Instant::now();
    let mut agents = Vec::with_capacity(args.agents);
    let sockets = args.agents.div_ceil(args.per_socket.max(1));
    let endpoints: Vec<quinn::Endpoint> = (0..sockets)
        .map(|_| tls::client_endpoint(leader.quic))
        .collect::<Result<_, _>>()?;
    for i in 0..args.agents {
        let name = format!("sim-{i:05}");
        agents.push(SimAgent {
            creds: pki.creds(Role::Agent, &name)?,
            name,
            leader: leader.quic,
            endpoint: endpoints[i % sockets].clone(),
            offset: Duration::from_millis(HEARTBEAT_MS * i as u64 / args.agents as u64),
            heartbeats: !args.no_heartbeats,
        });
    }
    eprintln!("certificates issued in {:?}; registering", issued.elapsed());

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let dials = Arc::new(Semaphore::new(args.dial_concurrency.max(1)));
    let started = Instant::now();
    for agent in agents {
        tokio::spawn(agent.run(seen_tx.clone(), dials.clone()));
    }
    drop(seen_tx);
    let conns = registered(&mut seen, args.agents).await?;
    let registration = started.elapsed();
    eprintln!("{} agents registered in {registration:?}", args.agents);

    eprintln!("warming up for {} s", args.warmup);
    let warm = tokio::time::Instant::now() + Duration::from_secs(args.warmup);
    while let Ok(Some(_)) = tokio::time::timeout_at(warm, seen.recv()).await {}
    eprintln!("measuring heartbeats for {} s", args.seconds);
    let (heartbeats, coordinators, load_generator) =
        measure(&mut seen, args.seconds, &pids, leader.http).await?;
    eprintln!("heartbeats: {heartbeats:?}");
    let broadcasts = broadcast(&mut seen, &conns, &admin, leader.quic, &args).await?;
    let report = Report {
        benchmark: "fleet-scale",
        agents: args.agents,
        heartbeat_ms: HEARTBEAT_MS,
        agent_lost_ms: AGENT_LOST_MS,
        history_commands: args.history,
        registration_s: registration.as_secs_f64(),
        heartbeats,
        coordinators,
        load_generator,
        broadcasts,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    drop(
        members
            .into_iter()
            .map(|m| m.process)
            .collect::<Vec<Option<ChildProcess>>>(),
    );
    Ok(())
}
