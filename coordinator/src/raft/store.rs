//! The coordinator's RocksDB: opening it with its column families, and the
//! bincode encoding of what goes in it. Writes that Raft's safety rests on
//! (log appends, votes, purges, snapshots) are synced to disk before they
//! are acknowledged; the committed log id rides on the next one.

use std::path::Path;
use std::sync::Arc;

use openraft::{AnyError, ErrorSubject, ErrorVerb, StorageIOError};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::StorageError;

/// Column family of log entries, keyed by big-endian index.
pub const CF_LOG: &str = "log";
/// Column family of the vote, the committed log id and the last purged log id.
pub const CF_META: &str = "meta";
/// Column family of the current snapshot.
pub const CF_SNAPSHOT: &str = "snapshot";

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB refused to open the folder (locked by another process,
    /// corrupt, no permission).
    #[error(
        "cannot open the store in {path}: {source} (is another coordinator using this data_dir?)"
    )]
    Open {
        /// The data folder.
        path: String,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
}

/// Opens (creating if needed) the store in `dir`.
pub fn open(dir: &Path) -> Result<Arc<DB>, StoreError> {
    open_with(dir, &Options::default())
}

/// Opens the store in `dir` with `options` (tests enable statistics to
/// count syncs); the column families are created if missing.
pub fn open_with(dir: &Path, options: &Options) -> Result<Arc<DB>, StoreError> {
    let mut options = options.clone();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    let families = [CF_LOG, CF_META, CF_SNAPSHOT]
        .into_iter()
        .map(|name| ColumnFamilyDescriptor::new(name, Options::default()));
    DB::open_cf_descriptors(&options, dir, families)
        .map(Arc::new)
        .map_err(|source| StoreError::Open {
            path: dir.display().to_string(),
            source,
        })
}

/// Write options that sync the WAL before returning.
pub fn synced() -> WriteOptions {
    let mut options = WriteOptions::default();
    options.set_sync(true);
    options
}

/// A column family handle; the families are created when the store opens.
pub fn cf<'a>(db: &'a DB, name: &str) -> Result<&'a ColumnFamily, StorageError> {
    db.cf_handle(name).ok_or_else(|| {
        io_error(
            ErrorSubject::Store,
            ErrorVerb::Read,
            std::io::Error::other(format!("column family `{name}` is missing")),
        )
    })
}

/// Encodes a value for the store.
pub fn encode<T: Serialize>(
    value: &T,
    subject: ErrorSubject<u64>,
) -> Result<Vec<u8>, StorageError> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|err| {
        io_error(
            subject,
            ErrorVerb::Write,
            std::io::Error::other(err.to_string()),
        )
    })
}

/// Decodes a value from the store.
pub fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    subject: ErrorSubject<u64>,
) -> Result<T, StorageError> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(value, _)| value)
        .map_err(|err| {
            io_error(
                subject,
                ErrorVerb::Read,
                std::io::Error::other(err.to_string()),
            )
        })
}

/// A storage error in openraft's terms.
pub fn io_error(
    subject: ErrorSubject<u64>,
    verb: ErrorVerb,
    err: impl std::error::Error + 'static,
) -> StorageError {
    StorageIOError::new(subject, verb, AnyError::new(&err)).into()
}

/// The key of log entry `index`: big-endian so keys sort by index.
pub fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}
