//! Batching proposals ahead of openraft. openraft 0.9 runs its storage
//! commands after each client write it takes in, so concurrent writes each
//! paid an append and a sync of their own (about two writes per `fdatasync`
//! with 64 clients). Here the proposals that arrive while one entry is
//! being committed wait, and go together as the next entry
//! (`Command::Batch`), applied in order; each caller gets its own outcome.
//! A write that finds nothing in flight goes at once, as before.

use tokio::sync::{mpsc, oneshot};
use tracing::{info_span, Instrument};

use super::write::{client_write_error, WRITE_DEADLINE};
use super::NodeError;
use crate::node::unix_ms;
use crate::raft::Raft;
use crate::state::{Actor, Command, Outcome, Proposal};

/// Proposals in one entry at most.
const MAX_PROPOSALS: usize = 256;

/// Encoded proposal bytes in one entry at most (a bigger proposal goes
/// alone): entries stay well inside the Raft frame however many are sent
/// together.
const MAX_BYTES: usize = 512 << 10;

type Answer = Result<(u64, Outcome), NodeError>;

struct Pending {
    proposal: Proposal,
    size: usize,
    reply: oneshot::Sender<Answer>,
}

/// The way into the batcher; the batcher's task ends when this is dropped.
#[derive(Debug)]
pub(super) struct Batcher {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// Starts the batcher for `raft` on member `node_id`.
    pub(super) fn spawn(raft: Raft, node_id: u64) -> Self {
        let (queue, pending) = mpsc::unbounded_channel();
        tokio::spawn(run(raft, node_id, pending).instrument(info_span!("write-batcher", node_id)));
        Self { queue }
    }

    /// Commits `proposal` (this member must lead); its log index and what
    /// applying it gave.
    pub(super) async fn write(&self, proposal: Proposal) -> Answer {
        let size = bincode::serde::encode_to_vec(&proposal, bincode::config::standard())
            .map(|bytes| bytes.len())
            .unwrap_or(MAX_BYTES);
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending {
                proposal,
                size,
                reply,
            })
            .map_err(|_| NodeError::Raft("the write batcher has stopped".into()))?;
        answer.await.map_err(|_| {
            NodeError::Ambiguous("the write batcher stopped before answering".into())
        })?
    }
}

async fn run(raft: Raft, node_id: u64, mut pending: mpsc::UnboundedReceiver<Pending>) {
    let mut next: Option<Pending> = None;
    loop {
        let first = match next.take() {
            Some(first) => first,
            None => match pending.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut bytes = first.size;
        let mut batch = vec![first];
        while batch.len() < MAX_PROPOSALS {
            let Ok(more) = pending.try_recv() else { break };
            if bytes + more.size > MAX_BYTES {
                next = Some(more);
                break;
            }
            bytes += more.size;
            batch.push(more);
        }
        commit(&raft, node_id, batch).await;
    }
}

/// Commits `batch` as one entry and answers each of its callers.
async fn commit(raft: &Raft, node_id: u64, mut batch: Vec<Pending>) {
    if batch.len() == 1 {
        if let Some(only) = batch.pop() {
            let _gone = only.reply.send(propose(raft, only.proposal).await);
        }
        return;
    }
    let (proposals, replies): (Vec<Proposal>, Vec<_>) =
        batch.into_iter().map(|p| (p.proposal, p.reply)).unzip();
    let count = proposals.len();
    let entry = Proposal {
        actor: Actor::new("coordinator", format!("node-{node_id}")),
        at_ms: unix_ms(),
        command: Command::Batch(proposals),
    };
    match propose(raft, entry).await {
        Ok((index, Outcome::Batch(outcomes))) if outcomes.len() == count => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _gone = reply.send(Ok((index, outcome)));
            }
        }
        Ok((index, other)) => {
            for reply in replies {
                let _gone = reply.send(Err(NodeError::Raft(format!(
                    "the batch at index {index} applied as {other:?}, not one outcome per write"
                ))));
            }
        }
        Err(err) => {
            for reply in replies {
                let _gone = reply.send(Err(same_error(&err)));
            }
        }
    }
}

/// One proposal through openraft, bounded: a leader cut off from its quorum
/// appends but cannot commit, so the outcome is then unknown.
async fn propose(raft: &Raft, proposal: Proposal) -> Answer {
    let response = tokio::time::timeout(WRITE_DEADLINE, raft.client_write(proposal))
        .await
        .map_err(|_| {
            NodeError::Ambiguous(format!(
                "not committed within {} s: is a quorum reachable?",
                WRITE_DEADLINE.as_secs()
            ))
        })?
        .map_err(client_write_error)?;
    Ok((response.log_id.index, response.data))
}

/// The error each caller of a failed batch gets.
fn same_error(err: &NodeError) -> NodeError {
    match err {
        NodeError::NotLeader => NodeError::NotLeader,
        NodeError::Ambiguous(why) => NodeError::Ambiguous(why.clone()),
        NodeError::Invalid(why) => NodeError::Invalid(why.clone()),
        NodeError::NoLeader(after) => NodeError::NoLeader(*after),
        other => NodeError::Raft(other.to_string()),
    }
}
