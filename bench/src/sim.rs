//! Simulated agents for the fleet benchmarks: each has its own agent
//! certificate from the fleet CA and its own QUIC connection to the leader
//! (many connections share one client UDP socket, as a load generator
//! must), says hello like a real agent, heartbeats at the interval the
//! leader's welcome names with a chain report that changes every beat, and
//! holds an order feed open, acknowledging each command by delivering its
//! result through the spool path. What they see goes to one channel.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mevfleet_common::chain::HealthState;
use mevfleet_common::command::{CommandResult, CommandStatus};
use mevfleet_common::identity::Role;
use mevfleet_common::report::{ChainReport, ReportDelta, SpoolRecord, Spooled};
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TransportSettings};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse, Hello, ORDER_FEED_IDLE};
use mevfleet_common::wire::{call, subscribe, RpcLimits};
use mevfleet_tests::{
    admin_request, coordinator_configs, data_dirs, wait_until, ProcessMember, TestPki,
};
use tokio::sync::{mpsc, Semaphore};

/// What a simulated agent reports to the benchmark.
#[derive(Debug)]
pub enum Seen {
    /// Registered (its hello was answered with a welcome) on this
    /// connection, which the benchmark reads QUIC's statistics from.
    Registered(quinn::Connection),
    /// A heartbeat was acknowledged `rtt` after it was sent, `gap` after
    /// the previous acknowledgement.
    Beat {
        /// Request to acknowledgement.
        rtt: Duration,
        /// Since the previous acknowledgement (none for the first).
        gap: Option<Duration>,
    },
    /// A heartbeat failed (timeout, stream error or an unexpected answer).
    BeatFailed(String),
    /// Command `id` arrived at this instant.
    Received(u64, Instant),
    /// Command `id`'s result was committed at this instant, `delivery`
    /// after its delivery was sent.
    Committed {
        /// The command.
        id: u64,
        /// When the leader's answer arrived.
        at: Instant,
        /// From sending the result to that answer.
        delivery: Duration,
    },
    /// The agent gave up.
    Failed(String),
}

/// Starts a 3-member cluster of real coordinator processes, with `extra`
/// TOML appended to every member's config.
pub fn start_cluster(pki: &TestPki, extra: &str) -> anyhow::Result<Vec<ProcessMember>> {
    let mut members = coordinator_configs(pki, &data_dirs(pki.root(), 3))?;
    for member in &mut members {
        let mut text = std::fs::read_to_string(&member.config)?;
        text.push_str(extra);
        std::fs::write(&member.config, text)?;
        member.start("warn")?;
    }
    Ok(members)
}

/// The leader's member index in `addrs`, once every member is healthy.
pub async fn find_leader(admin: &Credentials, addrs: &[SocketAddr]) -> anyhow::Result<usize> {
    wait_until("a leader", Duration::from_secs(30), || async {
        for addr in addrs {
            if let Ok(AdminResponse::ClusterStatus(status)) =
                admin_request(admin, *addr, &AdminRequest::ClusterStatus).await
            {
                let leader = status.leader?;
                if status.members.iter().all(|m| m.healthy) {
                    return Some(leader as usize - 1);
                }
            }
        }
        None
    })
    .await
}

/// One simulated agent's identity and where it connects.
#[derive(Debug)]
pub struct SimAgent {
    /// Its id (the name in its certificate).
    pub name: String,
    /// Its credentials.
    pub creds: Credentials,
    /// The leader's QUIC address.
    pub leader: SocketAddr,
    /// The client socket it shares with others.
    pub endpoint: quinn::Endpoint,
    /// When to send the first heartbeat after the welcome (spreads the
    /// fleet's heartbeats over the interval).
    pub offset: Duration,
    /// Whether it heartbeats at all.
    pub heartbeats: bool,
}

const LIMITS: RpcLimits = RpcLimits {
    max_frame: mevfleet_common::wire::DEFAULT_MAX_FRAME,
    timeout: Duration::from_secs(30),
};

impl SimAgent {
    /// Runs the agent until its connection fails; `dials` bounds how many
    /// handshakes and hellos run at once.
    pub async fn run(self, seen: mpsc::UnboundedSender<Seen>, dials: Arc<Semaphore>) {
        if let Err(err) = self.run_inner(&seen, dials).await {
            let _closed = seen.send(Seen::Failed(format!("{}: {err}", self.name)));
        }
    }

