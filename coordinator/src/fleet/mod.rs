//! The fleet as the leader runs it: agents say hello (and are registered in
//! Raft), send heartbeats into the live view, and deliver spooled records
//! that are committed exactly once. Reads of the fleet view are answered by
//! the leader, wherever they arrive.

pub mod assess;
pub mod live;
pub mod policy;

use std::sync::Arc;
use std::time::{Duration, Instant};

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::report::{ReportDelta, Spooled};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::wire::admin::ServerInfo;
use mevfleet_common::wire::agent::{AgentResponse, Hello, Welcome};
use mevfleet_common::wire::fleet::FleetView;
use mevfleet_common::wire::{ErrorCode, WireError};
use openraft::ServerState;
use tracing::{debug, info};

pub use assess::{assess, AssessInput};
pub use live::LiveView;
pub use policy::FleetPolicy;

use crate::node::{unix_ms, NodeCore, NodeError, Retry};
use crate::raft::wire::{RaftRequest, RaftResponse};
use crate::state::{Actor, Command, Outcome, Proposal};

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
    policy: FleetPolicy,
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
            policy,
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

    /// The limits.
    pub fn policy(&self) -> &FleetPolicy {
        &self.policy
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
        if let Leadership::Elsewhere(leader) = self.leadership() {
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

    /// A heartbeat into the live view, or where the leader is.
    pub fn heartbeat(&self, peer: &PeerIdentity, seq: u64, delta: ReportDelta) -> AgentResponse {
        if let Leadership::Elsewhere(leader) = self.leadership() {
            return AgentResponse::NotLeader { leader };
        }
        let known = self
            .live
            .heartbeat(&peer.name, delta, Instant::now(), unix_ms());
        if !known {
            debug!(agent.id = %peer.name, "heartbeat from an agent new to this leader");
        }
        AgentResponse::HeartbeatAck {
            seq,
            resend_full: !known,
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
        let live = self.live.snapshot(Instant::now());
        let policy = &self.policy;
        let leader = self.core.node_id();
        Ok(self
            .core
            .view()
            .read(|applied| {
                assess(AssessInput {
                    leader,
                    now_ms: unix_ms(),
                    registry: &applied.state.agents,
                    events: &applied.state.events,
                    live: &live,
                    cluster,
                    policy,
                })
            })
            .await)
    }

    /// Keeps the live view in step with leadership: a member that takes
    /// office starts an empty view (and its grace period), one that steps
    /// down forgets it.
    pub fn spawn_leadership_watch(self: &Arc<Self>, shutdown: &Shutdown) {
        let fleet = self.clone();
        let token = shutdown.token().clone();
        shutdown.spawn("leadership-watch", async move {
            let mut metrics = fleet.core.raft().metrics();
            let mut leading = false;
            loop {
                let now_leading = metrics.borrow_and_update().state == ServerState::Leader;
                if now_leading != leading {
                    leading = now_leading;
                    if leading {
                        info!(
                            grace_ms = fleet.policy.leader_grace.as_millis() as u64,
                            "took office: waiting for agents to reconnect"
                        );
                        fleet.live.took_office(Instant::now());
                    } else {
                        fleet.live.stepped_down();
                    }
                }
                tokio::select! {
                    _ = token.cancelled() => break,
                    changed = metrics.changed() => if changed.is_err() { break },
                }
            }
        });
    }
}

fn unavailable(err: NodeError) -> WireError {
    WireError::new(ErrorCode::UNAVAILABLE, err.to_string())
}
