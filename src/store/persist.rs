//! Durable state blobs in the data directory, in one embedded redb file.
//!
//! Stages export their state as opaque bytes (the graph's pending halves,
//! edges and open windows); this module only stores and returns them, in
//! one ACID transaction per write, so a crash leaves either the old or the
//! new state, never a mix. A large blob is stored in chunks (one value
//! each), so no write needs one page of the blob's whole size. Never does:
//! interpret what it stores.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

/// Name of the database file inside the data directory.
pub const FILE_NAME: &str = "epicenter.redb";

/// redb's page cache for this file (redb's default is 1 GiB of resident
/// memory). Snapshots are written whole and read back only at start, so a
/// small cache costs nothing (`scripts/bench-memory.sh`: see the README).
const CACHE_BYTES: usize = 32 << 20;

const STATE: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("state");
/// (key, chunk number) → one chunk of a blob stored in chunks.
const CHUNKS: TableDefinition<'_, (&str, u32), &[u8]> = TableDefinition::new("chunks");
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
        self.write(entries, &[])
    }

    /// Replaces every blob of `entries` and every chunked blob of `chunked`
    /// (all its chunks, in order) in ONE transaction. A blob stored whole
    /// under a key of `chunked` (by an older version) is removed.
    ///
    /// # Errors
    /// On any storage failure; the previous values are then kept.
    pub fn write(
        &self,
        entries: &[(&str, &[u8])],
        chunked: &[(&str, &[Vec<u8>])],
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb::Error::from)?;
        {
            let mut table = txn.open_table(STATE).map_err(redb::Error::from)?;
            for (key, value) in entries {
                table.insert(*key, *value).map_err(redb::Error::from)?;
            }
            for (key, _) in chunked {
                table.remove(*key).map_err(redb::Error::from)?;
            }
        }
        if !chunked.is_empty() {
            let mut table = txn.open_table(CHUNKS).map_err(redb::Error::from)?;
            for (key, chunks) in chunked {
                table
                    .retain_in((*key, 0)..=(*key, u32::MAX), |_, _| false)
                    .map_err(redb::Error::from)?;
                for (i, chunk) in chunks.iter().enumerate() {
                    let i = u32::try_from(i).unwrap_or(u32::MAX);
                    table
                        .insert((*key, i), chunk.as_slice())
                        .map_err(redb::Error::from)?;
                }
            }
        }
        txn.commit().map_err(redb::Error::from)?;
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

    /// Whether exactly `content` is recorded as emitted for the alert `id`.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn emitted(&self, id: &str, content: &[u8]) -> Result<bool, StoreError> {
        let txn = self.db.begin_read().map_err(redb::Error::from)?;
        let table = match txn.open_table(EMITTED) {
            Ok(table) => table,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(false),
            Err(error) => return Err(redb::Error::from(error).into()),
        };
        Ok(table
            .get(id)
            .map_err(redb::Error::from)?
            .is_some_and(|v| v.value() == content))
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
mod tests {
    use super::*;

    #[test]
    fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = StateStore::open(dir.path()).unwrap();
            assert_eq!(store.get("graph").unwrap(), None);
            store.put("graph", b"v1").unwrap();
            store.put("graph", b"v2").unwrap();
        }
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.get("graph").unwrap().as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn several_blobs_are_replaced_together_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        store.put_all(&[("a", b"1"), ("b", b"1")]).unwrap();
        // A transaction that is never committed (the process died) leaves
        // the previous values.
        {
            let txn = store.db.begin_write().unwrap();
            let mut table = txn.open_table(STATE).unwrap();
            table.insert("a", &b"2"[..]).unwrap();
            drop(table);
            drop(txn);
        }
        assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        store.put_all(&[("a", b"3"), ("b", b"3")]).unwrap();
        drop(store);
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.get("a").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(store.get("b").unwrap().as_deref(), Some(&b"3"[..]));
    }

    #[test]
    fn a_chunked_blob_replaces_the_older_one_whole_and_all_its_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.get_chunked("journal").unwrap(), None);
        // Stored whole by an older version: read as one chunk.
        store.put("journal", b"whole").unwrap();
        assert_eq!(
            store.get_chunked("journal").unwrap(),
            Some(vec![b"whole".to_vec()])
        );
        let three = [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        store
            .write(&[("graph", b"g1")], &[("journal", &three)])
            .unwrap();
        assert_eq!(
            store.get("journal").unwrap(),
            None,
            "the whole form is gone"
        );
        assert_eq!(store.get_chunked("journal").unwrap(), Some(three.to_vec()));
        // Fewer chunks than before: none of the old ones remain.
        let one = [b"z".to_vec()];
        store
            .write(&[], &[("journal", &one), ("other", &three)])
            .unwrap();
        drop(store);
        let store = StateStore::open(dir.path()).unwrap();
        assert_eq!(store.get_chunked("journal").unwrap(), Some(one.to_vec()));
        assert_eq!(store.get_chunked("other").unwrap(), Some(three.to_vec()));
        assert_eq!(store.get("graph").unwrap().as_deref(), Some(&b"g1"[..]));
    }

    #[test]
    fn an_alert_is_recorded_once_per_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        assert!(store.record_emitted("a1", 10, b"{v1}").unwrap());
        assert!(!store.record_emitted("a1", 10, b"{v1}").unwrap());
        assert!(
            store.record_emitted("a1", 20, b"{v2}").unwrap(),
            "an update"
        );
        assert!(store.record_emitted("a2", 20, b"{v1}").unwrap());
        drop(store);
        let store = StateStore::open(dir.path()).unwrap();
        assert!(!store.record_emitted("a1", 20, b"{v2}").unwrap(), "durable");
    }

    #[test]
    fn the_ledger_forgets_alerts_a_week_older_than_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let day = 86_400 * 1_000_000_000u64;
        store.record_emitted("old", day, b"{}").unwrap();
        store.record_emitted("kept", 2 * day, b"{}").unwrap();
        // Updated later: its newer entry keeps it.
        store.record_emitted("updated", day, b"{v1}").unwrap();
        store.record_emitted("updated", 5 * day, b"{v2}").unwrap();
        assert_eq!(store.emitted_len().unwrap(), 3);
        store.record_emitted("new", 8 * day + 1, b"{}").unwrap();
        assert_eq!(store.emitted_len().unwrap(), 3, "only `old` is dropped");
        assert!(
            store.record_emitted("old", 8 * day, b"{}").unwrap(),
            "forgotten"
        );
        assert!(!store.record_emitted("kept", 2 * day, b"{}").unwrap());
        assert!(!store.record_emitted("updated", 5 * day, b"{v2}").unwrap());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), b"not a database at all").unwrap();
        assert!(StateStore::open(dir.path()).is_err());
    }
}
