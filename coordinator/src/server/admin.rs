//! The admin service: requests from the `mevfleet` CLI. Reads are open to
//! every human role; writes need the role the design gives them (admins
//! change membership and settings).

use std::sync::Arc;

use mevfleet_common::identity::{validate_name, PeerIdentity, Role};
use mevfleet_common::labels::validate_label;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse, WriteReceipt};
use mevfleet_common::wire::enroll::JoinTokenSpec;
use mevfleet_common::wire::{ErrorCode, Handler, WireError};

use super::Whoami;
use crate::fleet::Fleet;
use crate::node::{unix_ms, NodeCore, NodeError};
use crate::raft::wire::{MembershipChange, Query, QueryResult};
use crate::state::{Actor, Command, Outcome, Proposal, MAX_TOKEN_TTL_MS};

/// Answers the CLI.
#[derive(Debug)]
pub struct AdminService {
    whoami: Arc<Whoami>,
    core: Arc<NodeCore>,
    fleet: Arc<Fleet>,
}

impl AdminService {
    /// A service answering as `whoami` over `fleet` and its node.
    pub fn new(whoami: Arc<Whoami>, fleet: Arc<Fleet>) -> Self {
        Self {
            whoami,
            core: fleet.core().clone(),
            fleet,
        }
    }
}

fn actor(peer: &PeerIdentity) -> Actor {
    Actor::new(peer.role.as_str(), peer.name.as_str())
}

fn require(peer: &PeerIdentity, allowed: &[Role], what: &str) -> Result<(), WireError> {
    if allowed.contains(&peer.role) {
        return Ok(());
    }
    let roles: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
    Err(WireError::forbidden(format!(
        "{peer} may not {what}: it needs role {}",
        roles.join(" or ")
    )))
}

/// The wire error for a failed node operation.
pub fn node_error(err: NodeError) -> WireError {
    let code = match &err {
        NodeError::NoLeader(_) | NodeError::NotLeader | NodeError::Peer(_) => {
            ErrorCode::UNAVAILABLE
        }
        NodeError::Invalid(_) => ErrorCode::BAD_REQUEST,
        _ => ErrorCode::INTERNAL,
    };
    WireError::new(code, err.to_string())
}

/// The command recording `spec`, or a bad-request error naming what is
/// wrong with it.
fn join_token_command(spec: JoinTokenSpec, now_ms: u64) -> Result<Command, WireError> {
    let hex_of = |text: &str, digits: usize| {
        text.len() == digits && text.bytes().all(|b| b.is_ascii_hexdigit())
    };
    if !hex_of(&spec.id, 16) || !hex_of(&spec.secret_sha256, 64) {
        return Err(WireError::bad_request(
            "a join token needs a 16-hex-digit id and the 64-hex-digit SHA-256 of its secret",
        ));
    }
    if spec.ttl_ms < 1000 || spec.ttl_ms > MAX_TOKEN_TTL_MS {
        return Err(WireError::bad_request(
            "a join token's ttl must be between 1 s and 30 days",
        ));
    }
    for (key, value) in &spec.labels {
        validate_label(key, value).map_err(|err| WireError::bad_request(err.to_string()))?;
    }
    if let Some(agent) = &spec.agent_id {
        validate_name(agent).map_err(|err| WireError::bad_request(err.to_string()))?;
    }
    Ok(Command::CreateJoinToken {
        id: spec.id,
        secret_sha256: spec.secret_sha256,
        expires_ms: now_ms + spec.ttl_ms,
        labels: spec.labels,
        agent_id: spec.agent_id,
    })
}

fn receipt((index, outcome): (u64, Outcome)) -> AdminResponse {
    AdminResponse::Written(WriteReceipt {
        index,
        refused: match outcome {
            Outcome::Refused(reason) => Some(reason),
            // The batcher hands each caller its own outcome, never this.
            Outcome::Batch(_) => Some("a batch outcome reached a single write".into()),
            Outcome::Done
            | Outcome::Recorded(_)
            | Outcome::RecordsThrough { .. }
            | Outcome::Issued { .. }
            | Outcome::PlanStarted { .. }
            | Outcome::Enrolled { .. } => None,
        },
    })
}

impl AdminService {
    async fn write(
        &self,
        peer: &PeerIdentity,
        command: Command,
    ) -> Result<AdminResponse, WireError> {
        let proposal = Proposal {
            actor: actor(peer),
            at_ms: unix_ms(),
            command,
        };
        self.core
            .write(proposal)
            .await
            .map(receipt)
            .map_err(node_error)
    }

    async fn membership(
        &self,
        peer: &PeerIdentity,
        change: MembershipChange,
    ) -> Result<AdminResponse, WireError> {
        require(peer, &[Role::Admin], "change cluster membership")?;
        self.core
            .change_membership(actor(peer), change)
            .await
            .map(receipt)
            .map_err(node_error)
    }
}

impl AdminService {
    /// A read of the replicated state, as the CLI's answer.
    async fn query(&self, query: Query) -> Result<AdminResponse, WireError> {
        Ok(match self.core.read(query).await.map_err(node_error)? {
            QueryResult::Settings(settings) => AdminResponse::Settings(settings),
            QueryResult::Commands(commands) => AdminResponse::Commands(commands),
            QueryResult::JoinTokens(tokens) => AdminResponse::JoinTokens(tokens),
            QueryResult::Allocation(allocation, weights) => AdminResponse::Allocation {
                allocation,
                weights,
            },
            QueryResult::Maintenance(plans) => AdminResponse::Maintenance {
                plans,
                waiting: self.fleet.maintenance_waiting(),
            },
        })
    }
}

