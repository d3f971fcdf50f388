//! The leader's own entries reach its disk while they travel to the
//! followers, not before.
//!
//! openraft 0.9 waits for the leader's append to be reported flushed before
//! it replicates the entries, so every write paid the leader's `fdatasync`
//! and then a follower's, one after the other. The log store now reports
//! the leader's own entries flushed as soon as they are in the WAL, and this
//! module syncs them on a thread of its own (`mevfleet-wal-sync`) while they
//! are sent. Raft's safety still holds, because nothing outside this member
//! learns of an entry until the leader's copy is on disk:
//! - the state machine applies an entry (and so answers its writer) only
//!   once it is durable here ([`WalSync::wait_durable`]);
//! - the leader tells followers a commit index only once every entry up to
//!   it is durable here (the network waits before it sends).
//!
//! An entry openraft counts committed with the leader's copy still in the
//! page cache is therefore on one follower's disk only, applied nowhere and
//! answered to no one; a crash then loses it exactly as it loses an
//! uncommitted entry. Once the leader's sync completes it is on a majority
//! of disks. Followers' appends, votes, truncations and purges stay synced
//! before they are reported: a follower's answer counts toward the quorum.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;

use rocksdb::DB;
use tokio::sync::watch;
use tracing::{error, info_span};

/// The thread's name (in `top -H` and profiles).
pub const WAL_SYNC_THREAD_NAME: &str = "mevfleet-wal-sync";

/// Why an entry cannot be made durable.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WalSyncError {
    /// The WAL sync failed; this member's store can no longer be trusted.
    #[error("the WAL sync failed: {0}")]
    SyncFailed(String),
    /// The store closed before the entry was synced.
    #[error("the store closed before the entry was synced")]
    Closed,
}

#[derive(Debug, Default)]
struct Pending {
    /// Entries written without a sync: the first index of each write, and
    /// the store's sequence number once it was written.
    unsynced: BTreeMap<u64, u64>,
    /// A sync has been asked for and not started yet.
    requested: bool,
    /// Hold syncs (tests).
    held: bool,
    stopping: bool,
    failed: Option<WalSyncError>,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    wake_thread: Condvar,
    /// Bumped whenever entries become durable or syncing fails.
    progress: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // A panic while holding the lock leaves plain data behind.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn made_progress(&self) {
        self.progress.send_modify(|generation| *generation += 1);
    }
}

/// Tells the thread to stop when the last handle goes.
#[derive(Debug)]
struct Stopper {
    shared: Arc<Shared>,
    _thread: JoinHandle<()>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake_thread.notify_all();
        // Not joined: a sync in flight may take a while and a drop must not
        // block a runtime thread; the thread ends as soon as it wakes.
    }
}

/// Which of the leader's entries are still only in the page cache, and the
/// thread that syncs them. Clones share both.
#[derive(Clone, Debug)]
pub struct WalSync {
    shared: Arc<Shared>,
    _stopper: Arc<Stopper>,
}

impl WalSync {
    /// Starts the sync thread for `db`. The thread holds the store only
    /// while it syncs, so a member that stops can reopen its store at once.
    pub fn start(db: &Arc<DB>) -> std::io::Result<Self> {
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake_thread: Condvar::new(),
            progress,
        });
        let thread = {
            let (shared, db) = (shared.clone(), Arc::downgrade(db));
            std::thread::Builder::new()
                .name(WAL_SYNC_THREAD_NAME.into())
                .spawn(move || {
                    let _span = info_span!("wal_sync").entered();
                    sync_loop(&shared, &db);
                })?
        };
        Ok(Self {
            _stopper: Arc::new(Stopper {
                shared: shared.clone(),
                _thread: thread,
            }),
            shared,
        })
    }

    /// Records entries from `first_index` on, written without a sync and in
    /// the store by `sequence`, and asks for a sync. Entries at or after
    /// `first_index` written earlier are replaced by these.
    pub fn written_unsynced(&self, first_index: u64, sequence: u64) {
        let mut pending = self.shared.lock();
        pending.unsynced.split_off(&first_index);
        pending.unsynced.insert(first_index, sequence);
        pending.requested = true;
        drop(pending);
        self.shared.wake_thread.notify_one();
    }

    /// Everything in the store up to `sequence` is on disk (a synced write
    /// that started after it has returned).
    pub fn synced_through(&self, sequence: u64) {
        let mut pending = self.shared.lock();
        let before = pending.unsynced.len();
        pending.unsynced.retain(|_, written| *written > sequence);
        let progressed = pending.unsynced.len() != before;
        drop(pending);
        if progressed {
            self.shared.made_progress();
        }
    }

    /// Entries from `first_index` on were deleted or replaced by synced
    /// ones.
    pub fn replaced_from(&self, first_index: u64) {
        let mut pending = self.shared.lock();
        let removed = !pending.unsynced.split_off(&first_index).is_empty();
        drop(pending);
        if removed {
            self.shared.made_progress();
        }
    }

    /// Whether every entry up to `index` is on disk.
    pub fn is_durable(&self, index: u64) -> Result<bool, WalSyncError> {
        let pending = self.shared.lock();
        if let Some(err) = &pending.failed {
            return Err(err.clone());
        }
        Ok(pending.unsynced.range(..=index).next().is_none())
    }

    /// Waits until every entry up to `index` is on disk.
    pub async fn wait_durable(&self, index: u64) -> Result<(), WalSyncError> {
        let mut progress = self.shared.progress.subscribe();
        while !self.is_durable(index)? {
            if progress.changed().await.is_err() {
                return Err(WalSyncError::Closed);
            }
        }
        Ok(())
    }

    /// Holds (or releases) the syncs, so tests can see an entry that is not
    /// yet durable.
    #[cfg(test)]
    pub fn hold(&self, held: bool) {
        self.shared.lock().held = held;
        self.shared.wake_thread.notify_all();
    }
}

fn sync_loop(shared: &Shared, db: &Weak<DB>) {
    loop {
        {
            let mut pending = shared.lock();
            while !pending.stopping && (!pending.requested || pending.held) {
                pending = shared
                    .wake_thread
                    .wait(pending)
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if pending.stopping {
                return;
            }
            pending.requested = false;
        }
        let Some(db) = db.upgrade() else {
            shared.lock().failed = Some(WalSyncError::Closed);
            shared.made_progress();
            return;
        };
        // Every write the store has finished by now is in the WAL file, so
        // the sync below covers it.
        let sequence = db.latest_sequence_number();
        let synced = db.flush_wal(true);
        drop(db);
        match synced {
            Ok(()) => {
                let mut pending = shared.lock();
                pending.unsynced.retain(|_, written| *written > sequence);
                drop(pending);
                shared.made_progress();
            }
            Err(err) => {
                error!(error = %err, "WAL sync failed: this member stops applying entries");
                shared.lock().failed = Some(WalSyncError::SyncFailed(err.to_string()));
                shared.made_progress();
                return;
            }
        }
    }
}

#[cfg(test)]
#[path = "wal_sync_tests.rs"]
mod tests;
