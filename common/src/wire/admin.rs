//! Messages of the admin service: the `mevfleet` CLI talking to a coordinator.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::identity::PeerIdentity;

/// A request from the CLI. Any member answers; writes are forwarded to the
/// leader, and reads of replicated state are confirmed current by the leader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Checks reachability and credentials: who answers, and who it sees us as.
    Ping,
    /// The cluster's leader, term and members (`mevfleet cluster status`).
    ClusterStatus,
    /// Adds a member: it joins as a learner and is promoted to voter once
    /// caught up (admin only).
    AddMember {
        /// The new member's node id.
        id: u64,
        /// Its QUIC address, `host:port`.
        addr: String,
    },
    /// Removes a member (admin only).
    RemoveMember {
        /// The member's node id.
        id: u64,
    },
    /// Sets a cluster setting (admin only).
    SetSetting {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Removes a cluster setting (admin only).
    DeleteSetting {
        /// The key.
        key: String,
    },
    /// All cluster settings, as of a read confirmed by the leader.
    GetSettings,
    /// The fleet as the leader sees it (`agents`, `chains`, `status`, `check`).
    FleetView,
    /// Moves a chain's executor role to `agent` (operator or admin), if the
    /// chain is still at `expected_epoch`.
    AssignExecutor {
        /// The chain.
        chain: String,
        /// The new executor.
        agent: String,
        /// The epoch the operator saw.
        expected_epoch: u64,
    },
    /// Halts every executor fleet-wide (true) or resumes (false) (operator or admin).
    EmergencyStop {
        /// Halt or resume.
        halted: bool,
    },
    /// Sets a chain's write guards (operator or admin).
    SetGuards {
        /// The chain.
        chain: String,
        /// The guards.
        guards: crate::wire::agent::Guards,
    },
    /// Puts one agent in or out of safe mode (operator or admin).
    SafeMode {
        /// The agent.
        agent: String,
        /// On or off.
        on: bool,
    },
    /// Issues a fleet command (operator or admin).
    Broadcast(crate::command::CommandSpec),
    /// Sets the resource allocation policy (operator or admin).
    SetAllocation(crate::alloc::Allocation),
    /// The allocation policy and its weights now.
    GetAllocation,
    /// Starts a rolling maintenance plan (operator or admin).
    StartMaintenance(crate::maintenance::MaintenanceSpec),
    /// Maintenance plans, newest first.
    MaintenanceStatus {
        /// How many.
        limit: usize,
    },
    /// Cancels the running maintenance plan (operator or admin).
    CancelMaintenance,
    /// Fleet commands and their results: one by id, or the latest `limit`.
    Commands {
        /// One command.
        id: Option<u64>,
        /// How many of the latest, when no id is given.
        limit: usize,
    },
    /// Records a one-time join token (operator or admin).
    CreateJoinToken(crate::wire::enroll::JoinTokenSpec),
    /// Join tokens that are unused and valid, or were used or expired in
    /// the last week (operator or admin).
    JoinTokens,
}

/// A coordinator's answer to the CLI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AdminResponse {
    /// The answer to [`AdminRequest::Ping`].
    Pong(ServerInfo),
    /// The answer to [`AdminRequest::ClusterStatus`].
    ClusterStatus(ClusterStatus),
    /// A write was committed.
    Written(WriteReceipt),
    /// The answer to [`AdminRequest::GetSettings`].
    Settings(BTreeMap<String, String>),
    /// The answer to [`AdminRequest::FleetView`].
    Fleet(Box<super::fleet::FleetView>),
    /// A fleet command was issued.
    Issued {
        /// Its id.
        command_id: u64,
        /// The agents it is for.
        targets: Vec<String>,
    },
    /// The answer to [`AdminRequest::Commands`], newest first.
    Commands(Vec<crate::command::CommandView>),
    /// The allocation policy and its weights by chain now.
    Allocation {
        /// The policy.
        allocation: crate::alloc::Allocation,
        /// The weights.
        weights: BTreeMap<String, u32>,
    },
    /// The answer to [`AdminRequest::JoinTokens`], newest first.
    JoinTokens(Vec<crate::wire::enroll::JoinTokenView>),
    /// Maintenance plans, newest first, and why the running one waits
    /// (when the leader answered and it does).
    Maintenance {
        /// The plans.
        plans: Vec<crate::maintenance::MaintenanceView>,
        /// Why the running plan waits.
        waiting: Option<String>,
    },
}

/// Who answered, as the server describes itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The coordinator's Raft node id.
    pub node_id: u64,
    /// The coordinator's certificate identity.
    pub server: PeerIdentity,
    /// The coordinator's version.
    pub version: String,
    /// The caller's identity as the coordinator verified it.
    pub you: PeerIdentity,
    /// The coordinator's wall clock, in milliseconds since the Unix epoch
    /// (to spot clock skew between hosts).
    pub unix_ms: u64,
}

/// The cluster as seen by the member that answered (the contract's
/// `cluster status` JSON shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The leader's node id, if one is known.
    pub leader: Option<u64>,
    /// The highest term any member reported.
    pub term: u64,
    /// Every member of the current membership.
    pub members: Vec<MemberInfo>,
}

/// One member in [`ClusterStatus`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Its node id.
    pub id: u64,
    /// Its QUIC address.
    pub addr: String,
    /// leader, follower, candidate, learner, or unreachable.
    pub role: String,
    /// Reachable, running, and following a leader.
    pub healthy: bool,
    /// Its last applied log index (None when unreachable).
    pub last_applied: Option<u64>,
    /// Whether it votes (learners do not).
    pub voter: bool,
}

/// A committed write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteReceipt {
    /// The Raft log index it was committed at.
    pub index: u64,
    /// Why the state refused it, if it did (committed, audited, no change).
    pub refused: Option<String>,
}
