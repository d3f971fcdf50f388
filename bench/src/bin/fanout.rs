//! `fanout`: how fast a fleet command reaches many agents. A 3-member
//! coordinator cluster (real processes) and 1,000 simulated agents in this
//! process, each with its own certificate and its own QUIC connection to
//! the leader, registered like real agents and polling for commands like
//! them. Each trial issues one command to all of them and measures, from
//! the moment the CLI's request is sent, the time until every agent has
//! received it and the time until every agent's acknowledgement (its
//! result, through the spool path) is committed. Prints one JSON object.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use mevfleet_bench::Latency;
use mevfleet_common::command::{CommandResult, CommandSpec, CommandStatus, Target};
use mevfleet_common::identity::Role;
use mevfleet_common::report::{SpoolRecord, Spooled};
use mevfleet_common::tls::{Credentials, Service};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse, Hello};
use mevfleet_common::wire::{call, RpcLimits};
use mevfleet_tests::{
    admin_request, coordinator_configs, data_dirs, dial, wait_until, ProcessMember, TestPki,
};
use serde::Serialize;
use tokio::sync::mpsc;

#[derive(Debug, Parser)]
#[command(about = "Time for a fleet command to reach (and be acknowledged by) every agent")]
struct Args {
    /// Simulated agents.
    #[arg(long, default_value_t = 1000)]
    agents: usize,
    /// Commands issued, one after another.
    #[arg(long, default_value_t = 20)]
    trials: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    benchmark: &'static str,
    agents: usize,
    trials: usize,
    all_received: Option<Latency>,
    all_acknowledged: Option<Latency>,
}

/// What a simulated agent saw of a command.
#[derive(Debug)]
enum Seen {
    Received(u64, Instant),
    Committed(u64, Instant),
}

/// One simulated agent: hello, then poll for commands and acknowledge each.
async fn agent(
    creds: Credentials,
    name: String,
    leader: SocketAddr,
    seen: mpsc::UnboundedSender<Seen>,
    registered: mpsc::UnboundedSender<()>,
) -> anyhow::Result<()> {
    let (conn, _endpoint) = dial(&creds, leader, Service::Agent)
        .await
        .map_err(anyhow::Error::msg)?;
    let hello = AgentRequest::Hello(Hello {
        agent_id: name.clone(),
        version: mevfleet_common::VERSION.to_owned(),
        labels: Default::default(),
        chains: vec!["ethereum".into()],
        executes: Vec::new(),
        lost: None,
    });
    let limits = RpcLimits {
        timeout: Duration::from_secs(60),
        ..RpcLimits::default()
    };
    match call::<_, AgentResponse>(&conn, &hello, limits).await? {
        AgentResponse::Welcome(_) => {}
        other => anyhow::bail!("{name}: hello answered {other:?}"),
    }
    let _closed = registered.send(());
    let spool_id = rand_id(&name);
    let mut seq = 0u64;
    let mut known = Vec::new();
    loop {
        let poll = AgentRequest::Orders {
            known: known.clone(),
            wait_ms: 20_000,
        };
        let orders = match call::<_, AgentResponse>(&conn, &poll, limits).await? {
            AgentResponse::Orders(orders) => orders,
            // Heartbeat now: these agents do not heartbeat; poll again.
            AgentResponse::Wake => continue,
            other => anyhow::bail!("{name}: poll answered {other:?}"),
        };
        let now = Instant::now();
        for order in orders {
            let _closed = seen.send(Seen::Received(order.id, now));
            known.push(order.id);
            seq += 1;
            let deliver = AgentRequest::Deliver {
                spool_id,
                records: vec![Spooled {
                    seq,
                    record: SpoolRecord::Command(CommandResult {
                        id: order.id,
                        status: CommandStatus::Ok,
                        exit_code: Some(0),
                        output: String::new(),
                        duration_ms: 0,
                        at_ms: 0,
                    }),
                }],
            };
            match call::<_, AgentResponse>(&conn, &deliver, limits).await? {
                AgentResponse::Delivered { .. } => {
                    let _closed = seen.send(Seen::Committed(order.id, Instant::now()));
                }
                other => anyhow::bail!("{name}: delivery answered {other:?}"),
            }
        }
    }
}

