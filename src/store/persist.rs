//! Durable state blobs in the data directory, in one embedded redb file.
//!
//! Stages export their state as opaque bytes (the graph's pending halves,
//! edges and open windows); this module only stores and returns them, in
//! one ACID transaction per write, so a crash leaves either the old or the
//! new state, never a mix. Besides single blobs by key it keeps *logs*:
//! ordered sequences of blobs by position, written piecewise (append some,
//! drop the oldest) in the same transaction as the blobs, so state that
//! grows by parts (the analysis journal's windows) is not rewritten whole
//! at every snapshot. Blobs stored in chunks by an older version (one
//! value per chunk) are still read, and removed with their key. Never does:
//! interpret what it stores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::model::LazyPart;

/// Name of the database file inside the data directory.
pub const FILE_NAME: &str = "epicenter.redb";

/// redb's page cache for this file (redb's default is 1 GiB of resident
/// memory). Snapshots are written whole and read back only at start, so a
/// small cache costs nothing (`scripts/bench-memory.sh`: see the README).
/// redb moves the pages a commit wrote into this cache when they fit: at
/// 32 MiB a 17 MB graph state stayed resident after every snapshot; at
/// 4 MiB it does not (5,000 services at 1× real time: median RSS 297 vs
/// 308 MB over 420 s, peaks unchanged).
const CACHE_BYTES: usize = 4 << 20;

const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");
/// (key, chunk number) → one chunk of a blob stored in chunks (by the
/// version before logs; read and removed, no longer written).
const CHUNKS: TableDefinition<'_, (&str, u32), &[u8]> = TableDefinition::new("chunks");
/// (log name, position) → blob.
const LOGS: TableDefinition<'_, (&str, u64), &[u8]> = TableDefinition::new("logs");
/// Alert id → the alert as last emitted (JSON), for idempotent emission.
const EMITTED: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("emitted_alerts");
/// (alert time in ns, alert id) of every ledger entry, oldest first, for pruning.
const EMITTED_AT: TableDefinition<'_, (u64, &str), ()> =
    TableDefinition::new("emitted_alerts_by_time");
/// Ledger entries of alerts older than this (event time, before the newest
/// alert recorded) are dropped: a crash re-derives alerts from the last
/// snapshot, minutes back, never a week.
pub const LEDGER_KEEP_NANOS: u64 = 7 * 86_400 * 1_000_000_000;

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The embedded database failed.
    #[error("state store failed: {0}")]
    Db(#[from] redb::Error),
    /// A log item could not be encoded (the write is abandoned).
    #[error("a log item could not be encoded: {0}")]
    Encode(std::io::Error),
}

/// One transaction of [`StateStore::write`].
#[derive(Debug, Default)]
pub struct Write<'a> {
    /// Blobs to insert or replace.
    pub put: &'a [(&'a str, &'a [u8])],
    /// Blobs to remove (stored whole or in chunks).
    pub remove: &'a [&'a str],
    /// Changes to one log.
    pub log: Option<LogWrite<'a>>,
}

/// Changes to one log: its oldest items dropped, new ones added.
#[derive(Debug)]
pub struct LogWrite<'a> {
    /// The log.
    pub name: &'a str,
    /// Items before this position are removed.
    pub keep_from: u64,
    /// Items to add (an existing position is replaced), each encoded when
    /// it is inserted; those before `keep_from` are ignored.
    pub append: &'a [Arc<dyn LazyPart>],
}

/// Key/value store of state blobs.
#[derive(Debug)]
pub struct StateStore {
    db: Database,
    path: PathBuf,
}