impl Handler for AdminService {
    type Peer = PeerIdentity;
    type Request = AdminRequest;
    type Response = AdminResponse;

    async fn handle(
        &self,
        peer: &PeerIdentity,
        request: AdminRequest,
    ) -> Result<AdminResponse, WireError> {
        match request {
            AdminRequest::Ping => Ok(AdminResponse::Pong(self.whoami.info_for(peer))),
            AdminRequest::ClusterStatus => Ok(AdminResponse::ClusterStatus(
                self.core.cluster_status().await,
            )),
            AdminRequest::AddMember { id, addr } => {
                self.membership(peer, MembershipChange::Add { id, addr })
                    .await
            }
            AdminRequest::RemoveMember { id } => {
                self.membership(peer, MembershipChange::Remove { id }).await
            }
            AdminRequest::SetSetting { key, value } => {
                require(peer, &[Role::Admin], "change cluster settings")?;
                self.write(peer, Command::SetSetting { key, value }).await
            }
            AdminRequest::DeleteSetting { key } => {
                require(peer, &[Role::Admin], "change cluster settings")?;
                self.write(peer, Command::DeleteSetting { key }).await
            }
            AdminRequest::GetSettings => self.query(Query::Settings).await,
            AdminRequest::Broadcast(spec) => {
                require(peer, &[Role::Admin, Role::Operator], "issue fleet commands")?;
                let proposal = Proposal {
                    actor: actor(peer),
                    at_ms: unix_ms(),
                    command: Command::IssueCommand { spec },
                };
                match self.core.write(proposal).await.map_err(node_error)? {
                    (_, Outcome::Issued { id, targets }) => Ok(AdminResponse::Issued {
                        command_id: id,
                        targets,
                    }),
                    (_, Outcome::Refused(reason)) => Err(WireError::bad_request(reason)),
                    (_, other) => Err(WireError::new(
                        ErrorCode::INTERNAL,
                        format!("issuing a command gave {other:?}"),
                    )),
                }
            }
            AdminRequest::Commands { id, limit } => self.query(Query::Commands { id, limit }).await,
            AdminRequest::StartMaintenance(spec) => {
                require(peer, &[Role::Admin, Role::Operator], "run maintenance")?;
                let proposal = Proposal {
                    actor: actor(peer),
                    at_ms: unix_ms(),
                    command: Command::StartMaintenance { spec },
                };
                match self.core.write(proposal).await.map_err(node_error)? {
                    (_, Outcome::Refused(reason)) => Err(WireError::bad_request(reason)),
                    _ => self.query(Query::Maintenance { limit: 1 }).await,
                }
            }
            AdminRequest::SetAllocation(allocation) => {
                require(
                    peer,
                    &[Role::Admin, Role::Operator],
                    "change the resource allocation",
                )?;
                self.write(peer, Command::SetAllocation { allocation })
                    .await
            }
            AdminRequest::GetAllocation => self.query(Query::Allocation).await,
            AdminRequest::MaintenanceStatus { limit } => {
                self.query(Query::Maintenance { limit }).await
            }
            AdminRequest::CancelMaintenance => {
                require(peer, &[Role::Admin, Role::Operator], "cancel maintenance")?;
                let running = match self.query(Query::Maintenance { limit: 1 }).await? {
                    AdminResponse::Maintenance { plans, .. } => {
                        plans.into_iter().find(|p| p.state == "running")
                    }
                    _ => None,
                };
                let Some(plan) = running else {
                    return Err(WireError::bad_request("no maintenance is running"));
                };
                self.write(peer, Command::CancelMaintenance { plan: plan.id })
                    .await
            }
            AdminRequest::AssignExecutor {
                chain,
                agent,
                expected_epoch,
            } => {
                require(
                    peer,
                    &[Role::Admin, Role::Operator],
                    "move an executor role",
                )?;
                let reason = format!("manual failover by {peer}");
                self.write(
                    peer,
                    Command::AssignExecutor {
                        chain,
                        agent: Some(agent),
                        expected_epoch,
                        reason,
                    },
                )
                .await
            }
            AdminRequest::EmergencyStop { halted } => {
                require(
                    peer,
                    &[Role::Admin, Role::Operator],
                    "stop or resume execution",
                )?;
                self.write(peer, Command::EmergencyStop { halted }).await
            }
            AdminRequest::SetGuards { chain, guards } => {
                require(
                    peer,
                    &[Role::Admin, Role::Operator],
                    "change the MEV guards",
                )?;
                self.write(peer, Command::SetGuards { chain, guards }).await
            }
            AdminRequest::SafeMode { agent, on } => {
                require(peer, &[Role::Admin, Role::Operator], "change safe mode")?;
                self.write(peer, Command::SafeMode { agent, on }).await
            }
            AdminRequest::FleetView => {
                let view = self.fleet.view().await.map_err(node_error)?;
                Ok(AdminResponse::Fleet(Box::new(view)))
            }
            AdminRequest::CreateJoinToken(spec) => {
                require(peer, &[Role::Admin, Role::Operator], "create join tokens")?;
                let command = join_token_command(spec, unix_ms())?;
                self.write(peer, command).await
            }
            AdminRequest::JoinTokens => {
                require(peer, &[Role::Admin, Role::Operator], "list join tokens")?;
                self.query(Query::JoinTokens).await
            }
        }
    }
}
