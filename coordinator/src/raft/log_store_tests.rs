//! What the log store syncs: the vote before it returns, the committed log
//! id only with the next synced write, and both survive a reopen.

use openraft::storage::RaftLogStorage;
use openraft::{CommittedLeaderId, Vote};
use rocksdb::statistics::Ticker;
use rocksdb::Options;

use super::LogStore;
use crate::raft::store;
use crate::raft::types::LogId;

/// A store in a fresh folder whose options count WAL syncs.
fn counted_store(dir: &std::path::Path) -> (LogStore, Options) {
    let mut options = Options::default();
    options.enable_statistics();
    let db = store::open_with(dir, &options).expect("open the store");
    (LogStore::new(db), options)
}

fn wal_syncs(options: &Options) -> u64 {
    options.get_ticker_count(Ticker::WalFileSynced)
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

#[tokio::test]
async fn saving_the_committed_log_id_costs_no_sync_of_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut log, options) = counted_store(dir.path());
    let before = wal_syncs(&options);
    for index in 1..=5 {
        log.save_committed(Some(log_id(1, index)))
            .await
            .expect("save committed");
    }
    assert_eq!(wal_syncs(&options), before, "committed ids were synced");
    assert_eq!(
        log.read_committed().await.expect("read committed"),
        Some(log_id(1, 5))
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
