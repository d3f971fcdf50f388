//! `raft-commit`: replicated write latency and throughput of a 3-member
//! mevfleet coordinator cluster against a 3-member etcd cluster, side by
//! side in one run on this machine (real processes, fsync on every log
//! append, TLS with client certificates on every link). For each system,
//! one round after the other: a warm-up, then one client writing
//! sequentially (latency), then many concurrent clients (throughput). Each
//! client holds one connection to the leader: ours writes `SetSetting`
//! commands over QUIC, etcd's `Put`s of the same size over gRPC. A write
//! counts when it is committed and applied and the answer is back. Prints
//! one JSON object.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use mevfleet_bench::etcd::{EtcdCluster, EtcdKv, EtcdTls};
use mevfleet_bench::footprint::cpu_time;
use mevfleet_bench::sim::{find_leader, start_cluster};
use mevfleet_bench::{median, Latency};
use mevfleet_common::identity::Role;
use mevfleet_common::tls::{Credentials, Service};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{call, RpcLimits};
use mevfleet_tests::{dial, TestPki};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(about = "Replicated writes: a 3-member coordinator cluster against 3-member etcd")]
struct Args {
    /// Sequential writes for the single-client phase.
    #[arg(long, default_value_t = 2000)]
    single_writes: usize,
    /// Concurrent clients for the throughput phase.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Duration of the throughput phase, in seconds.
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Rounds (mevfleet, then etcd, each round).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The etcd binary (Debian: etcd-server).
    #[arg(long, default_value = "etcd")]
    etcd: String,
}

/// Where a client writes.
#[derive(Clone, Debug)]
enum Target {
    Mevfleet {
        admin: Credentials,
        leader: SocketAddr,
    },
    Etcd {
        leader: SocketAddr,
        tls: EtcdTls,
    },
}

#[derive(Debug, Serialize)]
struct Phase {
    clients: usize,
    writes: usize,
    seconds: f64,
    writes_per_second: f64,
    latency: Option<Latency>,
    /// CPU time of the three members' processes over the phase, per
    /// write, in microseconds (what a write costs the cluster, clients
    /// apart).
    members_cpu_us_per_write: f64,
}

#[derive(Debug, Serialize)]
struct Round {
    mevfleet_single: Phase,
    mevfleet_concurrent: Phase,
    etcd_single: Phase,
    etcd_concurrent: Phase,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    members: usize,
    fsync: bool,
    rounds: Vec<Round>,
    /// Medians over the rounds.
    mevfleet_single_p50_ms: f64,
    etcd_single_p50_ms: f64,
    mevfleet_single_p99_ms: f64,
    etcd_single_p99_ms: f64,
    mevfleet_concurrent_writes_per_second: f64,
    etcd_concurrent_writes_per_second: f64,
    /// Members' CPU per write, microseconds.
    mevfleet_single_cpu_us_per_write: f64,
    etcd_single_cpu_us_per_write: f64,
    mevfleet_concurrent_cpu_us_per_write: f64,
    etcd_concurrent_cpu_us_per_write: f64,
    /// Median of the rounds' etcd / mevfleet single-client p50 (over 1:
    /// we are faster).
    latency_ratio_etcd_to_mevfleet: f64,
    /// Median of the rounds' mevfleet / etcd writes a second (over 1: we
    /// are faster).
    throughput_ratio_mevfleet_to_etcd: f64,
}

/// One client: writes until `until` or `limit`, returning its latencies.
async fn client(
    target: Target,
    name: usize,
    limit: usize,
    until: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let key = |n: usize| format!("bench-{name}-{}", n % 1000);
    let mut samples = Vec::new();
    match target {
        Target::Mevfleet { admin, leader } => {
            let (conn, _endpoint) = dial(&admin, leader, Service::Admin)
                .await
                .map_err(anyhow::Error::msg)?;
            let mut n = 0usize;
            while n < limit && Instant::now() < until {
                let request = AdminRequest::SetSetting {
                    key: key(n),
                    value: n.to_string(),
                };
                let started = Instant::now();
                match call::<_, AdminResponse>(&conn, &request, RpcLimits::default()).await? {
                    AdminResponse::Written(_) => samples.push(started.elapsed()),
                    other => anyhow::bail!("unexpected answer {other:?}"),
                }
                n += 1;
            }
        }
        Target::Etcd { leader, tls } => {
            let mut kv = EtcdKv::connect(&tls, leader).await?;
            let mut n = 0usize;
            while n < limit && Instant::now() < until {
                let started = Instant::now();
                kv.put(&key(n), &n.to_string()).await?;
                samples.push(started.elapsed());
                n += 1;
            }
        }
    }
    Ok(samples)
}

async fn phase(
    target: &Target,
    members: &[u32],
    clients: usize,
    limit: usize,
    duration: Duration,
) -> anyhow::Result<Phase> {
    let cpu_before = cpu_time(members)?;
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|name| tokio::spawn(client(target.clone(), name, limit, until)))
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_time(members)?.saturating_sub(cpu_before);
    Ok(Phase {
        clients,
        writes: samples.len(),
        seconds,
        writes_per_second: samples.len() as f64 / seconds,
        members_cpu_us_per_write: cpu.as_secs_f64() * 1e6 / samples.len().max(1) as f64,
        latency: Latency::of(&mut samples),
    })
}

