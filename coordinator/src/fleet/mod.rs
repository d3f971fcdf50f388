//! The fleet as the leader runs it: agents say hello (and are registered in
//! Raft), send heartbeats into the live view, and deliver spooled records
//! that are committed exactly once. Reads of the fleet view are answered by
//! the leader, wherever they arrive.

pub mod assess;
pub mod failover;
pub mod lease;
pub mod live;
mod live_heads;
pub mod maintenance;
pub mod mempool;
pub mod mev;
mod orders;
pub mod policy;
pub mod resources;
mod rolling;
pub mod routine;
mod routine_run;
pub mod stalls;
#[cfg(test)]
mod test_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mevfleet_common::chain::HealthState;
use mevfleet_common::histogram::LatencyHistogram;
use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::report::{ReportDelta, Spooled};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::wire::admin::{ClusterStatus, ServerInfo};
use mevfleet_common::wire::agent::{
    AgentResponse, ChainGuards, Control, ExecutorInfo, Held, Hello, Welcome,
};
use mevfleet_common::wire::fleet::{AgentView, FleetView};
use mevfleet_common::wire::{ErrorCode, WireError};
use openraft::ServerState;
use tracing::{debug, info, warn};

pub use assess::{assess, AssessInput};
pub use lease::{LeaseBook, LeaseTiming};
pub use live::LiveView;
pub use orders::MAX_ORDERS_WAIT;
pub use policy::FleetPolicy;

use crate::node::{unix_ms, NodeCore, NodeError, Retry};
use crate::raft::state_machine::Applied;
use crate::raft::wire::{RaftRequest, RaftResponse};
use crate::state::{Actor, AgentRecord, Command, Outcome, Proposal};

/// How long a follower holds an agent's hello while an election runs.
const HELLO_ELECTION_WAIT: Duration = Duration::from_secs(3);

/// How often the leader checks whether an executor role must move.
const FAILOVER_TICK: Duration = Duration::from_millis(100);

/// How long a forwarded fleet view may take. The leader asks every member
/// for its status (800 ms at most each, in parallel); a forward that takes
/// longer went to a leader that died, and is sent again once the followers
/// know the new one.
const VIEW_TIMEOUT: Duration = Duration::from_secs(2);

/// The fleet service of one coordinator member.
#[derive(Debug)]
pub struct Fleet {
    core: Arc<NodeCore>,
    live: LiveView,
    leases: std::sync::Mutex<LeaseBook>,
    failover_running: tokio::sync::Mutex<()>,
    policy: FleetPolicy,
    /// Why the running maintenance plan waits, as the leader last saw it.
    maintenance_waiting: std::sync::Mutex<Option<String>>,
    /// The allocation's weights by chain, and when they were computed.
    weights: std::sync::Mutex<(Option<Instant>, BTreeMap<String, u32>)>,
    /// When the routine was last looked at.
    routine_looked: std::sync::Mutex<Option<Instant>>,
    /// Per agent: woken when its next heartbeat should come at once.
    wakes: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::Notify>>>,
    /// The mempool summaries and forwarded transactions (leader only).
    mempool: mempool::MempoolWindow,
    /// How long answering each heartbeat took, once its request was read.
    heartbeat_timing: LatencyHistogram,
}

/// Where the leader is, as this member knows right now.
enum Leadership {
    /// This member leads.
    Here,
    /// Another member leads (its address, when known), or nobody does.
    Elsewhere(Option<String>),
}

impl Fleet {
    /// The fleet service over `core`.
    pub fn new(core: Arc<NodeCore>, policy: FleetPolicy) -> Arc<Self> {
        Arc::new(Self {
            core,
            live: LiveView::default(),
            leases: Default::default(),
            failover_running: Default::default(),
            policy,
            maintenance_waiting: Default::default(),
            weights: Default::default(),
            routine_looked: Default::default(),
            wakes: Default::default(),
            mempool: Default::default(),
            heartbeat_timing: Default::default(),
        })
    }

    /// The Raft node.
    pub fn core(&self) -> &Arc<NodeCore> {
        &self.core
    }

    /// The live view (empty unless this member leads).
    pub fn live(&self) -> &LiveView {
        &self.live
    }

    /// The mempool window (empty unless this member leads).
    pub fn mempool(&self) -> &mempool::MempoolWindow {
        &self.mempool
    }