impl StateStore {
    /// Opens (or creates) `DIR/epicenter.redb`, creating `DIR` as needed.
    ///
    /// # Errors
    /// When the directory cannot be created or the file is not a redb
    /// database (or is locked by another process).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(redb::Error::from)?;
        Ok(Self { db, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the blob under `key`, durably.
    ///
    /// # Errors
    /// On any storage failure; the previous value is then kept.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(STATE).map_err(redb::Error::from)?;
            table.insert(key, value).map_err(redb::Error::from)?;
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Replaces every blob of `entries` in ONE transaction: after a crash the
    /// store holds either all of them or none (the previous values).
    ///
    /// # Errors
    /// On any storage failure; the previous values are then kept.
    pub fn put_all(&self, entries: &[(&str, &[u8])]) -> Result<(), StoreError> {
        self.write(&Write {
            put: entries,
            ..Write::default()
        })
    }

    /// Applies `write` in ONE transaction: all of it or nothing.
    ///
    /// # Errors
    /// On any storage failure; the previous state is then kept.
    pub fn write(&self, write: &Write<'_>) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(STATE).map_err(redb::Error::from)?;
            for (key, value) in write.put {
                table.insert(*key, *value).map_err(redb::Error::from)?;
            }
            for key in write.remove {
                table.remove(*key).map_err(redb::Error::from)?;
            }
        }
        if !write.remove.is_empty() {
            let mut table = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
            for key in write.remove {
                table
                    .retain_in((*key, 0)..=(*key, u32::MAX), |_, _| false)
                    .map_err(redb::Error::from)?;
            }
        }
        if let Some(log) = &write.log {
            let mut table = txn.open_table(LOGS).map_err(redb::Error::from)?;
            table
                .retain_in((log.name, 0)..(log.name, log.keep_from), |_, _| false)
                .map_err(redb::Error::from)?;
            for item in log.append.iter().filter(|i| i.position() >= log.keep_from) {
                let value = item.encode().map_err(StoreError::Encode)?;
                table
                    .insert((log.name, item.position()), value.as_slice())
                    .map_err(redb::Error::from)?;
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(())
    }

    /// Calls `each` with every item of the log `name`, by position, until
    /// it returns false.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn read_log(
        &self,
        name: &str,
        mut each: impl FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = match txn.open_table(LOGS) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(error) => return Err(redb::Error::from(error).into()),
        };
        for item in table
            .range((name, 0)..=(name, u64::MAX))
            .map_err(redb::Error::from)?
        {
            let (key, value) = item.map_err(redb::Error::from)?;
            if !each(key.value().1, value.value()) {
                break;
            }
        }
        Ok(())
    }

    /// The chunks of the blob under `key` (one chunk when it was stored
    /// whole), if any.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn get_chunked(&self, key: &str) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        let chunks = {
            let txn = self.db.begin_read().map_err(redb::Error::from)?;
            match txn.open_table(CHUNKS) {
                Ok(table) => table
                    .range((key, 0)..=(key, u32::MAX))
                    .map_err(redb::Error::from)?
                    .map(|item| item.map(|(_, v)| v.value().to_vec()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(redb::Error::from)?,
                Err(redb::TableError::TableDoesNotExist(_)) => Vec::new(),
                Err(error) => return Err(redb::Error::from(error).into()),
            }
        };
        if !chunks.is_empty() {
            return Ok(Some(chunks));
        }
        Ok(self.get(key)?.map(|whole| vec![whole]))
    }

    /// Stores `chunks` under `key` as the version before logs did.
    #[cfg(test)]
    pub(crate) fn put_chunks(&self, key: &str, chunks: &[Vec<u8>]) {
        let txn = self.db.begin_write().unwrap();
        {
            let mut table = txn.open_table(CHUNKS).unwrap();
            for (i, chunk) in chunks.iter().enumerate() {
                table.insert((key, i as u32), chunk.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }

    /// The content recorded as emitted for the alert `id`, if any.
    ///
    /// # Errors
    /// On any storage failure.
    fn emitted_content(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        match txn.open_table(EMITTED) {
            Ok(table) => Ok(table
                .get(id)
                .map_err(redb::Error::from)?
                .map(|v| v.value().to_vec())),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(error) => Err(redb::Error::from(error).into()),
        }
    }

    /// Whether an alert `id` is recorded as emitted, with any content.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn emitted_id(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.emitted_content(id)?.is_some())
    }

    /// Whether exactly `content` is recorded as emitted for the alert `id`.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn emitted(&self, id: &str, content: &[u8]) -> Result<bool, StoreError> {
        Ok(self.emitted_content(id)?.as_deref() == Some(content))
    }

    /// Records that the alert `id`, detected at `at_nanos` (event time), was
    /// emitted with `content`, durably. Returns false, writing nothing, when
    /// exactly this content was recorded for `id` before. Entries more than
    /// [`LEDGER_KEEP_NANOS`] older than `at_nanos` are pruned in the same
    /// transaction, so the ledger stays bounded.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn record_emitted(
        &self,
        id: &str,
        at_nanos: u64,
        content: &[u8],
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(EMITTED).map_err(redb::Error::from)?;
            let same = table
                .get(id)
                .map_err(redb::Error::from)?
                .is_some_and(|v| v.value() == content);
            if same {
                drop(table);
                txn.abort().map_err(redb::Error::from)?;
                return Ok(false);
            }
            table.insert(id, content).map_err(redb::Error::from)?;
            let mut by_time = txn.open_table(EMITTED_AT).map_err(redb::Error::from)?;
            by_time
                .insert((at_nanos, id), ())
                .map_err(redb::Error::from)?;
            let cutoff = at_nanos.saturating_sub(LEDGER_KEEP_NANOS);
            let mut old = Vec::new();
            for entry in by_time
                .range::<(u64, &str)>(..(cutoff, ""))
                .map_err(redb::Error::from)?
            {
                let (key, _) = entry.map_err(redb::Error::from)?;
                let (at, id) = key.value();
                old.push((at, id.to_owned()));
            }
            for (at, old_id) in &old {
                by_time
                    .remove((*at, old_id.as_str()))
                    .map_err(redb::Error::from)?;
                // An id re-recorded later keeps its newer time entry; drop
                // the alert itself only when no newer entry exists.
                let newer = by_time
                    .range((*at + 1, "")..)
                    .map_err(redb::Error::from)?
                    .filter_map(Result::ok)
                    .any(|(key, _)| key.value().1 == old_id.as_str());
                if !newer {
                    table.remove(old_id.as_str()).map_err(redb::Error::from)?;
                }
            }
        }
        txn.commit().map_err(redb::Error::from)?;
        Ok(true)
    }

    /// Number of alerts in the emitted-alert ledger.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn emitted_len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        match txn.open_table(EMITTED) {
            Ok(table) => Ok(table.len().map_err(redb::Error::from)?),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(error) => Err(redb::Error::from(error).into()),
        }
    }

    /// Returns the blob under `key`, if any.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = match txn.open_table(STATE) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(error) => return Err(redb::Error::from(error).into()),
        };
        let value = table.get(key).map_err(redb::Error::from)?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Size of the database file in bytes (for self-metrics).
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
