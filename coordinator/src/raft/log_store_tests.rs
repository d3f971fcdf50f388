//! What the log store syncs: the vote before it returns, the committed log
//! id never on its own (it rides in the next write), the leader's own
//! entries on the sync thread, anyone else's before the append returns;
//! and what survives a reopen.

use std::time::Duration;

use openraft::storage::RaftLogStorage;
use openraft::{CommittedLeaderId, EntryPayload, Vote};
use rocksdb::statistics::Ticker;
use rocksdb::Options;

use super::LogStore;
use crate::raft::store;
use crate::raft::types::{Entry, LogId};
use crate::raft::wal_sync::WalSync;

/// A store in a fresh folder whose options count WAL syncs.
fn counted_store(dir: &std::path::Path) -> (LogStore, Options) {
    let mut options = Options::default();
    options.enable_statistics();
    let db = store::open_with(dir, &options).expect("open the store");
    let wal_sync = WalSync::start(&db).expect("start the sync thread");
    (LogStore::new(db, 1, wal_sync), options)
}

fn wal_syncs(options: &Options) -> u64 {
    options.get_ticker_count(Ticker::WalFileSynced)
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

#[tokio::test]
async fn saving_the_committed_log_id_costs_no_write_of_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, options) = counted_store(dir.path());
    let (syncs, sequence) = (wal_syncs(&options), log.db.latest_sequence_number());
    for index in 1..=5 {
        log.save_committed(Some(log_id(1, index)))
            .await
            .expect("save committed");
    }
    assert_eq!(wal_syncs(&options), syncs, "committed ids were synced");
    assert_eq!(
        log.db.latest_sequence_number(),
        sequence,
        "committed ids were written on their own"
    );
    assert_eq!(
        log.read_committed().await.expect("read committed"),
        Some(log_id(1, 5))
    );
}

#[tokio::test]
async fn the_next_append_carries_the_committed_log_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, _options) = counted_store(dir.path());
    log.save_vote(&Vote::new_committed(3, 2))
        .await
        .expect("save vote");
    log.save_committed(Some(log_id(3, 1)))
        .await
        .expect("save committed");
    let stored = |log: &LogStore| {
        log.get_meta::<Option<LogId>>(super::KEY_COMMITTED, openraft::ErrorSubject::Store)
            .expect("read the stored id")
    };
    assert_eq!(stored(&log), None, "saving it wrote it");
    log.write_entries(vec![entry(3, 2, 1), entry(3, 2, 2)])
        .expect("append");
    assert_eq!(
        log.committed.unwritten(),
        None,
        "the append did not carry it"
    );
    assert_eq!(stored(&log), Some(Some(log_id(3, 1))));
}

#[tokio::test]
async fn the_committed_log_id_is_written_when_the_store_closes() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (mut log, _options) = counted_store(dir.path());
        let reader = log.get_log_reader().await;
        log.save_committed(Some(log_id(2, 9)))
            .await
            .expect("save committed");
        drop(log);
        drop(reader);
    }
    let (mut log, _options) = counted_store(dir.path());
    assert_eq!(
        log.read_committed().await.expect("read committed"),
        Some(log_id(2, 9))
    );
}

#[tokio::test]
async fn a_vote_is_synced_before_it_is_reported_saved() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, options) = counted_store(dir.path());
    let before = wal_syncs(&options);
    log.save_vote(&Vote::new(3, 2)).await.expect("save vote");
    assert_eq!(wal_syncs(&options), before + 1, "the vote was not synced");
    assert_eq!(
        log.read_vote().await.expect("read vote"),
        Some(Vote::new(3, 2))
    );
}

#[tokio::test]
async fn the_committed_log_id_and_the_vote_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let (mut log, _options) = counted_store(dir.path());
        log.save_committed(Some(log_id(2, 7)))
            .await
            .expect("save committed");
        log.save_vote(&Vote::new(2, 1)).await.expect("save vote");
    }
    let (mut log, _options) = counted_store(dir.path());
    assert_eq!(
        log.read_committed().await.expect("read committed"),
        Some(log_id(2, 7))
    );
    assert_eq!(
        log.read_vote().await.expect("read vote"),
        Some(Vote::new(2, 1))
    );
}

fn entry(term: u64, leader: u64, index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(term, leader), index),
        payload: EntryPayload::Blank,
    }
}

/// Member 1's store with syncs of unsynced entries held.
fn held_store(dir: &std::path::Path) -> (LogStore, Options, WalSync) {
    let (log, options) = counted_store(dir);
    let wal_sync = log.wal_sync.clone();
    wal_sync.hold(true);
    (log, options, wal_sync)
}

