//! The bookkeeping of entries written without a sync: what counts as
//! durable, what a sync or a synced write clears, and what waiting sees.

use std::time::Duration;

use super::*;
use crate::raft::store;

const NOT_YET: Duration = Duration::from_millis(150);
const AT_MOST: Duration = Duration::from_secs(10);

fn started() -> (tempfile::TempDir, Arc<DB>, WalSync) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store::open(dir.path()).expect("open the store");
    let wal_sync = WalSync::start(&db).expect("start the sync thread");
    (dir, db, wal_sync)
}

#[tokio::test]
async fn an_unsynced_entry_is_durable_once_the_thread_has_synced_it() {
    let (_dir, db, wal_sync) = started();
    wal_sync.hold(true);
    wal_sync.written_unsynced(4, db.latest_sequence_number());
    assert!(!wal_sync.is_durable(4).expect("no failure"));
    assert!(
        wal_sync.is_durable(3).expect("no failure"),
        "entries before the write wait for nothing"
    );
    assert!(
        tokio::time::timeout(NOT_YET, wal_sync.wait_durable(9))
            .await
            .is_err(),
        "an entry was durable while syncs were held"
    );
    wal_sync.hold(false);
    tokio::time::timeout(AT_MOST, wal_sync.wait_durable(9))
        .await
        .expect("synced in time")
        .expect("no failure");
}

#[tokio::test]
async fn a_synced_write_clears_what_was_written_before_it_only() {
    let (_dir, _db, wal_sync) = started();
    wal_sync.hold(true);
    wal_sync.written_unsynced(1, 10);
    wal_sync.written_unsynced(3, 12);
    wal_sync.synced_through(11);
    assert!(wal_sync.is_durable(2).expect("no failure"));
    assert!(!wal_sync.is_durable(3).expect("no failure"));
    wal_sync.synced_through(12);
    assert!(wal_sync.is_durable(u64::MAX).expect("no failure"));
}

#[tokio::test]
async fn replaced_or_rewritten_entries_wait_for_their_new_write_only() {
    let (_dir, _db, wal_sync) = started();
    wal_sync.hold(true);
    wal_sync.written_unsynced(5, 20);
    wal_sync.replaced_from(5);
    assert!(wal_sync.is_durable(9).expect("no failure"));
    wal_sync.written_unsynced(5, 21);
    wal_sync.written_unsynced(5, 22);
    wal_sync.synced_through(21);
    assert!(
        !wal_sync.is_durable(5).expect("no failure"),
        "the rewrite at 5 is not synced yet"
    );
}

#[tokio::test]
async fn waiting_ends_with_an_error_when_the_store_is_gone() {
    let (_dir, db, wal_sync) = started();
    wal_sync.hold(true);
    wal_sync.written_unsynced(1, db.latest_sequence_number());
    drop(db);
    wal_sync.hold(false);
    let waited = tokio::time::timeout(AT_MOST, wal_sync.wait_durable(1))
        .await
        .expect("the wait ended");
    assert!(matches!(waited, Err(WalSyncError::Closed)), "{waited:?}");
}
