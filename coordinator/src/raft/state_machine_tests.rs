//! The state machine applies an entry only once this member's copy of it is
//! on disk, so a write is never answered from the page cache.

use std::time::Duration;

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};

use super::*;
use crate::raft::store;

fn blank(index: u64) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(3, 1), index),
        payload: EntryPayload::Blank,
    }
}

#[tokio::test]
async fn an_entry_still_syncing_here_is_applied_only_after_its_sync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store::open(dir.path()).expect("open the store");
    let wal_sync = WalSync::start(&db).expect("start the sync thread");
    let mut machine = StateMachine::open(db.clone(), wal_sync.clone()).expect("open");
    wal_sync.hold(true);
    machine.apply(vec![blank(1)]).await.expect("apply");
    wal_sync.written_unsynced(2, db.latest_sequence_number());

    let mut applying = machine.clone();
    let mut apply = tokio::spawn(async move { applying.apply(vec![blank(2)]).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(150), &mut apply)
            .await
            .is_err(),
        "applied before the entry was synced"
    );
    let (applied, _) = machine.applied_state().await.expect("applied state");
    assert_eq!(applied.map(|id| id.index), Some(1));

    wal_sync.hold(false);
    tokio::time::timeout(Duration::from_secs(10), apply)
        .await
        .expect("applied in time")
        .expect("the task ran")
        .expect("apply");
    let (applied, _) = machine.applied_state().await.expect("applied state");
    assert_eq!(applied.map(|id| id.index), Some(2));
}
