//! Writes and current reads from any member: proposed locally on the
//! leader, forwarded to the leader from followers, waiting for an election
//! when there is no leader, up to a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};

use super::{NodeCore, NodeError};
use crate::raft::network::PeerError;
use crate::raft::wire::{Query, QueryResult, RaftRequest, RaftResponse};
use crate::state::{Outcome, Proposal};

/// How long a write or a current read may wait for a leader.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

/// How long one forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);

/// When a forwarded request may be sent again after a failure.
pub(crate) enum Retry {
    /// Only when it provably did not reach the leader (a write: sending it
    /// twice could commit it twice).
    OnlyIfNotDelivered,
    /// After any failure (a read, which changes nothing).
    Always,
}

/// The result carried by a forwarded write's reply.
pub(super) fn written(response: RaftResponse) -> Option<(u64, Outcome)> {
    match response {
        RaftResponse::Written { index, outcome } => Some((index, outcome)),
        _ => None,
    }
}

/// Where a request should go next.
pub(super) enum Route {
    /// This member is the leader: handle it here.
    Here,
    /// Forward to the leader at this address.
    Leader(String),
}

impl NodeCore {
    /// Commits `proposal` through the leader, wherever it is. Returns the
    /// log index and what applying it gave.
    pub async fn write(&self, proposal: Proposal) -> Result<(u64, Outcome), NodeError> {
        let forward = RaftRequest::ForwardWrite(proposal.clone());
        let proposal = &proposal;
        self.through_leader(
            move || self.write_here(proposal.clone()),
            &forward,
            FORWARD_TIMEOUT,
            written,
            Retry::OnlyIfNotDelivered,
        )
        .await
    }

    /// Proposes `proposal` on this member, which must be the leader,
    /// batched with the writes that arrive while one is committing.
    pub async fn write_here(&self, proposal: Proposal) -> Result<(u64, Outcome), NodeError> {
        self.batcher.write(proposal).await
    }

    /// Answers `query` from state that includes every write committed
    /// before the query arrived (read index through the leader).
    pub async fn read(&self, query: Query) -> Result<QueryResult, NodeError> {
        let forward = RaftRequest::ForwardRead(query.clone());
        let query = &query;
        let answer = |response| match response {
            RaftResponse::Read(result) => Some(result),
            _ => None,
        };
        // A read changes nothing: sending it again is always safe.
        self.through_leader(
            move || self.read_here(query),
            &forward,
            FORWARD_TIMEOUT,
            answer,
            Retry::Always,
        )
        .await
    }

