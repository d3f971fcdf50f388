//! The committed log id between the store's writes.
//!
//! openraft 0.9 saves the committed log id on every commit, on the leader
//! between the quorum's answer and applying the entry (so before its
//! writer is answered), and on a follower for every commit index the leader
//! announces. It is only a lower bound: on restart a member applies the
//! entries up to it again, and the leader's first entry commits the rest.
//! So it costs no write of its own: the latest one is kept here and goes
//! into the store's next write batch (an append, a vote, a truncation, a
//! purge), or is written when the last clone of the store is dropped. A
//! crash loses at most the commits since the last write, as a crash before
//! the next sync always could.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use openraft::{ErrorSubject, ErrorVerb};
use rocksdb::{WriteBatch, WriteOptions, DB};
use tracing::warn;

use super::store::{cf, encode, io_error, CF_META};
use super::types::{LogId, StorageError};

/// The meta key the committed log id is stored under.
pub const KEY_COMMITTED: &[u8] = b"committed";

/// A committed log id taken into a write batch, to be confirmed once the
/// batch is written.
#[derive(Debug, PartialEq)]
#[must_use = "confirm it with `UnwrittenCommitted::written` once the batch is written"]
pub struct Carried(Option<LogId>);

/// The latest committed log id not yet in the store; shared by the
/// store's clones.
#[derive(Debug)]
pub struct UnwrittenCommitted {
    db: Arc<DB>,
    latest: Mutex<Option<Option<LogId>>>,
}

impl UnwrittenCommitted {
    /// Nothing unwritten yet, over `db`.
    pub fn new(db: Arc<DB>) -> Self {
        Self {
            db,
            latest: Mutex::new(None),
        }
    }

    fn latest(&self) -> MutexGuard<'_, Option<Option<LogId>>> {
        // The value is a plain id: a panic elsewhere cannot leave it torn.
        self.latest.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes `committed` as the latest.
    pub fn set(&self, committed: Option<LogId>) {
        *self.latest() = Some(committed);
    }

    /// The latest id noted and not written yet, if there is one.
    pub fn unwritten(&self) -> Option<Option<LogId>> {
        *self.latest()
    }

    /// Adds the unwritten id, if any, to `batch`.
    pub fn carry_in(&self, batch: &mut WriteBatch) -> Result<Option<Carried>, StorageError> {
        let Some(committed) = self.unwritten() else {
            return Ok(None);
        };
        batch.put_cf(
            cf(&self.db, CF_META)?,
            KEY_COMMITTED,
            encode(&committed, ErrorSubject::Store)?,
        );
        Ok(Some(Carried(committed)))
    }

    /// The batch `carried` went in is written: the id is no longer
    /// unwritten, unless a newer one was noted meanwhile.
    pub fn written(&self, carried: Option<Carried>) {
        let Some(Carried(committed)) = carried else {
            return;
        };
        let mut latest = self.latest();
        if *latest == Some(committed) {
            *latest = None;
        }
    }
}

impl Drop for UnwrittenCommitted {
    fn drop(&mut self) {
        let mut batch = WriteBatch::default();
        let written = self.carry_in(&mut batch).and_then(|carried| {
            if carried.is_some() {
                self.db
                    .write_opt(batch, &WriteOptions::default())
                    .map_err(|err| io_error(ErrorSubject::Store, ErrorVerb::Write, err))?;
            }
            Ok(())
        });
        if let Err(err) = written {
            // A lower bound: the next start applies a little less at once.
            warn!(error = %err, "could not write the latest committed log id on close");
        }
    }
}

#[cfg(test)]
#[path = "committed_tests.rs"]
mod tests;
