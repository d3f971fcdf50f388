//! The agent's record of the fleet commands it has taken, on disk, so a
//! command id runs at most once across reconnects and the agent's own
//! restarts. A command is written here (synced) before it starts and
//! marked finished once its result is spooled; one found started but not
//! finished at start-up was cut short by a crash or restart.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// What went wrong with the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file could not be read or written.
    #[error("command journal {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An entry is not what the journal writes.
    #[error("command journal {path}: damaged entry: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One command's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The command id.
    pub id: u64,
    /// When the command stops being delivered (ms since the Unix epoch).
    pub expires_at_ms: u64,
    /// Whether its result is spooled.
    pub finished: bool,
}

/// The journal: a folder with one small file per command taken.
#[derive(Clone, Debug)]
pub struct Journal {
    dir: PathBuf,
    entries: Arc<Mutex<BTreeMap<u64, Entry>>>,
}

/// Entries are forgotten this long after their command expired (it can no
/// longer be delivered, so it cannot run twice).
const KEEP_AFTER_EXPIRY_MS: u64 = 3_600_000;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Journal {
    /// Opens (creating) the journal in `dir`, forgetting entries whose
    /// command expired long ago.
    pub fn open(dir: &Path, now_ms: u64) -> Result<Self, JournalError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut entries = BTreeMap::new();
        for file in fs::read_dir(dir).map_err(io(dir))? {
            let path = file.map_err(io(dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = fs::read_to_string(&path).map_err(io(&path))?;
            let entry: Entry =
                serde_json::from_str(&text).map_err(|err| JournalError::Corrupt {
                    path: path.clone(),
                    reason: err.to_string(),
                })?;
            if entry.expires_at_ms.saturating_add(KEEP_AFTER_EXPIRY_MS) < now_ms {
                fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            entries.insert(entry.id, entry);
        }
        Ok(Self {
            dir: dir.to_owned(),
            entries: Arc::new(Mutex::new(entries)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every command id taken (and still remembered).
    pub fn known(&self) -> Vec<u64> {
        self.lock().keys().copied().collect()
    }

    /// Commands started but never finished: cut short by a restart.
    pub fn unfinished(&self) -> Vec<u64> {
        self.lock()
            .values()
            .filter(|e| !e.finished)
            .map(|e| e.id)
            .collect()
    }

    /// Takes command `id`: true the first time (the entry is on disk before
    /// this returns), false if it was ever taken before.
    pub fn take(&self, id: u64, expires_at_ms: u64) -> Result<bool, JournalError> {
        if self.lock().contains_key(&id) {
            return Ok(false);
        }
        let entry = Entry {
            id,
            expires_at_ms,
            finished: false,
        };
        self.write(&entry)?;
        Ok(self.lock().insert(id, entry).is_none())
    }

    /// Marks command `id` finished (its result is spooled).
    pub fn finish(&self, id: u64) -> Result<(), JournalError> {
        let Some(mut entry) = self.lock().get(&id).copied() else {
            return Ok(());
        };
        entry.finished = true;
        self.write(&entry)?;
        self.lock().insert(id, entry);
        Ok(())
    }

    fn write(&self, entry: &Entry) -> Result<(), JournalError> {
        let path = self.dir.join(format!("{}.json", entry.id));
        let tmp = path.with_extension("tmp");
        let bytes = serde_json::to_vec(entry).map_err(|err| JournalError::Corrupt {
            path: path.clone(),
            reason: err.to_string(),
        })?;
        let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
        file.write_all(&bytes).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_taken_once_even_after_a_reopen() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let journal = Journal::open(dir.path(), 1_000)?;
        assert!(journal.take(7, 10_000)?);
        assert!(!journal.take(7, 10_000)?);
        assert!(journal.take(8, 10_000)?);
        journal.finish(8)?;
        let reopened = Journal::open(dir.path(), 2_000)?;
        assert!(!reopened.take(7, 10_000)?, "taken before the restart");
        assert_eq!(reopened.known(), vec![7, 8]);
        assert_eq!(reopened.unfinished(), vec![7], "7 was cut short");
        Ok(())
    }

    #[test]
    fn entries_long_expired_are_forgotten_and_damage_is_reported() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let journal = Journal::open(dir.path(), 0)?;
        journal.take(1, 5_000)?;
        journal.take(2, 10 * KEEP_AFTER_EXPIRY_MS)?;
        let later = Journal::open(dir.path(), 5_000 + KEEP_AFTER_EXPIRY_MS + 1)?;
        assert_eq!(later.known(), vec![2]);
        fs::write(dir.path().join("3.json"), b"{ broken")?;
        let err = match Journal::open(dir.path(), 0) {
            Ok(_) => "opened".to_owned(),
            Err(err) => err.to_string(),
        };
        assert!(err.contains("3.json") && err.contains("damaged"), "{err}");
        Ok(())
    }
}
