//! The unwritten committed log id: carried by a batch, confirmed only for
//! the id the batch held, and written when dropped.

use std::sync::Arc;

use openraft::CommittedLeaderId;
use rocksdb::{Options, WriteBatch, WriteOptions, DB};

use super::{UnwrittenCommitted, KEY_COMMITTED};
use crate::raft::store::{self, cf, decode, CF_META};
use crate::raft::types::LogId;

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

fn stored(db: &DB) -> Option<Option<LogId>> {
    let meta = cf(db, CF_META).expect("meta family");
    db.get_cf(meta, KEY_COMMITTED)
        .expect("read")
        .map(|bytes| decode(&bytes, openraft::ErrorSubject::Store).expect("decode"))
}

/// A store in a fresh folder (kept while the folder guard lives) and
/// nothing unwritten over it.
fn fresh() -> (tempfile::TempDir, Arc<DB>, UnwrittenCommitted) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store::open_with(dir.path(), &Options::default()).expect("open");
    let committed = UnwrittenCommitted::new(db.clone());
    (dir, db, committed)
}

#[test]
fn a_batch_carries_the_latest_id_and_then_it_is_written() {
    let (_dir, db, committed) = fresh();
    let mut batch = WriteBatch::default();
    assert!(committed.carry_in(&mut batch).expect("carry").is_none());
    assert!(batch.is_empty(), "nothing noted, nothing carried");

    committed.set(Some(log_id(3)));
    committed.set(Some(log_id(4)));
    let carried = committed.carry_in(&mut batch).expect("carry");
    db.write_opt(batch, &WriteOptions::default())
        .expect("write");
    committed.written(carried);
    assert_eq!(committed.unwritten(), None);
    assert_eq!(stored(&db), Some(Some(log_id(4))));
}

#[test]
fn a_newer_id_noted_while_a_batch_is_written_stays_unwritten() {
    let (_dir, db, committed) = fresh();
    committed.set(Some(log_id(5)));
    let mut batch = WriteBatch::default();
    let carried = committed.carry_in(&mut batch).expect("carry");
    committed.set(Some(log_id(6)));
    db.write_opt(batch, &WriteOptions::default())
        .expect("write");
    committed.written(carried);
    assert_eq!(committed.unwritten(), Some(Some(log_id(6))));
}

#[test]
fn the_unwritten_id_is_written_when_dropped() {
    let (_dir, db, committed) = fresh();
    committed.set(Some(log_id(9)));
    assert_eq!(stored(&db), None, "noting an id writes nothing");
    drop(committed);
    assert_eq!(stored(&db), Some(Some(log_id(9))));
}