    /// An agent's mempool report into the window, or where the leader is.
    pub fn mempool_report(
        &self,
        peer: &PeerIdentity,
        report: mevfleet_common::mempool::MempoolReport,
    ) -> AgentResponse {
        if let Leadership::Elsewhere(leader) = self.leadership() {
            return AgentResponse::NotLeader { leader };
        }
        self.mempool.take(
            &peer.name,
            report,
            Instant::now(),
            mevfleet_common::mempool::unix_us(),
        );
        AgentResponse::MempoolTaken
    }

    /// The limits.
    pub fn policy(&self) -> &FleetPolicy {
        &self.policy
    }

    /// Where the leader is, waiting up to `HELLO_ELECTION_WAIT` while this
    /// member knows no leader or still takes `lost` (which the agent just
    /// lost) for it: the agent then goes straight to the new leader.
    async fn leader_other_than(&self, lost: Option<&str>) -> Leadership {
        let deadline = Instant::now() + HELLO_ELECTION_WAIT;
        let mut metrics = self.core.raft().metrics();
        loop {
            let leadership = self.leadership();
            let settled = match &leadership {
                Leadership::Here => true,
                Leadership::Elsewhere(Some(addr)) => Some(addr.as_str()) != lost,
                Leadership::Elsewhere(None) => false,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            if settled || remaining.is_zero() {
                return leadership;
            }
            if tokio::time::timeout(remaining, metrics.changed())
                .await
                .is_ok_and(|changed| changed.is_err())
            {
                return leadership;
            }
        }
    }

    fn leadership(&self) -> Leadership {
        let metrics = self.core.raft().metrics().borrow().clone();
        if metrics.state == ServerState::Leader {
            return Leadership::Here;
        }
        let addr = metrics.current_leader.and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map(|node| node.addr.clone())
        });
        Leadership::Elsewhere(addr)
    }

    /// An agent's hello: registers it (a Raft write, only when something
    /// changed) and welcomes it, or says where the leader is.
    pub async fn hello(
        &self,
        peer: &PeerIdentity,
        hello: Hello,
        server: ServerInfo,
    ) -> Result<AgentResponse, WireError> {
        if let Leadership::Elsewhere(leader) = self.leader_other_than(hello.lost.as_deref()).await {
            return Ok(AgentResponse::NotLeader { leader });
        }
        let known = self
            .core
            .view()
            .read(|applied| applied.state.agents.get(&hello.agent_id).cloned())
            .await;
        let unchanged = known.as_ref().is_some_and(|record| {
            record.labels == hello.labels
                && record.chains == hello.chains
                && record.executes == hello.executes
                && record.version == hello.version
        });
        if !unchanged {
            let proposal = Proposal {
                actor: Actor::new(peer.role.as_str(), peer.name.as_str()),
                at_ms: unix_ms(),
                command: Command::RegisterAgent {
                    id: hello.agent_id.clone(),
                    labels: hello.labels.clone(),
                    chains: hello.chains.clone(),
                    executes: hello.executes.clone(),
                    version: hello.version.clone(),
                },
            };
            match self.core.write_here(proposal).await {
                Ok(_) => {
                    info!(agent.id = %hello.agent_id, chains = ?hello.chains, "agent registered")
                }
                Err(NodeError::NotLeader) => {
                    return Ok(AgentResponse::NotLeader { leader: None });
                }
                Err(err) => return Err(unavailable(err)),
            }
        }
        self.live.hello(&hello.agent_id, Instant::now(), unix_ms());
        Ok(AgentResponse::Welcome(Welcome {
            server,
            heartbeat_ms: self.policy.heartbeat.as_millis() as u64,
            limits: self.policy.limits_for(&hello.chains),
        }))
    }

    fn book(&self) -> std::sync::MutexGuard<'_, LeaseBook> {
        self.leases
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A heartbeat into the live view, answered with the agent's leases,
    /// or where the leader is; timed into `heartbeat_timing`.
    pub async fn heartbeat(
        self: &Arc<Self>,
        peer: &PeerIdentity,
        seq: u64,
        delta: ReportDelta,
        holding: Vec<Held>,
    ) -> AgentResponse {
        let started = Instant::now();
        let answer = self.answer_heartbeat(peer, seq, delta, holding).await;
        self.heartbeat_timing.observe(started.elapsed());
        answer
    }

    /// How long answering heartbeats has taken on this member.
    pub fn heartbeat_timing(&self) -> &LatencyHistogram {
        &self.heartbeat_timing
    }

    async fn answer_heartbeat(
        self: &Arc<Self>,
        peer: &PeerIdentity,
        seq: u64,
        delta: ReportDelta,
        holding: Vec<Held>,
    ) -> AgentResponse {
        if let Leadership::Elsewhere(leader) = self.leadership() {
            return AgentResponse::NotLeader { leader };
        }
        let now = Instant::now();
        // The leadership watch may not have run yet on a brand-new leader.
        self.book().took_office(now);
        // A node whose verdict changed, or an executor that gave up its
        // lease: decide now rather than at the next failover tick.
        let urgent = delta.chains.iter().any(|c| c.state != HealthState::Healthy)
            || holding.len() < self.book().held_by(&peer.name);
        let known = self.live.heartbeat(&peer.name, delta, now, unix_ms());
        if urgent {
            let fleet = self.clone();
            tokio::spawn(async move { fleet.failover_once().await });
        }
        if !known {
            debug!(agent.id = %peer.name, "heartbeat from an agent new to this leader");
        }
        let quorum_age = self
            .core
            .raft()
            .metrics()
            .borrow()
            .millis_since_quorum_ack
            .map(Duration::from_millis);
        let mut control = self
            .lease_answer(&peer.name, &holding, now, quorum_age)
            .await;
        if !control.1.is_empty() {
            // A handover to this agent just became safe: commit it, then
            // answer with the lease at once rather than on the next beat.
            for (chain, epoch) in std::mem::take(&mut control.1) {
                self.activate(chain, epoch).await;
            }
            control = self
                .lease_answer(&peer.name, &holding, now, quorum_age)
                .await;
        }
        let control = control.0;
        AgentResponse::HeartbeatAck {
            seq,
            resend_full: !known,
            control,
        }
    }

    /// What the leader answers `agent`'s heartbeat about execution, and
    /// the handovers to it that have just become safe.
    async fn lease_answer(
        &self,
        agent: &str,
        holding: &[Held],
        now: Instant,
        quorum_age: Option<Duration>,
    ) -> (Control, Vec<(String, u64)>) {
        let timing = LeaseTiming::for_lease(self.policy.lease);
        self.core
            .view()
            .read(|applied| {
                let state = &applied.state;
                let answer = self
                    .book()
                    .on_heartbeat(agent, holding, state, now, timing, quorum_age);
                let serves = state
                    .agents
                    .get(agent)
                    .map(|r| r.chains.clone())
                    .unwrap_or_default();
                let control = Control {
                    grants: answer.grants,
                    revoke: answer.revoke,
                    halted: state.halted,
                    safe_mode: state.safe_mode.contains(agent),
                    guards: serves
                        .iter()
                        .map(|chain| ChainGuards {
                            chain: chain.clone(),
                            guards: state.guards.get(chain).cloned().unwrap_or_default(),
                        })
                        .collect(),
                    weights: {
                        let weights = self.weights();
                        serves
                            .iter()
                            .filter_map(|c| weights.get(c).map(|w| (c.clone(), *w)))
                            .collect()
                    },
                    executors: serves
                        .iter()
                        .map(|chain| {
                            let assignment = state.executors.get(chain);
                            ExecutorInfo {
                                chain: chain.clone(),
                                agent: assignment.and_then(|a| a.agent.clone()),
                                epoch: assignment.map_or(0, |a| a.epoch),
                            }
                        })
                        .collect(),
                };
                (control, answer.activate)
            })
            .await
    }

    /// Commits that a handover is safe: the new holder may be granted.
    async fn activate(&self, chain: String, epoch: u64) {
        let proposal = Proposal {
            actor: Actor::new("coordinator", format!("node-{}", self.core.node_id())),
            at_ms: unix_ms(),
            command: Command::ActivateExecutor {
                chain: chain.clone(),
                epoch,
            },
        };
        match self.core.write_here(proposal).await {
            Ok((_, Outcome::Refused(reason))) => {
                debug!(chain = %chain, epoch, reason = %reason, "activation not applied")
            }
            Ok(_) => {
                info!(chain = %chain, epoch, "executor handover is safe: the new executor may execute")
            }
            Err(err) => warn!(chain = %chain, epoch, error = %err, "cannot activate the executor"),
        }
    }

    /// Commits spooled records (exactly once per sequence number).
    pub async fn deliver(
        &self,
        peer: &PeerIdentity,
        spool_id: u64,
        records: Vec<Spooled>,
    ) -> Result<AgentResponse, WireError> {
        if let Leadership::Elsewhere(leader) = self.leadership() {
            return Ok(AgentResponse::NotLeader { leader });
        }
        if records.windows(2).any(|pair| pair[0].seq >= pair[1].seq) {
            return Err(WireError::bad_request(
                "spooled records must come in increasing seq order",
            ));
        }
        let proposal = Proposal {
            actor: Actor::new(peer.role.as_str(), peer.name.as_str()),
            at_ms: unix_ms(),
            command: Command::AgentRecords {
                agent: peer.name.clone(),
                spool_id,
                records,
            },
        };
        match self.core.write_here(proposal).await {
            Ok((
                _,
                Outcome::RecordsThrough {
                    through_seq,
                    applied,
                },
            )) => {
                debug!(agent.id = %peer.name, through_seq, applied, "spooled records committed");
                Ok(AgentResponse::Delivered { through_seq })
            }
            Ok((_, Outcome::Refused(reason))) => Err(WireError::bad_request(reason)),
            Ok((_, other)) => Err(WireError::new(
                ErrorCode::INTERNAL,
                format!("unexpected outcome {other:?}"),
            )),
            Err(NodeError::NotLeader) => Ok(AgentResponse::NotLeader { leader: None }),
            Err(err) => Err(unavailable(err)),
        }
    }

    /// The fleet view from the leader, wherever it is.
    pub async fn view(&self) -> Result<FleetView, NodeError> {
        let answer = |response| match response {
            RaftResponse::Fleet(view) => Some(*view),
            _ => None,
        };
        self.core
            .through_leader(
                || self.view_here(),
                &RaftRequest::FleetView,
                VIEW_TIMEOUT,
                answer,
                Retry::Always,
            )
            .await
    }

    /// The fleet view, built here; this member must lead.
    pub async fn view_here(&self) -> Result<FleetView, NodeError> {
        if !matches!(self.leadership(), Leadership::Here) {
            return Err(NodeError::NotLeader);
        }
        let cluster = self.core.cluster_status().await;
        let mut view = self.assess_now(cluster).await;
        view.mempool = mempool::view(
            &self.mempool.snapshot(Instant::now()),
            self.policy.alerts.gas_spike_multiplier,
        );
        Ok(view)
    }

    async fn assess_now(&self, cluster: ClusterStatus) -> FleetView {
        let live = self.live.snapshot(Instant::now());
        let policy = &self.policy;
        let leader = self.core.node_id();
        self.core
            .view()
            .read(|applied| {
                assess(AssessInput {
                    leader,
                    now_ms: unix_ms(),
                    registry: &applied.state.agents,
                    events: &applied.state.events,
                    executors: &applied.state.executors,
                    halted: applied.state.halted,
                    guards: &applied.state.guards,
                    executions: &applied.state.executions,
                    live: &live,
                    cluster,
                    policy,
                })
            })
            .await
    }

    /// On the leader, every `FAILOVER_TICK`: decide which executor roles
    /// must move and commit the moves.
    pub fn spawn_failover(self: &Arc<Self>, shutdown: &Shutdown) {
        let fleet = self.clone();
        let token = shutdown.token().clone();
        shutdown.spawn("failover", async move {
            let mut ticks = tokio::time::interval(FAILOVER_TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                if !matches!(fleet.leadership(), Leadership::Here) {
                    continue;
                }
                fleet.failover_once().await;
            }
        });
    }

    /// Ticks the stall clock on the service runtime, so that a heartbeat
    /// held up by this member's own stall is not taken for the agent's
    /// silence (see [`stalls`]).
    pub fn spawn_stall_clock(self: &Arc<Self>, shutdown: &Shutdown) {
        let fleet = self.clone();
        let token = shutdown.token().clone();
        shutdown.spawn("stall-clock", async move {
            let mut ticks = tokio::time::interval(stalls::TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = ticks.tick() => fleet.live.clock_tick(Instant::now()),
                }
            }
        });
    }

    /// One failover round, unless one is already running.
    async fn failover_once(&self) {
        let Ok(_running) = self.failover_running.try_lock() else {
            return;
        };
        self.failover_round().await;
    }

    /// Every tick: the failover decision over the agents that hold or may
    /// take a role (not the whole fleet, which grows with the hosts); the
    /// whole view only when a maintenance plan runs or the routine is due.
    async fn failover_round(&self) {
        let now = Instant::now();
        let in_office = self.live.in_office(now).unwrap_or_default();
        let (commands, maintaining) = self
            .core
            .view()
            .read(|applied| {
                let state = &applied.state;
                let agents = self.failover_agents(applied, now);
                let commands = failover::decide(
                    &agents,
                    failover::Committed {
                        registry: &state.agents,
                        executors: &state.executors,
                        drained: &state.drained,
                    },
                    in_office,
                    self.policy.leader_grace,
                );
                (commands, state.active_maintenance().is_some())
            })
            .await;
        self.commit_decisions(commands, "failover").await;
        self.refresh_weights().await;
        if in_office < self.policy.leader_grace {
            return;
        }
        let routine_due = self.routine_due_to_look();
        if !(maintaining || routine_due) {
            return;
        }
        let view = self
            .assess_now(ClusterStatus {
                leader: Some(self.core.node_id()),
                term: 0,
                members: Vec::new(),
            })
            .await;
        if maintaining {
            self.maintenance_round(&view).await;
        }
        if routine_due {
            self.routine_round(&view).await;
        }
    }

    /// The views of the agents the failover decision looks at: those that
    /// may execute on a chain and those that hold a role, lag measured
    /// against the heads of the whole fleet.
    fn failover_agents(&self, applied: &Applied, now: Instant) -> Vec<AgentView> {
        let state = &applied.state;
        let holders: BTreeSet<&str> = state
            .executors
            .values()
            .filter_map(|assignment| assignment.agent.as_deref())
            .collect();
        let wanted = |record: &AgentRecord| {
            !record.executes.is_empty() || holders.contains(record.id.as_str())
        };
        let ids: BTreeSet<&str> = state
            .agents
            .values()
            .filter(|record| wanted(record))
            .map(|record| record.id.as_str())
            .collect();
        let live = self.live.snapshot_of(now, &ids);
        let heads = self
            .live
            .corroborated_heads(now, self.policy.connected_within());
        let input = AssessInput {
            leader: self.core.node_id(),
            now_ms: unix_ms(),
            registry: &state.agents,
            events: &state.events,
            executors: &state.executors,
            halted: state.halted,
            guards: &state.guards,
            executions: &state.executions,
            live: &live,
            cluster: ClusterStatus {
                leader: Some(self.core.node_id()),
                term: 0,
                members: Vec::new(),
            },
            policy: &self.policy,
        };
        assess::agent_views(&input, &heads, wanted)
    }

    /// Commits decisions the leader made on its own, logging each.
    async fn commit_decisions(&self, commands: Vec<Command>, kind: &str) {
        for command in commands {
            let what = command.describe();
            // A new executor is told to heartbeat at once for its lease.
            let wake = match &command {
                Command::AssignExecutor {
                    agent: Some(agent), ..
                } => Some(agent.clone()),
                _ => None,
            };
            let proposal = Proposal {
                actor: Actor::new("coordinator", format!("node-{}", self.core.node_id())),
                at_ms: unix_ms(),
                command,
            };
            match self.core.write_here(proposal).await {
                Ok((_, Outcome::Refused(reason))) => {
                    debug!(what = %what, reason = %reason, kind, "decision not applied")
                }
                Ok(_) => {
                    info!(what = %what, kind, "decision committed");
                    if let Some(agent) = wake {
                        self.wake(&agent);
                    }
                }
                Err(err) => warn!(what = %what, error = %err, kind, "decision not committed"),
            }
        }
    }

    /// Keeps the live view in step with leadership: a member that takes
    /// office starts an empty view (and its grace period), one that steps
    /// down forgets it.
    pub fn spawn_leadership_watch(self: &Arc<Self>, shutdown: &Shutdown) {
        let fleet = self.clone();
        let token = shutdown.token().clone();
        shutdown.spawn("leadership-watch", async move {
            // Only the role matters here: the server metrics change with it
            // (and the vote, leader and membership), not with every write.
            let mut server = fleet.core.raft().server_metrics();
            let mut leading = false;
            loop {
                let now_leading = server.borrow_and_update().state == ServerState::Leader;
                if now_leading != leading {
                    leading = now_leading;
                    if leading {
                        info!(
                            grace_ms = fleet.policy.leader_grace.as_millis() as u64,
                            "took office: waiting for agents to reconnect"
                        );
                        fleet.live.took_office(Instant::now());
                        fleet.book().took_office(Instant::now());
                    } else {
                        fleet.live.stepped_down();
                        fleet.book().stepped_down();
                    }
                    fleet.mempool.clear();
                }
                tokio::select! {
                    _ = token.cancelled() => break,
                    changed = server.changed() => if changed.is_err() { break },
                }
            }
        });
    }
}

fn unavailable(err: NodeError) -> WireError {
    WireError::new(ErrorCode::UNAVAILABLE, err.to_string())
}