    async fn run_inner(
        &self,
        seen: &mpsc::UnboundedSender<Seen>,
        dials: Arc<Semaphore>,
    ) -> anyhow::Result<()> {
        let (conn, heartbeat_ms) = {
            let _permit = dials.acquire_owned().await?;
            let config = tls::client_config(
                &self.creds,
                Service::Agent,
                ExpectedPeer::role(Role::Coordinator),
                TransportSettings::default(),
            )?;
            let conn = tls::connect(&self.endpoint, config, self.leader, Duration::from_secs(30))
                .await
                .map_err(anyhow::Error::msg)?;
            let hello = AgentRequest::Hello(Hello {
                agent_id: self.name.clone(),
                version: mevfleet_common::VERSION.to_owned(),
                labels: Default::default(),
                chains: vec!["ethereum".into()],
                executes: Vec::new(),
                lost: None,
            });
            match call::<_, AgentResponse>(&conn, &hello, LIMITS).await? {
                AgentResponse::Welcome(welcome) => (conn, welcome.heartbeat_ms),
                other => anyhow::bail!("hello answered {other:?}"),
            }
        };
        let _closed = seen.send(Seen::Registered(conn.clone()));
        // A broken feed or failed delivery is reported at once, not when the
        // heartbeats end.
        let orders = {
            let (conn, name, seen) = (conn.clone(), self.name.clone(), seen.clone());
            tokio::spawn(async move {
                if let Err(err) = take_orders(conn, name.clone(), seen.clone()).await {
                    let _closed = seen.send(Seen::Failed(format!("{name}: commands: {err}")));
                }
            })
        };
        if self.heartbeats {
            self.heartbeat(&conn, Duration::from_millis(heartbeat_ms), seen)
                .await;
        }
        orders.await?;
        Ok(())
    }

    /// Heartbeats every `interval` until the connection closes.
    async fn heartbeat(
        &self,
        conn: &quinn::Connection,
        interval: Duration,
        seen: &mpsc::UnboundedSender<Seen>,
    ) {
        tokio::time::sleep(self.offset).await;
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seq = 0u64;
        let mut last_ack: Option<Instant> = None;
        while conn.close_reason().is_none() {
            ticks.tick().await;
            seq += 1;
            let request = AgentRequest::Heartbeat {
                seq,
                delta: ReportDelta {
                    chains: vec![chain_report(seq)],
                    ..ReportDelta::default()
                },
                holding: Vec::new(),
            };
            let sent = Instant::now();
            let event = match call::<_, AgentResponse>(conn, &request, LIMITS).await {
                Ok(AgentResponse::HeartbeatAck { .. }) => {
                    let now = Instant::now();
                    let gap = last_ack.map(|last| now.duration_since(last));
                    last_ack = Some(now);
                    Seen::Beat {
                        rtt: now.duration_since(sent),
                        gap,
                    }
                }
                Ok(other) => {
                    Seen::BeatFailed(format!("{}: heartbeat answered {other:?}", self.name))
                }
                Err(err) => Seen::BeatFailed(format!("{}: heartbeat: {err}", self.name)),
            };
            if seen.send(event).is_err() {
                return;
            }
        }
    }
}

/// The report a real agent sends each beat: its head moves every 12 beats
/// and its RPC latency changes every beat, so every heartbeat carries it.
fn chain_report(seq: u64) -> ChainReport {
    ChainReport {
        chain: "ethereum".into(),
        state: HealthState::Healthy,
        head: Some(20_000_000 + seq / 12),
        head_timestamp: Some(1_700_000_000 + seq),
        syncing: Some(false),
        peers: Some(50),
        rpc_latency_us: Some(400 + seq % 50),
        chain_id: Some(1),
        error: None,
    }
}

/// Holds an order feed open and acknowledges each command through the
/// spool path, as the real agent does.
async fn take_orders(
    conn: quinn::Connection,
    name: String,
    seen: mpsc::UnboundedSender<Seen>,
) -> anyhow::Result<()> {
    let spool_id = spool_id(&name);
    let mut seq = 0u64;
    let feed_limits = RpcLimits {
        timeout: ORDER_FEED_IDLE * 2 + Duration::from_secs(10),
        ..LIMITS
    };
    let request = AgentRequest::OrderFeed { known: Vec::new() };
    let mut feed = subscribe::<_, AgentResponse>(&conn, &request, feed_limits).await?;
    loop {
        let orders = match feed.next().await? {
            Some(AgentResponse::Orders(orders)) => orders,
            Some(AgentResponse::Wake) => continue,
            Some(other) => anyhow::bail!("{name}: the order feed sent {other:?}"),
            None => anyhow::bail!("{name}: the leader ended the order feed"),
        };
        let now = Instant::now();
        for order in orders {
            let _closed = seen.send(Seen::Received(order.id, now));
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
            let sent = Instant::now();
            match call::<_, AgentResponse>(&conn, &deliver, LIMITS).await? {
                AgentResponse::Delivered { .. } => {
                    let at = Instant::now();
                    let _closed = seen.send(Seen::Committed {
                        id: order.id,
                        at,
                        delivery: at.duration_since(sent),
                    });
                }
                other => anyhow::bail!("{name}: delivery answered {other:?}"),
            }
        }
    }
}

/// A spool id per simulated agent (any stable number will do).
fn spool_id(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
