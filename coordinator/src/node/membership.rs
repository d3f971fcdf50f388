//! Membership from any member: adding a member as a learner and promoting it
//! once caught up, removing one, and the cluster status every member can
//! report by asking the others.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mevfleet_common::net::HostPort;
use mevfleet_common::wire::admin::{ClusterStatus, MemberInfo};
use openraft::ChangeMembers;

use super::write::{client_write_error, written, Retry};
use super::{NodeCore, NodeError};
use crate::raft::wire::{MemberStatus, MembershipChange, RaftRequest, RaftResponse};
use crate::raft::MemberNode;
use crate::state::{Actor, Command, Outcome, Proposal};

/// How long a member has to answer a status request.
const STATUS_TIMEOUT: Duration = Duration::from_millis(800);
/// Adding a member waits for it to catch up; this bounds the wait.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(60);

impl NodeCore {
    /// Applies `change` through the leader, wherever it is, and records it in
    /// the audit log as `actor`'s. Returns the audit entry's index.
    pub async fn change_membership(
        &self,
        actor: Actor,
        change: MembershipChange,
    ) -> Result<(u64, Outcome), NodeError> {
        let forward = RaftRequest::ForwardMembership {
            actor: actor.clone(),
            change: change.clone(),
        };
        let (actor, change) = (&actor, &change);
        self.through_leader(
            move || self.change_membership_here(actor.clone(), change.clone()),
            &forward,
            CHANGE_TIMEOUT,
            written,
            Retry::OnlyIfNotDelivered,
        )
        .await
    }

    /// Applies `change` on this member, which must be the leader.
    pub async fn change_membership_here(
        &self,
        actor: Actor,
        change: MembershipChange,
    ) -> Result<(u64, Outcome), NodeError> {
        if self.raft().metrics().borrow().current_leader != Some(self.node_id()) {
            return Err(NodeError::NotLeader);
        }
        let membership = self.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let what = match change {
            MembershipChange::Add { id, addr } => {
                addr.parse::<HostPort>()
                    .map_err(|err| NodeError::Invalid(err.to_string()))?;
                if voters.contains(&id) {
                    return Err(NodeError::Invalid(format!(
                        "member {id} is already a voter"
                    )));
                }
                let node = MemberNode { addr: addr.clone() };
                // Blocking: returns once the learner has caught up with the log.
                tokio::time::timeout(CHANGE_TIMEOUT, self.raft().add_learner(id, node, true))
                    .await
                    .map_err(|_| {
                        NodeError::Invalid(format!(
                            "member {id} at {addr} did not catch up within {} s",
                            CHANGE_TIMEOUT.as_secs()
                        ))
                    })?
                    .map_err(client_write_error)?;
                self.raft()
                    .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
                    .map_err(client_write_error)?;
                format!("added member {id} at {addr}")
            }
            MembershipChange::Remove { id } => {
                if membership.get_node(&id).is_none() {
                    return Err(NodeError::Invalid(format!("{id} is not a member")));
                }
                if voters.contains(&id) {
                    if voters.len() == 1 {
                        return Err(NodeError::Invalid(format!(
                            "member {id} is the last voter and cannot be removed"
                        )));
                    }
                    self.raft()
                        .change_membership(ChangeMembers::RemoveVoters(BTreeSet::from([id])), false)
                        .await
                        .map_err(client_write_error)?;
                } else {
                    self.raft()
                        .change_membership(ChangeMembers::RemoveNodes(BTreeSet::from([id])), false)
                        .await
                        .map_err(client_write_error)?;
                }
                format!("removed member {id}")
            }
        };
        self.write_here(Proposal {
            actor,
            at_ms: unix_ms(),
            command: Command::Membership { what },
        })
        .await
    }

    /// The cluster as this member sees it, asking every member for its own
    /// status; a member that does not answer in time is unhealthy.
    pub async fn cluster_status(&self) -> ClusterStatus {
        let membership = self.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        let nodes: BTreeMap<u64, String> = membership
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect();
        let asks = nodes.iter().map(|(id, addr)| async move {
            if *id == self.node_id() {
                return (*id, Some(self.status()));
            }
            match self
                .peers()
                .call(addr, &RaftRequest::Status, STATUS_TIMEOUT)
                .await
            {
                Ok(RaftResponse::Status(status)) => (*id, Some(status)),
                _ => (*id, None),
            }
        });
        let statuses: BTreeMap<u64, Option<MemberStatus>> =
            futures::future::join_all(asks).await.into_iter().collect();
        let own = self.status();
        let term = statuses
            .values()
            .flatten()
            .map(|s| s.term)
            .max()
            .unwrap_or(own.term);
        let leader = own
            .leader
            .or_else(|| statuses.values().flatten().find_map(|s| s.leader));
        let members = nodes
            .into_iter()
            .map(|(id, addr)| {
                let status = statuses.get(&id).cloned().flatten();
                MemberInfo {
                    id,
                    addr,
                    role: status
                        .as_ref()
                        .map(|s| s.role.clone())
                        .unwrap_or_else(|| "unreachable".into()),
                    healthy: status
                        .as_ref()
                        .is_some_and(|s| s.running && s.leader.is_some()),
                    last_applied: status.map(|s| s.last_applied),
                    voter: voters.contains(&id),
                }
            })
            .collect();
        ClusterStatus {
            leader,
            term,
            members,
        }
    }
}

impl NodeCore {
    /// The membership this member last knows of.
    fn membership(&self) -> openraft::Membership<u64, MemberNode> {
        self.raft()
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .clone()
    }
}

/// Milliseconds since the Unix epoch on this member's clock.
pub use mevfleet_common::utc::now_ms as unix_ms;