/// A spool id per simulated agent (any stable number will do).
fn rand_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn start_cluster(pki: &TestPki) -> anyhow::Result<Vec<ProcessMember>> {
    let mut members = coordinator_configs(pki, &data_dirs(pki.root(), 3))?;
    for member in &mut members {
        member.start("warn")?;
    }
    Ok(members)
}

async fn find_leader(admin: &Credentials, addrs: &[SocketAddr]) -> anyhow::Result<SocketAddr> {
    wait_until("a leader", Duration::from_secs(30), || async {
        for addr in addrs {
            if let Ok(AdminResponse::ClusterStatus(status)) =
                admin_request(admin, *addr, &AdminRequest::ClusterStatus).await
            {
                let leader = status.leader?;
                if status.members.iter().all(|m| m.healthy) {
                    return addrs.get(leader as usize - 1).copied();
                }
            }
        }
        None
    })
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pki = TestPki::new()?;
    let members = start_cluster(&pki)?;
    let addrs: Vec<SocketAddr> = members.iter().map(|m| m.quic).collect();
    let admin = pki.creds(Role::Operator, "bench")?;
    let leader = find_leader(&admin, &addrs).await?;
    eprintln!(
        "leader at {leader}; issuing {} agent certificates",
        args.agents
    );

    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let (registered_tx, mut registered) = mpsc::unbounded_channel();
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    for i in 0..args.agents {
        let name = format!("sim-{i:04}");
        let creds = pki.creds(Role::Agent, &name)?;
        let (seen_tx, registered_tx, failures) =
            (seen_tx.clone(), registered_tx.clone(), failures.clone());
        tokio::spawn(async move {
            if let Err(err) = agent(creds, name, leader, seen_tx, registered_tx).await {
                if let Ok(mut failures) = failures.lock() {
                    failures.push(err.to_string());
                }
            }
        });
    }
    drop(registered_tx);
    let mut count = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while count < args.agents {
        match tokio::time::timeout_at(deadline, registered.recv()).await {
            Ok(Some(())) => count += 1,
            _ => anyhow::bail!(
                "only {count} of {} agents registered: {:?}",
                args.agents,
                failures
                    .lock()
                    .map(|f| f.iter().take(3).cloned().collect::<Vec<_>>())
            ),
        }
    }
    eprintln!("{count} agents registered");

    let (conn, _endpoint) = dial(&admin, leader, Service::Admin)
        .await
        .map_err(anyhow::Error::msg)?;
    let (mut received_all, mut acknowledged_all) = (Vec::new(), Vec::new());
    for trial in 0..args.trials {
        let request = AdminRequest::Broadcast(CommandSpec {
            target: Target::All,
            action: "noop".into(),
            args: Vec::new(),
            timeout_ms: None,
            expires_in_ms: 600_000,
        });
        let sent = Instant::now();
        let id = match call::<_, AdminResponse>(&conn, &request, RpcLimits::default()).await? {
            AdminResponse::Issued { command_id, .. } => command_id,
            other => anyhow::bail!("broadcast answered {other:?}"),
        };
        let (mut received, mut committed) = (0usize, 0usize);
        let (mut last_received, mut last_committed) = (sent, sent);
        while committed < args.agents {
            let event = tokio::time::timeout(Duration::from_secs(60), seen.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "trial {trial}: {received} received, {committed} committed after 60 s"
                    )
                })?
                .ok_or_else(|| anyhow::anyhow!("every agent stopped"))?;
            match event {
                Seen::Received(c, at) if c == id => {
                    received += 1;
                    last_received = last_received.max(at);
                }
                Seen::Committed(c, at) if c == id => {
                    committed += 1;
                    last_committed = last_committed.max(at);
                }
                _ => {}
            }
        }
        received_all.push(last_received.duration_since(sent));
        acknowledged_all.push(last_committed.duration_since(sent));
        eprintln!(
            "trial {trial}: all received {:?}, all acknowledged {:?}",
            last_received.duration_since(sent),
            last_committed.duration_since(sent)
        );
    }
    let report = Report {
        benchmark: "fanout",
        agents: args.agents,
        trials: args.trials,
        all_received: Latency::of(&mut received_all),
        all_acknowledged: Latency::of(&mut acknowledged_all),
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    drop(members);
    Ok(())
}
