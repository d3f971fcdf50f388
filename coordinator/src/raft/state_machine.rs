//! The Raft state machine: [`FleetState`] in memory, persisted as synced
//! snapshots in RocksDB. On start the last snapshot is loaded and openraft
//! re-applies the (durable) log after it up to the saved committed index.
//! An entry is applied only once this member's copy of it is on disk (the
//! leader syncs its own entries while they are replicated, see
//! [`super::wal_sync`]), so no write is answered before that.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder, StoredMembership,
};
use rocksdb::DB;
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use super::store::{cf, decode, encode, io_error, synced, CF_SNAPSHOT};
use super::types::{Entry, LogId, MemberNode, StorageError, TypeConfig};
use super::wal_sync::WalSync;
use crate::state::{FleetState, Outcome};

const KEY_CURRENT: &[u8] = b"current";

/// What the state machine holds: the fleet state and where it stands.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Applied {
    /// The last log id applied.
    pub last_applied: Option<LogId>,
    /// The last membership applied.
    pub membership: StoredMembership<u64, MemberNode>,
    /// The fleet state.
    pub state: FleetState,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, MemberNode>,
    data: Vec<u8>,
}

/// A read-only view of the applied state, for answering queries.
#[derive(Clone, Debug)]
pub struct StateView {
    applied: Arc<RwLock<Applied>>,
    snapshots: Arc<AtomicU64>,
    issued: tokio::sync::watch::Receiver<u64>,
}

impl StateView {
    /// Runs `read` on the applied state.
    pub async fn read<T>(&self, read: impl FnOnce(&Applied) -> T) -> T {
        read(&*self.applied.read().await)
    }

    /// The last fleet command id applied, to wait on for new commands.
    pub fn commands_issued(&self) -> tokio::sync::watch::Receiver<u64> {
        self.issued.clone()
    }

    /// How many snapshots this member has built or installed since it started.
    pub fn snapshot_count(&self) -> u64 {
        self.snapshots.load(Ordering::Relaxed)
    }
}

/// The state machine store.
#[derive(Clone, Debug)]
pub struct StateMachine {
    db: Arc<DB>,
    wal_sync: WalSync,
    applied: Arc<RwLock<Applied>>,
    snapshots: Arc<AtomicU64>,
    issued: Arc<tokio::sync::watch::Sender<u64>>,
}

impl StateMachine {
    /// Opens the state machine, restoring the last snapshot if there is
    /// one; entries are applied once `wal_sync` has them on disk.
    pub fn open(db: Arc<DB>, wal_sync: WalSync) -> Result<Self, StorageError> {
        let applied = match read_snapshot(&db)? {
            Some(stored) => decode::<Applied>(&stored.data, ErrorSubject::StateMachine)?,
            None => Applied::default(),
        };
        let (issued, _) = tokio::sync::watch::channel(applied.state.next_command_id);
        Ok(Self {
            db,
            wal_sync,
            applied: Arc::new(RwLock::new(applied)),
            snapshots: Arc::new(AtomicU64::new(0)),
            issued: Arc::new(issued),
        })
    }

    /// A read-only view sharing this state machine's state.
    pub fn view(&self) -> StateView {
        StateView {
            applied: self.applied.clone(),
            snapshots: self.snapshots.clone(),
            issued: self.issued.subscribe(),
        }
    }

    fn save_snapshot(&self, stored: &StoredSnapshot) -> Result<(), StorageError> {
        let subject = ErrorSubject::Snapshot(Some(stored.meta.signature()));
        let bytes = encode(stored, subject.clone())?;
        self.db
            .put_cf_opt(cf(&self.db, CF_SNAPSHOT)?, KEY_CURRENT, bytes, &synced())
            .map_err(|err| io_error(subject, ErrorVerb::Write, err))?;
        self.snapshots.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn read_snapshot(db: &DB) -> Result<Option<StoredSnapshot>, StorageError> {
    match db.get_cf(cf(db, CF_SNAPSHOT)?, KEY_CURRENT) {
        Ok(Some(bytes)) => decode(&bytes, ErrorSubject::Snapshot(None)).map(Some),
        Ok(None) => Ok(None),
        Err(err) => Err(io_error(ErrorSubject::Snapshot(None), ErrorVerb::Read, err)),
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_applied, membership) = {
            let applied = self.applied.read().await;
            (
                encode(&*applied, ErrorSubject::StateMachine)?,
                applied.last_applied,
                applied.membership.clone(),
            )
        };
        let snapshot_id = match last_applied {
            Some(id) => format!(
                "{}-{}-{}",
                id.leader_id.term,
                id.index,
                self.snapshots.load(Ordering::Relaxed)
            ),
            None => format!("empty-{}", self.snapshots.load(Ordering::Relaxed)),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        self.save_snapshot(&stored)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, MemberNode>), StorageError> {
        let applied = self.applied.read().await;
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        if let Some(last) = entries.last() {
            self.wal_sync
                .wait_durable(last.log_id.index)
                .await
                .map_err(|err| io_error(ErrorSubject::Log(last.log_id), ErrorVerb::Write, err))?;
        }
        let mut applied = self.applied.write().await;
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            applied.last_applied = Some(entry.log_id);
            let outcome = match entry.payload {
                EntryPayload::Blank => Outcome::Done,
                EntryPayload::Normal(proposal) => {
                    applied.state.apply(entry.log_id.index, &proposal)
                }
                EntryPayload::Membership(membership) => {
                    applied.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Outcome::Recorded("membership changed".into())
                }
            };
            outcomes.push(outcome);
        }
        let issued = applied.state.next_command_id;
        // Only a new command wakes those waiting for one.
        self.issued
            .send_if_modified(|last| std::mem::replace(last, issued) != issued);
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, MemberNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let mut restored: Applied = decode(&data, ErrorSubject::Snapshot(Some(meta.signature())))?;
        restored.last_applied = meta.last_log_id;
        restored.membership = meta.last_membership.clone();
        self.save_snapshot(&StoredSnapshot {
            meta: meta.clone(),
            data,
        })?;
        let issued = restored.state.next_command_id;
        *self.applied.write().await = restored;
        self.issued.send_replace(issued);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(read_snapshot(&self.db)?.map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