/// Warm-up, single client, concurrent clients against `target`, whose
/// member processes are `members`.
async fn phases(args: &Args, target: &Target, members: &[u32]) -> anyhow::Result<(Phase, Phase)> {
    // Warm-up: connections, first allocations, memtables.
    phase(target, members, 4, 200, Duration::from_secs(5)).await?;
    let single = phase(
        target,
        members,
        1,
        args.single_writes,
        Duration::from_secs(600),
    )
    .await?;
    let concurrent = phase(
        target,
        members,
        args.clients,
        usize::MAX,
        Duration::from_secs(args.seconds),
    )
    .await?;
    Ok((single, concurrent))
}

async fn mevfleet_round(args: &Args) -> anyhow::Result<(Phase, Phase)> {
    let pki = TestPki::new()?;
    let admin = pki.creds(Role::Admin, "bench")?;
    let mut members = start_cluster(&pki, "")?;
    let addrs: Vec<SocketAddr> = members.iter().map(|m| m.quic).collect();
    let leader = addrs[find_leader(&admin, &addrs).await?];
    let pids: Vec<u32> = members
        .iter()
        .filter_map(|m| m.process.as_ref())
        .map(|p| p.id())
        .collect();
    let result = phases(args, &Target::Mevfleet { admin, leader }, &pids).await;
    for process in members.iter_mut().filter_map(|m| m.process.as_mut()) {
        process.terminate(Duration::from_secs(20)).await?;
    }
    result
}

async fn etcd_round(args: &Args) -> anyhow::Result<(Phase, Phase)> {
    let dir = tempfile::tempdir()?;
    let mut cluster = EtcdCluster::start(&args.etcd, dir.path()).await?;
    let leader = cluster.leader().await?;
    let target = Target::Etcd {
        leader,
        tls: cluster.tls.clone(),
    };
    let pids: Vec<u32> = cluster.processes.iter().map(|p| p.id()).collect();
    let result = phases(args, &target, &pids).await;
    for process in &mut cluster.processes {
        process.terminate(Duration::from_secs(20)).await?;
    }
    result
}

fn p(phase: &Phase, pick: fn(&Latency) -> f64) -> f64 {
    phase.latency.as_ref().map_or(f64::NAN, pick)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let (mevfleet_single, mevfleet_concurrent) = mevfleet_round(&args).await?;
        let (etcd_single, etcd_concurrent) = etcd_round(&args).await?;
        eprintln!(
            "round {round}: 1 client p50 mevfleet {:.3} ms, etcd {:.3} ms; {} clients mevfleet {:.0}/s, etcd {:.0}/s; \
             members' CPU per write, 1 client mevfleet {:.0} us, etcd {:.0} us; {} clients mevfleet {:.0} us, etcd {:.0} us",
            p(&mevfleet_single, |l| l.p50_ms),
            p(&etcd_single, |l| l.p50_ms),
            args.clients,
            mevfleet_concurrent.writes_per_second,
            etcd_concurrent.writes_per_second,
            mevfleet_single.members_cpu_us_per_write,
            etcd_single.members_cpu_us_per_write,
            args.clients,
            mevfleet_concurrent.members_cpu_us_per_write,
            etcd_concurrent.members_cpu_us_per_write,
        );
        rounds.push(Round {
            mevfleet_single,
            mevfleet_concurrent,
            etcd_single,
            etcd_concurrent,
        });
    }
    let pick = |f: &dyn Fn(&Round) -> f64| median(&mut rounds.iter().map(f).collect::<Vec<_>>());
    let report = Report {
        benchmark: "raft commit: mevfleet against etcd",
        members: 3,
        fsync: true,
        mevfleet_single_p50_ms: pick(&|r| p(&r.mevfleet_single, |l| l.p50_ms)),
        etcd_single_p50_ms: pick(&|r| p(&r.etcd_single, |l| l.p50_ms)),
        mevfleet_single_p99_ms: pick(&|r| p(&r.mevfleet_single, |l| l.p99_ms)),
        etcd_single_p99_ms: pick(&|r| p(&r.etcd_single, |l| l.p99_ms)),
        mevfleet_concurrent_writes_per_second: pick(&|r| r.mevfleet_concurrent.writes_per_second),
        etcd_concurrent_writes_per_second: pick(&|r| r.etcd_concurrent.writes_per_second),
        mevfleet_single_cpu_us_per_write: pick(&|r| r.mevfleet_single.members_cpu_us_per_write),
        etcd_single_cpu_us_per_write: pick(&|r| r.etcd_single.members_cpu_us_per_write),
        mevfleet_concurrent_cpu_us_per_write: pick(&|r| {
            r.mevfleet_concurrent.members_cpu_us_per_write
        }),
        etcd_concurrent_cpu_us_per_write: pick(&|r| r.etcd_concurrent.members_cpu_us_per_write),
        latency_ratio_etcd_to_mevfleet: pick(&|r| {
            p(&r.etcd_single, |l| l.p50_ms) / p(&r.mevfleet_single, |l| l.p50_ms)
        }),
        throughput_ratio_mevfleet_to_etcd: pick(&|r| {
            r.mevfleet_concurrent.writes_per_second / r.etcd_concurrent.writes_per_second
        }),
        rounds,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
