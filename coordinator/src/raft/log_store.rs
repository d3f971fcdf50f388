//! The Raft log in RocksDB: entries, the vote, the committed and the last
//! purged log ids. Votes, truncations, purges and a follower's appends are
//! synced before they are reported durable. The leader's own new entries
//! are reported at once and synced by [`super::wal_sync`] while they are
//! replicated; nothing is applied or announced committed before that sync.
//!
//! The committed log id costs no write of its own: it rides in the next
//! write batch (see [`super::committed`]). openraft saves it on every
//! commit, between the quorum's answer and applying the entry, so a sync
//! there once put a second `fdatasync` on every write's path, and a write
//! of its own still cost every member a WAL write per commit. It is only a
//! lower bound: RocksDB recovers a prefix of its WAL, so a crash can lose
//! the latest committed id but never keeps one ahead of the entries it
//! names, and the entries after it are committed again by the next
//! leader's first entry.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LeaderId, OptionalSend, RaftLogReader, Vote};
use rocksdb::{Direction, IteratorMode, WriteBatch, WriteOptions, DB};

use super::committed::{UnwrittenCommitted, KEY_COMMITTED};
use super::store::{cf, decode, encode, index_key, io_error, synced, CF_LOG, CF_META};
use super::types::{Entry, LogId, StorageError, TypeConfig};
use super::wal_sync::WalSync;

const KEY_VOTE: &[u8] = b"vote";
const KEY_PURGED: &[u8] = b"last_purged";

/// The log store; clones share the database.
#[derive(Clone, Debug)]
pub struct LogStore {
    db: Arc<DB>,
    node_id: u64,
    /// The leader id this member holds now, if it leads: its own entries
    /// of that term are synced by `wal_sync`, not before they are reported.
    leading: Option<LeaderId<u64>>,
    wal_sync: WalSync,
    /// The latest committed log id, until a write carries it.
    committed: Arc<UnwrittenCommitted>,
}

impl LogStore {
    /// The log store of member `node_id` over the opened database.
    pub fn new(db: Arc<DB>, node_id: u64, wal_sync: WalSync) -> Self {
        Self {
            committed: Arc::new(UnwrittenCommitted::new(db.clone())),
            db,
            node_id,
            leading: None,
            wal_sync,
        }
    }

    /// Whether all of `entries` are this member's own, proposed as the
    /// leader it is now (only those may be reported before their sync).
    fn all_our_own(&self, entries: &[Entry]) -> bool {
        self.leading
            .is_some_and(|leader| entries.iter().all(|entry| entry.log_id.leader_id == leader))
    }

    /// Writes `entries`: the leader's own are reported at once and synced
    /// by `wal_sync`, any others are synced before this returns.
    fn write_entries(&mut self, entries: Vec<Entry>) -> Result<(), StorageError> {
        let Some(first) = entries.first().map(|entry| entry.log_id.index) else {
            return Ok(());
        };
        let family = cf(&self.db, CF_LOG)?;
        let mut batch = WriteBatch::default();
        for entry in &entries {
            batch.put_cf(
                family,
                index_key(entry.log_id.index),
                encode(entry, ErrorSubject::Log(entry.log_id))?,
            );
        }
        if self.all_our_own(&entries) {
            // Reported now, synced while the entries travel (see wal_sync).
            let carried = self.committed.carry_in(&mut batch)?;
            self.db
                .write_opt(batch, &WriteOptions::default())
                .map_err(|err| io_error(ErrorSubject::Logs, ErrorVerb::Write, err))?;
            self.wal_sync
                .written_unsynced(first, self.db.latest_sequence_number());
            self.committed.written(carried);
        } else {
            self.write_synced(batch, ErrorSubject::Logs, ErrorVerb::Write)?;
            self.wal_sync.replaced_from(first);
        }
        Ok(())
    }

    /// Writes `batch` synced, with the committed log id if it is
    /// unwritten, and notes that everything before it is now on disk too.
    /// A failure is reported as `verb` on `subject`.
    fn write_synced(
        &self,
        mut batch: WriteBatch,
        subject: ErrorSubject<u64>,
        verb: ErrorVerb,
    ) -> Result<(), StorageError> {
        let carried = self.committed.carry_in(&mut batch)?;
        let before = self.db.latest_sequence_number();
        self.db
            .write_opt(batch, &synced())
            .map_err(|err| io_error(subject, verb, err))?;
        self.wal_sync.synced_through(before);
        self.committed.written(carried);
        Ok(())
    }

