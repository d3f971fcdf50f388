//! `raft-commit`: replicated write latency and throughput of a 3-member
//! mevfleet coordinator cluster on this machine (real processes, fsync on
//! every log append). Phase 1: one client, sequential writes. Phase 2: 64
//! concurrent clients. Each client keeps one QUIC connection to the leader
//! and writes `SetSetting` commands; a write counts when it is committed
//! and applied. Prints one JSON object.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use mevfleet_bench::Latency;
use mevfleet_common::identity::Role;
use mevfleet_common::tls::{Credentials, Service};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{call, RpcLimits};
use mevfleet_tests::{
    admin_request, coordinator_configs, data_dirs, dial, wait_until, ProcessMember, TestPki,
};
use serde::Serialize;

#[derive(Debug, Parser)]
#[command(about = "Replicated write latency and throughput of a 3-member coordinator cluster")]
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
}

#[derive(Debug, Serialize)]
struct Phase {
    clients: usize,
    writes: usize,
    seconds: f64,
    writes_per_second: f64,
    latency: Option<Latency>,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    members: usize,
    fsync: bool,
    single_client: Phase,
    concurrent: Phase,
}

/// Starts three coordinator processes.
fn start_cluster(pki: &TestPki) -> anyhow::Result<Vec<ProcessMember>> {
    let mut members = coordinator_configs(pki, &data_dirs(pki.root(), 3))?;
    for member in &mut members {
        member.start("warn")?;
    }
    Ok(members)
}

async fn find_leader(admin: &Credentials, addrs: &[SocketAddr]) -> anyhow::Result<SocketAddr> {
    let by_id: BTreeMap<u64, SocketAddr> = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| (i as u64 + 1, *a))
        .collect();
    wait_until("a leader", Duration::from_secs(30), || async {
        for addr in addrs {
            if let Ok(AdminResponse::ClusterStatus(status)) =
                admin_request(admin, *addr, &AdminRequest::ClusterStatus).await
            {
                if status.members.iter().all(|m| m.healthy) {
                    return status.leader.and_then(|id| by_id.get(&id).copied());
                }
            }
        }
        None
    })
    .await
}

/// One client: writes until `until` or `limit`, returning its latencies.
async fn client(
    admin: Credentials,
    leader: SocketAddr,
    name: usize,
    limit: usize,
    until: Instant,
) -> anyhow::Result<Vec<Duration>> {
    let (conn, _endpoint) = dial(&admin, leader, Service::Admin)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut samples = Vec::new();
    let mut n = 0usize;
    while n < limit && Instant::now() < until {
        let request = AdminRequest::SetSetting {
            key: format!("bench-{name}-{}", n % 1000),
            value: n.to_string(),
        };
        let started = Instant::now();
        match call::<_, AdminResponse>(&conn, &request, RpcLimits::default()).await? {
            AdminResponse::Written(_) => samples.push(started.elapsed()),
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
        n += 1;
    }
    Ok(samples)
}

async fn phase(
    admin: &Credentials,
    leader: SocketAddr,
    clients: usize,
    limit: usize,
    duration: Duration,
) -> anyhow::Result<Phase> {
    let started = Instant::now();
    let until = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|name| tokio::spawn(client(admin.clone(), leader, name, limit, until)))
        .collect();
    let mut samples = Vec::new();
    for task in tasks {
        samples.extend(task.await??);
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Phase {
        clients,
        writes: samples.len(),
        seconds,
        writes_per_second: samples.len() as f64 / seconds,
        latency: Latency::of(&mut samples),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pki = TestPki::new()?;
    let admin = pki.creds(Role::Admin, "bench")?;
    let mut members = start_cluster(&pki)?;
    let addrs: Vec<SocketAddr> = members.iter().map(|m| m.quic).collect();
    let leader = find_leader(&admin, &addrs).await?;
    // Warm-up: connections, first allocations, RocksDB memtables.
    phase(&admin, leader, 4, 200, Duration::from_secs(5)).await?;
    let single_client = phase(
        &admin,
        leader,
        1,
        args.single_writes,
        Duration::from_secs(600),
    )
    .await?;
    let concurrent = phase(
        &admin,
        leader,
        args.clients,
        usize::MAX,
        Duration::from_secs(args.seconds),
    )
    .await?;
    let report = Report {
        benchmark: "mevfleet raft commit",
        members: 3,
        fsync: true,
        single_client,
        concurrent,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    for process in members.iter_mut().filter_map(|m| m.process.as_mut()) {
        process.terminate(Duration::from_secs(20)).await?;
    }
    Ok(())
}