    /// Runs a request on the leader: with `here` when this member leads,
    /// else by forwarding `forward` to the leader and reading the result out
    /// of its reply with `answer`. Waits for an election, and retries when
    /// the request provably did not land (or always, for `Retry::Always`),
    /// until the deadline.
    pub(crate) async fn through_leader<T, Here, Fut>(
        &self,
        mut here: Here,
        forward: &RaftRequest,
        forward_timeout: Duration,
        answer: impl Fn(RaftResponse) -> Option<T>,
        retry: Retry,
    ) -> Result<T, NodeError>
    where
        Here: FnMut() -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let always = matches!(retry, Retry::Always);
        loop {
            match self.route(deadline).await? {
                Route::Here => match here().await {
                    Err(NodeError::NotLeader) => self.pause_before_retry(deadline).await?,
                    other => return other,
                },
                Route::Leader(addr) => {
                    match self.peers().call(&addr, forward, forward_timeout).await {
                        Ok(RaftResponse::NotLeader) | Err(PeerError::Unreachable { .. }) => {
                            self.pause_before_retry(deadline).await?
                        }
                        Ok(RaftResponse::Failed(reason)) => return Err(NodeError::Invalid(reason)),
                        Ok(response) => match answer(response) {
                            Some(result) => return Ok(result),
                            None if always => self.pause_before_retry(deadline).await?,
                            None => {
                                return Err(NodeError::Ambiguous(format!(
                                    "leader {addr} answered with an unexpected reply"
                                )))
                            }
                        },
                        Err(_) if always => self.pause_before_retry(deadline).await?,
                        Err(err) => return Err(NodeError::Ambiguous(err.to_string())),
                    }
                }
            }
        }
    }

    /// Answers `query` on this member, which must be the leader.
    pub async fn read_here(&self, query: &Query) -> Result<QueryResult, NodeError> {
        let confirmed = tokio::time::timeout(WRITE_DEADLINE, self.raft().ensure_linearizable())
            .await
            .map_err(|_| NodeError::NoLeader(WRITE_DEADLINE))?;
        match confirmed {
            Ok(_) => {}
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_))) => {
                return Err(NodeError::NotLeader)
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(err))) => {
                return Err(NodeError::Invalid(format!(
                    "cannot confirm leadership: {err}"
                )))
            }
            Err(RaftError::Fatal(fatal)) => return Err(NodeError::Raft(fatal.to_string())),
        }
        Ok(self
            .view()
            .read(|applied| match query {
                Query::Settings => QueryResult::Settings(applied.state.settings.clone()),
                Query::Allocation => QueryResult::Allocation(
                    applied.state.allocation.clone(),
                    applied.state.allocation_weights(
                        super::unix_ms()
                            .saturating_sub(crate::fleet::resources::ACTIVITY_WINDOW_MS),
                    ),
                ),
                Query::Maintenance { limit } => {
                    QueryResult::Maintenance(applied.state.maintenance_views(*limit))
                }
                Query::Commands { id, limit } => QueryResult::Commands(
                    applied.state.command_views(*id, *limit, super::unix_ms()),
                ),
                Query::JoinTokens => {
                    let mut tokens: Vec<_> = applied
                        .state
                        .join_tokens
                        .values()
                        .map(|record| record.view())
                        .collect();
                    tokens.sort_by_key(|token| std::cmp::Reverse(token.created_ms));
                    QueryResult::JoinTokens(tokens)
                }
            })
            .await)
    }

    /// Where the leader is, waiting for one to be elected until `deadline`.
    pub(super) async fn route(&self, deadline: Instant) -> Result<Route, NodeError> {
        let mut metrics = self.raft().metrics();
        loop {
            let (leader, addr) = {
                let m = metrics.borrow_and_update();
                let leader = m.current_leader;
                let addr = leader.and_then(|id| {
                    m.membership_config
                        .membership()
                        .get_node(&id)
                        .map(|n| n.addr.clone())
                });
                (leader, addr)
            };
            match (leader, addr) {
                (Some(id), _) if id == self.node_id() => return Ok(Route::Here),
                (Some(_), Some(addr)) => return Ok(Route::Leader(addr)),
                _ => {}
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero()
                || tokio::time::timeout(remaining, metrics.changed())
                    .await
                    .is_err()
            {
                return Err(NodeError::NoLeader(WRITE_DEADLINE));
            }
        }
    }

    pub(super) async fn pause_before_retry(&self, deadline: Instant) -> Result<(), NodeError> {
        if Instant::now() >= deadline {
            return Err(NodeError::NoLeader(WRITE_DEADLINE));
        }
        let mut metrics = self.raft().metrics();
        let _changed = tokio::time::timeout(Duration::from_millis(100), metrics.changed()).await;
        Ok(())
    }
}

/// What a failed local proposal means for the caller.
pub(super) fn client_write_error(
    err: RaftError<u64, ClientWriteError<u64, crate::raft::MemberNode>>,
) -> NodeError {
    match err {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => NodeError::NotLeader,
        RaftError::APIError(ClientWriteError::ChangeMembershipError(err)) => {
            NodeError::Invalid(err.to_string())
        }
        RaftError::Fatal(fatal) => NodeError::Raft(fatal.to_string()),
    }
}