    fn get_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
        subject: ErrorSubject<u64>,
    ) -> Result<Option<T>, StorageError> {
        let family = cf(&self.db, CF_META)?;
        match self.db.get_cf(family, key) {
            Ok(Some(bytes)) => decode(&bytes, subject).map(Some),
            Ok(None) => Ok(None),
            Err(err) => Err(io_error(subject, ErrorVerb::Read, err)),
        }
    }

    /// Writes `value` under `key`, synced before this returns.
    fn put_meta<T: serde::Serialize>(
        &self,
        key: &[u8],
        value: &T,
        subject: ErrorSubject<u64>,
    ) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(cf(&self.db, CF_META)?, key, encode(value, subject.clone())?);
        self.write_synced(batch, subject, ErrorVerb::Write)
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageError> {
        let family = cf(&self.db, CF_LOG)?;
        match self.db.iterator_cf(family, IteratorMode::End).next() {
            None => Ok(None),
            Some(Ok((_, value))) => Ok(Some(decode::<Entry>(&value, ErrorSubject::Logs)?.log_id)),
            Some(Err(err)) => Err(io_error(ErrorSubject::Logs, ErrorVerb::Read, err)),
        }
    }

    fn delete_range(&self, from: u64, to_exclusive: u64) -> Result<(), StorageError> {
        let family = cf(&self.db, CF_LOG)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(family, index_key(from), index_key(to_exclusive));
        self.write_synced(batch, ErrorSubject::Logs, ErrorVerb::Delete)?;
        self.wal_sync.replaced_from(from);
        Ok(())
    }
}

/// Ranges of at most this many entries are read with point lookups.
const POINT_READ_MOST: u64 = 16;

impl LogStore {
    /// The entries `start..end` by point lookups, or `None` if one of them
    /// is missing (a purged or never written index: the scan decides).
    ///
    /// Replication reads each new entry right after it is appended, one or
    /// two at a time, before sending it: a RocksDB iterator's set-up and
    /// seek cost more than the lookups, on every write's path.
    fn point_read(&self, start: u64, end: u64) -> Result<Option<Vec<Entry>>, StorageError> {
        let family = cf(&self.db, CF_LOG)?;
        let mut entries = Vec::with_capacity(end.saturating_sub(start) as usize);
        for index in start..end {
            let value = self
                .db
                .get_pinned_cf(family, index_key(index))
                .map_err(|err| io_error(ErrorSubject::LogIndex(index), ErrorVerb::Read, err))?;
            let Some(value) = value else {
                return Ok(None);
            };
            entries.push(decode::<Entry>(&value, ErrorSubject::LogIndex(index))?);
        }
        Ok(Some(entries))
    }

    /// The entries in `range` that exist, in order, by one forward scan.
    fn scan<RB: RangeBounds<u64>>(
        &self,
        start: u64,
        range: &RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let family = cf(&self.db, CF_LOG)?;
        let mut entries = Vec::new();
        for item in self.db.iterator_cf(
            family,
            IteratorMode::From(&index_key(start), Direction::Forward),
        ) {
            let (key, value) =
                item.map_err(|err| io_error(ErrorSubject::Logs, ErrorVerb::Read, err))?;
            let index = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    io_error(
                        ErrorSubject::Logs,
                        ErrorVerb::Read,
                        std::io::Error::other("log key is not 8 bytes"),
                    )
                })?;
            if !range.contains(&index) {
                break;
            }
            entries.push(decode::<Entry>(&value, ErrorSubject::LogIndex(index))?);
        }
        Ok(entries)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Some(i.saturating_add(1)),
            Bound::Excluded(i) => Some(*i),
            Bound::Unbounded => None,
        };
        if let Some(end) = end.filter(|end| end.saturating_sub(start) <= POINT_READ_MOST) {
            if let Some(entries) = self.point_read(start, end)? {
                return Ok(entries);
            }
        }
        self.scan(start, &range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta(KEY_PURGED, ErrorSubject::Store)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.put_meta(KEY_VOTE, vote, ErrorSubject::Vote)?;
        let ours = vote.is_committed() && vote.leader_id().voted_for() == Some(self.node_id);
        self.leading = ours.then(|| *vote.leader_id());
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.get_meta(KEY_VOTE, ErrorSubject::Vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.committed.set(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        if let Some(unwritten) = self.committed.unwritten() {
            return Ok(unwritten);
        }
        Ok(self
            .get_meta::<Option<LogId>>(KEY_COMMITTED, ErrorSubject::Store)?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let written = self.write_entries(entries.into_iter().collect());
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(err) => {
                callback.log_io_completed(Err(std::io::Error::other(err.to_string())));
                Err(err)
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.delete_range(log_id.index, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: a crash in between leaves entries
        // that are simply purged again, never a hole.
        self.put_meta(KEY_PURGED, &log_id, ErrorSubject::Store)?;
        self.delete_range(0, log_id.index.saturating_add(1))
    }
}

#[cfg(test)]
#[path = "log_store_tests.rs"]
mod tests;
