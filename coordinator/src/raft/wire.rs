//! Messages between coordinators on the Raft service: openraft's RPCs,
//! writes and reads forwarded to the leader, and a member's own status.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use super::types::TypeConfig;
use crate::state::{Actor, Outcome, Proposal};

/// A request from one coordinator to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftRequest {
    /// openraft: replicate entries / heartbeat.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// openraft: request a vote.
    Vote(VoteRequest<u64>),
    /// openraft: a snapshot chunk.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write received by a follower, for the leader to propose.
    ForwardWrite(Proposal),
    /// A read received by a follower that must be current: the leader
    /// confirms its leadership (read index) and answers.
    ForwardRead(Query),
    /// A membership change received by a follower, for the leader.
    ForwardMembership {
        /// Who asked.
        actor: Actor,
        /// What to change.
        change: MembershipChange,
    },
    /// This member's own view of itself.
    Status,
    /// The fleet view, which only the leader can build.
    FleetView,
    /// The port this member answers openraft's calls on (its Raft port).
    RaftPort,
}

impl RaftRequest {
    /// Whether this is one of openraft's own calls, which go to a peer's
    /// Raft port; the rest go to its public port.
    pub fn is_consensus(&self) -> bool {
        matches!(
            self,
            Self::AppendEntries(_) | Self::Vote(_) | Self::InstallSnapshot(_)
        )
    }
}

/// A change of cluster membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MembershipChange {
    /// Add a member: as a learner first, promoted to voter once caught up.
    Add {
        /// Its node id.
        id: u64,
        /// Its QUIC address.
        addr: String,
    },
    /// Remove a member (voter or learner).
    Remove {
        /// Its node id.
        id: u64,
    },
}

/// The answer to a [`RaftRequest`].
#[derive(Debug, Serialize, Deserialize)]
pub enum RaftResponse {
    /// openraft's answer.
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    /// openraft's answer.
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    /// openraft's answer.
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// The forwarded write was committed at `index`.
    Written {
        /// The log index.
        index: u64,
        /// What applying it gave.
        outcome: Outcome,
    },
    /// The forwarded read's answer.
    Read(QueryResult),
    /// The receiver is not the leader (nothing was done; retry elsewhere).
    NotLeader,
    /// The request was refused; nothing was done.
    Failed(String),
    /// This member's status.
    Status(MemberStatus),
    /// The fleet view.
    Fleet(Box<mevfleet_common::wire::fleet::FleetView>),
    /// The port this member answers openraft's calls on.
    RaftPort(u16),
}

/// A read of the fleet state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// All cluster settings.
    Settings,
    /// The allocation policy and its weights now.
    Allocation,
    /// Maintenance plans, the latest `limit`, newest first.
    Maintenance {
        /// How many.
        limit: usize,
    },
    /// Fleet commands: one by id, or the latest `limit`.
    Commands {
        /// One command.
        id: Option<u64>,
        /// How many of the latest, when no id is given.
        limit: usize,
    },
    /// Join tokens, newest first.
    JoinTokens,
}

/// The answer to a [`Query`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryResult {
    /// All cluster settings.
    Settings(std::collections::BTreeMap<String, String>),
    /// Fleet commands, newest first.
    Commands(Vec<mevfleet_common::command::CommandView>),
    /// Maintenance plans, newest first.
    Maintenance(Vec<mevfleet_common::maintenance::MaintenanceView>),
    /// Join tokens, newest first.
    JoinTokens(Vec<mevfleet_common::wire::enroll::JoinTokenView>),
    /// The allocation policy and its weights by chain.
    Allocation(
        mevfleet_common::alloc::Allocation,
        std::collections::BTreeMap<String, u32>,
    ),
}

/// One member's view of itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    /// Its node id.
    pub node_id: u64,
    /// leader, follower, candidate or learner.
    pub role: String,
    /// Its current term.
    pub term: u64,
    /// The leader it follows, if any.
    pub leader: Option<u64>,
    /// Its last applied log index.
    pub last_applied: u64,
    /// Its last log index.
    pub last_log: u64,
    /// Whether its Raft core is running (false after a fatal store error).
    pub running: bool,
}
