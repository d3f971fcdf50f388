//! The durable spool: records the agent must deliver to the coordinators
//! (chain verdict changes now; command results and execution outcomes
//! later), kept on disk until a coordinator acknowledges their commit.
//!
//! One file per record, `<seq>.rec`, written to a temporary name, synced and
//! renamed, so a crash leaves either the whole record or none of it. `seq`
//! increases and is never reused (the next one is kept in `next`); with the
//! spool's random `id` it lets the coordinators apply each record exactly
//! once however often it is delivered.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use mevfleet_common::report::{SpoolRecord, Spooled};
use tokio::sync::Notify;

/// How many records may wait before new ones are refused.
pub const MAX_PENDING: usize = 100_000;

/// Why the spool failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A spool file could not be read or written.
    #[error("spool {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A spool file does not hold what it should.
    #[error("spool {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Too many records wait for delivery.
    #[error("the spool holds {MAX_PENDING} undelivered records; refusing more until the coordinators take them")]
    Full,
}

#[derive(Debug)]
struct State {
    next: u64,
    pending: BTreeMap<u64, SpoolRecord>,
}

/// The spool, shared by whoever records and the uplink that delivers.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
    id: u64,
    state: Arc<Mutex<State>>,
    added: Arc<Notify>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 1 << 20 }>()
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
fn write_durably(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), SpoolError> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))
}

fn read_u64(path: &Path) -> Result<Option<u64>, SpoolError> {
    match fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|err| SpoolError::Corrupt {
                path: path.to_owned(),
                reason: format!("expected a number: {err}"),
            }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(io(path)(err)),
    }
}

impl Spool {
    /// Opens (or creates) the spool in `dir` and loads what waits there.
    pub fn open(dir: &Path) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let id_path = dir.join("id");
        let id = match read_u64(&id_path)? {
            Some(id) => id,
            None => {
                let id = rand::random::<u64>() | 1;
                write_durably(dir, &id_path, id.to_string().as_bytes())?;
                id
            }
        };
        let mut pending = BTreeMap::new();
        for entry in fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let Some(seq) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".rec"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let bytes = fs::read(&path).map_err(io(&path))?;
            let (record, _) =
                bincode::serde::decode_from_slice(&bytes, bincode_config()).map_err(|err| {
                    SpoolError::Corrupt {
                        path: path.clone(),
                        reason: err.to_string(),
                    }
                })?;
            pending.insert(seq, record);
        }
        let after_files = pending.keys().next_back().map_or(1, |seq| seq + 1);
        let next = read_u64(&dir.join("next"))?.unwrap_or(1).max(after_files);
        Ok(Self {
            dir: dir.to_owned(),
            id,
            state: Arc::new(Mutex::new(State { next, pending })),
            added: Arc::new(Notify::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The spool's identity.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Records `record` durably; returns its sequence number once it is on disk.
    pub fn push(&self, record: SpoolRecord) -> Result<u64, SpoolError> {
        let mut state = self.lock();
        if state.pending.len() >= MAX_PENDING {
            return Err(SpoolError::Full);
        }
        let seq = state.next;
        let bytes = bincode::serde::encode_to_vec(&record, bincode_config()).map_err(|err| {
            SpoolError::Corrupt {
                path: self.dir.clone(),
                reason: format!("cannot encode a record: {err}"),
            }
        })?;
        let path = self.dir.join(format!("{seq:020}.rec"));
        write_durably(&self.dir, &path, &bytes)?;
        write_durably(
            &self.dir,
            &self.dir.join("next"),
            (seq + 1).to_string().as_bytes(),
        )?;
        state.next = seq + 1;
        state.pending.insert(seq, record);
        drop(state);
        self.added.notify_one();
        Ok(seq)
    }

    /// Up to `max` waiting records, oldest first.
    pub fn pending(&self, max: usize) -> Vec<Spooled> {
        self.lock()
            .pending
            .iter()
            .take(max)
            .map(|(seq, record)| Spooled {
                seq: *seq,
                record: record.clone(),
            })
            .collect()
    }

    /// How many records wait.
    pub fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The coordinators committed everything through `through_seq`: drop it.
    pub fn acknowledge(&self, through_seq: u64) -> Result<usize, SpoolError> {
        let mut state = self.lock();
        let done: Vec<u64> = state
            .pending
            .range(..=through_seq)
            .map(|(s, _)| *s)
            .collect();
        for seq in &done {
            let path = self.dir.join(format!("{seq:020}.rec"));
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(io(&path)(err)),
            }
            state.pending.remove(seq);
        }
        Ok(done.len())
    }

    /// Waits until a record is added.
    pub async fn added(&self) {
        self.added.notified().await
    }
}

#[cfg(test)]
mod tests {
    use mevfleet_common::chain::HealthState;

    use super::*;

    fn record(n: u64) -> SpoolRecord {
        SpoolRecord::ChainTransition {
            chain: "ethereum".into(),
            from: HealthState::Healthy,
            to: HealthState::Down,
            at_ms: n,
            reason: Some(format!("probe {n}")),
        }
    }

    #[test]
    fn records_survive_a_reopen_in_order_and_leave_once_acknowledged() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let spool = Spool::open(dir.path())?;
        let seqs: Vec<u64> = (0..5)
            .map(|n| spool.push(record(n)))
            .collect::<Result<_, _>>()?;
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
        assert_eq!(spool.acknowledge(2)?, 2);
        let reopened = Spool::open(dir.path())?;
        assert_eq!(reopened.id(), spool.id());
        let pending = reopened.pending(10);
        assert_eq!(
            pending.iter().map(|s| s.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        assert_eq!(pending[0].record, record(2));
        assert_eq!(reopened.pending(2).len(), 2);
        Ok(())
    }

    #[test]
    fn sequence_numbers_are_never_reused_after_everything_is_acknowledged() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let spool = Spool::open(dir.path())?;
        spool.push(record(1))?;
        spool.push(record(2))?;
        spool.acknowledge(2)?;
        assert!(spool.is_empty());
        let reopened = Spool::open(dir.path())?;
        assert_eq!(reopened.push(record(3))?, 3);
        Ok(())
    }

    #[test]
    fn a_crash_between_the_record_and_the_counter_loses_nothing() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let spool = Spool::open(dir.path())?;
        spool.push(record(1))?;
        spool.push(record(2))?;
        // As if the process died after writing record 2 but before `next`.
        fs::write(dir.path().join("next"), "2")?;
        let reopened = Spool::open(dir.path())?;
        assert_eq!(reopened.len(), 2);
        assert_eq!(reopened.push(record(3))?, 3);
        Ok(())
    }

    #[test]
    fn a_damaged_record_is_reported_with_its_file() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let spool = Spool::open(dir.path())?;
        spool.push(record(1))?;
        fs::write(
            dir.path().join(format!("{:020}.rec", 1)),
            [0xff, 0xff, 0xff],
        )?;
        let err = Spool::open(dir.path()).expect_err("damaged record");
        assert!(
            err.to_string().contains("00000000000000000001.rec"),
            "{err}"
        );
        Ok(())
    }
}