#[tokio::test]
async fn the_leaders_own_entries_are_written_without_waiting_for_the_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, options, wal_sync) = held_store(dir.path());
    log.save_vote(&Vote::new_committed(3, 1))
        .await
        .expect("save vote");
    let before = wal_syncs(&options);
    log.write_entries(vec![entry(3, 1, 1), entry(3, 1, 2)])
        .expect("append");
    assert_eq!(wal_syncs(&options), before, "the append waited for a sync");
    assert!(!wal_sync.is_durable(1).expect("no failure"));
    wal_sync.hold(false);
    tokio::time::timeout(Duration::from_secs(10), wal_sync.wait_durable(2))
        .await
        .expect("synced in time")
        .expect("no failure");
    assert!(wal_syncs(&options) > before, "the sync thread did not sync");
}

#[tokio::test]
async fn entries_from_another_leader_are_synced_before_the_append_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, options, wal_sync) = held_store(dir.path());
    log.save_vote(&Vote::new_committed(3, 2))
        .await
        .expect("save vote");
    let before = wal_syncs(&options);
    log.write_entries(vec![entry(3, 2, 1), entry(3, 2, 2)])
        .expect("append");
    assert_eq!(wal_syncs(&options), before + 1);
    assert!(wal_sync.is_durable(2).expect("no failure"));
}

#[tokio::test]
async fn only_entries_of_the_term_this_member_leads_skip_the_sync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, options, wal_sync) = held_store(dir.path());
    // Its own entries from an earlier term, arriving back from a new
    // leader, are a follower's append: its answer counts toward a quorum.
    log.save_vote(&Vote::new_committed(4, 1))
        .await
        .expect("save vote");
    let before = wal_syncs(&options);
    log.write_entries(vec![entry(3, 1, 1)]).expect("append");
    // A candidate's vote for itself is not leadership.
    log.save_vote(&Vote::new(5, 1)).await.expect("save vote");
    log.write_entries(vec![entry(5, 1, 2)]).expect("append");
    assert_eq!(
        wal_syncs(&options),
        before + 1 + 1 + 1,
        "vote and two appends"
    );
    assert!(wal_sync.is_durable(2).expect("no failure"));
}

#[tokio::test]
async fn a_successors_synced_entries_make_the_old_leaders_durable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, _options, wal_sync) = held_store(dir.path());
    log.save_vote(&Vote::new_committed(3, 1))
        .await
        .expect("save vote");
    log.write_entries(vec![entry(3, 1, 1), entry(3, 1, 2)])
        .expect("append");
    log.save_vote(&Vote::new_committed(4, 2))
        .await
        .expect("save vote");
    log.write_entries(vec![entry(4, 2, 3)]).expect("append");
    assert!(wal_sync.is_durable(3).expect("no failure"));
}

#[tokio::test]
async fn truncated_unsynced_entries_are_not_waited_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, _options, wal_sync) = held_store(dir.path());
    log.save_vote(&Vote::new_committed(3, 1))
        .await
        .expect("save vote");
    log.write_entries(vec![entry(3, 1, 5), entry(3, 1, 6)])
        .expect("append");
    log.truncate(log_id(3, 5)).await.expect("truncate");
    assert!(wal_sync.is_durable(6).expect("no failure"));
}

#[tokio::test]
async fn short_and_long_reads_give_the_same_entries() {
    use openraft::RaftLogReader;
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, _options) = counted_store(dir.path());
    log.save_vote(&Vote::new_committed(2, 2))
        .await
        .expect("save vote");
    log.write_entries((1..=40).map(|index| entry(2, 2, index)).collect())
        .expect("append");
    let indexes = |entries: Vec<Entry>| -> Vec<u64> {
        entries.iter().map(|entry| entry.log_id.index).collect()
    };
    let read = |log: &mut LogStore, range: std::ops::Range<u64>| {
        let mut log = log.clone();
        async move { indexes(log.try_get_log_entries(range).await.expect("read")) }
    };
    assert_eq!(read(&mut log, 7..8).await, vec![7], "one entry");
    assert_eq!(read(&mut log, 39..45).await, vec![39, 40], "past the end");
    assert_eq!(
        read(&mut log, 5..35).await,
        (5..35).collect::<Vec<_>>(),
        "a scan"
    );
    assert_eq!(
        indexes(log.try_get_log_entries(38..=40).await.expect("read")),
        vec![38, 39, 40]
    );
    assert_eq!(
        indexes(log.try_get_log_entries(40..).await.expect("read")),
        vec![40]
    );
    log.purge(log_id(2, 10)).await.expect("purge");
    assert_eq!(
        read(&mut log, 8..13).await,
        vec![11, 12],
        "a purged start reads what is left, as the scan does"
    );
    assert!(read(&mut log, 41..43).await.is_empty());
}
