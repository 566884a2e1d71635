//! The redb file `DATA_DIR/history.redb`: one table per record kind, keyed
//! by event time first so range scans by period are cheap, one write
//! transaction per batch, and pruning by event time.
//!
//! Tables: `windows` (window start → compact window), `releases` (started
//! at, identity → JSON) with `release_index` (identity → started at, so a
//! release whose start moves is not stored twice), `anomalies` and
//! `anomaly_index` likewise by onset, `alerts` (detected at, id), `incidents`
//! and `incident_index` by start, `edges` (identity → first/last seen) and
//! `meta` (watermark, last prune).
//!
//! Never does: decide what to store (the analysis stage builds the
//! [`Batch`]), or block an async task (the daemon writes from a thread).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, Durability, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;

use super::codec;
use super::config::Settings;
use super::reader::HistoryReader;
use super::records::{Batch, EdgeRecord, ReleaseRecord, identity};
use super::{FILE_NAME, HistoryError};
use crate::model::{SeriesKey, Timestamp};

pub(super) type TimeTable = TableDefinition<'static, (u64, &'static str), &'static [u8]>;
pub(super) type IndexTable = TableDefinition<'static, &'static str, u64>;

pub(super) const WINDOWS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("windows");
pub(super) const RELEASES: TimeTable = TableDefinition::new("releases");
pub(super) const RELEASE_INDEX: IndexTable = TableDefinition::new("release_index");
pub(super) const ANOMALIES: TimeTable = TableDefinition::new("anomalies");
pub(super) const ANOMALY_INDEX: IndexTable = TableDefinition::new("anomaly_index");
pub(super) const ALERTS: TimeTable = TableDefinition::new("alerts");
pub(super) const INCIDENTS: TimeTable = TableDefinition::new("incidents");
pub(super) const INCIDENT_INDEX: IndexTable = TableDefinition::new("incident_index");
pub(super) const EDGES: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("edges");
pub(super) const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");

pub(super) const WATERMARK: &str = "watermark";
const LAST_PRUNE: &str = "last_prune";

pub(super) fn db_err(e: impl Into<redb::Error>) -> HistoryError {
    HistoryError::Db(e.into())
}

pub(super) fn encode_err(e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Encode(e.to_string())
}

/// What one [`HistoryStore::write`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Rows inserted or replaced.
    pub rows: u64,
    /// Rows removed by pruning in this write (0 unless a prune was due).
    pub pruned: u64,
}

/// The history, open for writing. One per data directory (redb locks the file).
#[derive(Debug, Clone)]
pub struct HistoryStore {
    db: Arc<Database>,
    path: PathBuf,
    settings: Settings,
    durable: bool,
}

impl HistoryStore {
    /// Opens (or creates) `DIR/history.redb`, creating `DIR` as needed.
    ///
    /// # Errors
    /// When the directory cannot be created, the file is not a redb
    /// database, or another process holds it ([`HistoryError::Locked`]).
    pub fn open(dir: &Path, settings: &Settings) -> Result<Self, HistoryError> {
        std::fs::create_dir_all(dir).map_err(|source| HistoryError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let db = match Database::builder()
            .set_cache_size(settings.cache_bytes)
            .create(&path)
        {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(HistoryError::Locked(path));
            }
            Err(e) => return Err(db_err(e)),
        };
        let store = Self {
            db: Arc::new(db),
            path,
            settings: settings.clone(),
            durable: true,
        };
        // Create every table so readers never meet a missing one.
        let txn = store.db.begin_write().map_err(db_err)?;
        open_all(&txn)?;
        txn.commit().map_err(db_err)?;
        Ok(store)
    }

    /// Commits without fsync until [`HistoryStore::flush`] (for replay,
    /// where a crash just means replaying again).
    pub fn set_deferred_durability(&mut self) {
        self.durable = false;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the database file in bytes.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// A reader sharing this handle (for the API of the same process).
    pub fn reader(&self) -> HistoryReader {
        HistoryReader::shared(Arc::clone(&self.db))
    }

    /// Writes `batch` in one transaction, pruning first when a prune is due
    /// (once per `prune_every` of event time).
    ///
    /// # Errors
    /// On any storage or encoding failure; nothing of the batch is then kept.
    pub fn write(&self, batch: &Batch) -> Result<WriteReport, HistoryError> {
        let mut txn = self.db.begin_write().map_err(db_err)?;
        if !self.durable {
            txn.set_durability(Durability::None).map_err(encode_err)?;
        }
        let mut report = WriteReport::default();
        {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let watermark = meta
                .get(WATERMARK)
                .map_err(db_err)?
                .map_or(0, |v| v.value())
                .max(batch.watermark.nanos());
            meta.insert(WATERMARK, watermark).map_err(db_err)?;
            let last = meta.get(LAST_PRUNE).map_err(db_err)?.map(|v| v.value());
            let due = match last {
                None => {
                    meta.insert(LAST_PRUNE, watermark).map_err(db_err)?;
                    false
                }
                Some(last) => watermark.saturating_sub(last) >= self.settings.prune_every_ns,
            };
            if due {
                meta.insert(LAST_PRUNE, watermark).map_err(db_err)?;
                drop(meta);
                report.pruned = prune_in(&txn, &self.settings, Timestamp(watermark))?;
            }
        }
        report.rows = write_in(&txn, batch)?;
        txn.commit().map_err(db_err)?;
        Ok(report)
    }

    /// Removes everything older than the retention behind `now`.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn prune(&self, now: Timestamp) -> Result<u64, HistoryError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        let removed = prune_in(&txn, &self.settings, now)?;
        txn.commit().map_err(db_err)?;
        Ok(removed)
    }

    /// Makes every earlier write durable (after deferred-durability writes).
    ///
    /// # Errors
    /// On any storage failure.
    pub fn flush(&self) -> Result<(), HistoryError> {
        let txn = self.db.begin_write().map_err(db_err)?;
        txn.commit().map_err(db_err)
    }
}

fn open_all(txn: &WriteTransaction) -> Result<(), HistoryError> {
    txn.open_table(WINDOWS).map_err(db_err)?;
    for t in [RELEASES, ANOMALIES, ALERTS, INCIDENTS] {
        txn.open_table(t).map_err(db_err)?;
    }
    for t in [RELEASE_INDEX, ANOMALY_INDEX, INCIDENT_INDEX] {
        txn.open_table(t).map_err(db_err)?;
    }
    txn.open_table(EDGES).map_err(db_err)?;
    txn.open_table(META).map_err(db_err)?;
    Ok(())
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, HistoryError> {
    serde_json::to_vec(value).map_err(encode_err)
}

/// Inserts `value` at (`at`, `id`), removing the row `id` had at another time.
fn upsert(
    txn: &WriteTransaction,
    table: TimeTable,
    index: IndexTable,
    at: Timestamp,
    id: &str,
    value: &[u8],
) -> Result<(), HistoryError> {
    let mut index = txn.open_table(index).map_err(db_err)?;
    let mut rows = txn.open_table(table).map_err(db_err)?;
    let previous = index
        .insert(id, at.nanos())
        .map_err(db_err)?
        .map(|v| v.value());
    if let Some(previous) = previous
        && previous != at.nanos()
    {
        rows.remove((previous, id)).map_err(db_err)?;
    }
    rows.insert((at.nanos(), id), value).map_err(db_err)?;
    Ok(())
}

fn write_in(txn: &WriteTransaction, batch: &Batch) -> Result<u64, HistoryError> {
    let mut rows = 0;
    {
        let mut windows = txn.open_table(WINDOWS).map_err(db_err)?;
        let mut edges = txn.open_table(EDGES).map_err(db_err)?;
        for window in &batch.windows {
            let bytes = codec::encode(window).map_err(encode_err)?;
            let rewritten = windows
                .insert(window.start.nanos(), bytes.as_slice())
                .map_err(db_err)?
                .is_some();
            rows += 1;
            if rewritten {
                // The same window again (re-processed after a crash, from
                // before the last snapshot): its row is replaced, and its
                // requests are already in the edge totals.
                continue;
            }
            for (key, stats) in &window.series {
                let SeriesKey::Edge {
                    environment,
                    client,
                    server,
                    connection_type,
                } = key
                else {
                    continue;
                };
                if stats.requests == 0 {
                    continue;
                }
                let id = identity(&[environment, client, server]);
                let existing: Option<EdgeRecord> = match edges.get(id.as_str()).map_err(db_err)? {
                    Some(v) => serde_json::from_slice(v.value()).ok(),
                    None => None,
                };
                let record = match existing {
                    Some(mut e) => {
                        e.first_seen = e.first_seen.min(window.start);
                        e.last_seen = e.last_seen.max(window.end);
                        e.requests += stats.requests;
                        e
                    }
                    None => EdgeRecord {
                        environment: environment.to_string(),
                        client: client.to_string(),
                        server: server.to_string(),
                        connection_type: connection_type.as_str().to_owned(),
                        first_seen: window.start,
                        last_seen: window.end,
                        requests: stats.requests,
                    },
                };
                edges
                    .insert(id.as_str(), json(&record)?.as_slice())
                    .map_err(db_err)?;
            }
        }
    }
    for release in &batch.releases {
        let id = release.identity();
        // A later change does not erase a verdict already reached.
        let mut release = release.clone();
        if release.verdict.is_none() {
            release.verdict = stored_release(txn, &id)?.and_then(|r| r.verdict);
        }
        let release = &release;
        upsert(
            txn,
            RELEASES,
            RELEASE_INDEX,
            release.started_at,
            &id,
            &json(release)?,
        )?;
        rows += 1;
    }
    for anomaly in &batch.anomalies {
        upsert(
            txn,
            ANOMALIES,
            ANOMALY_INDEX,
            anomaly.onset,
            &anomaly.id,
            &json(anomaly)?,
        )?;
        rows += 1;
    }
    for incident in &batch.incidents {
        upsert(
            txn,
            INCIDENTS,
            INCIDENT_INDEX,
            incident.started_at,
            &incident.id,
            &json(incident)?,
        )?;
        rows += 1;
    }
    {
        let mut alerts = txn.open_table(ALERTS).map_err(db_err)?;
        for alert in &batch.alerts {
            alerts
                .insert(
                    (alert.detected_at.nanos(), alert.id.as_str()),
                    json(alert)?.as_slice(),
                )
                .map_err(db_err)?;
            rows += 1;
        }
    }
    Ok(rows)
}

/// The release stored under `id`, if any.
fn stored_release(txn: &WriteTransaction, id: &str) -> Result<Option<ReleaseRecord>, HistoryError> {
    let index = txn.open_table(RELEASE_INDEX).map_err(db_err)?;
    let Some(at) = index.get(id).map_err(db_err)?.map(|v| v.value()) else {
        return Ok(None);
    };
    let rows = txn.open_table(RELEASES).map_err(db_err)?;
    let found = rows.get((at, id)).map_err(db_err)?;
    Ok(found.and_then(|v| serde_json::from_slice(v.value()).ok()))
}

/// Removes rows of `table` keyed before `cutoff`, and their index entries.
fn prune_timed(
    txn: &WriteTransaction,
    table: TimeTable,
    index: Option<IndexTable>,
    cutoff: u64,
) -> Result<u64, HistoryError> {
    let mut rows = txn.open_table(table).map_err(db_err)?;
    let mut old: Vec<(u64, String)> = Vec::new();
    for entry in rows.range((0u64, "")..(cutoff, "")).map_err(db_err)? {
        let (k, _) = entry.map_err(db_err)?;
        let (at, id) = k.value();
        old.push((at, id.to_owned()));
    }
    for (at, id) in &old {
        rows.remove((*at, id.as_str())).map_err(db_err)?;
    }
    if let Some(index) = index {
        let mut index = txn.open_table(index).map_err(db_err)?;
        for (at, id) in &old {
            // Only when the index still points at the pruned row.
            let current = index.get(id.as_str()).map_err(db_err)?.map(|v| v.value());
            if current == Some(*at) {
                index.remove(id.as_str()).map_err(db_err)?;
            }
        }
    }
    Ok(old.len() as u64)
}

fn prune_in(
    txn: &WriteTransaction,
    settings: &Settings,
    now: Timestamp,
) -> Result<u64, HistoryError> {
    let records = now.nanos().saturating_sub(settings.retention_ns);
    let windows_cutoff = now.nanos().saturating_sub(settings.window_retention_ns);
    let mut removed = 0;
    {
        let mut windows = txn.open_table(WINDOWS).map_err(db_err)?;
        let mut old = Vec::new();
        for entry in windows.range(..windows_cutoff).map_err(db_err)? {
            old.push(entry.map_err(db_err)?.0.value());
        }
        for k in &old {
            windows.remove(*k).map_err(db_err)?;
        }
        removed += old.len() as u64;
    }
    removed += prune_timed(txn, RELEASES, Some(RELEASE_INDEX), records)?;
    removed += prune_timed(txn, ANOMALIES, Some(ANOMALY_INDEX), records)?;
    removed += prune_timed(txn, ALERTS, None, records)?;
    removed += prune_timed(txn, INCIDENTS, Some(INCIDENT_INDEX), records)?;
    {
        let mut edges = txn.open_table(EDGES).map_err(db_err)?;
        let mut old = Vec::new();
        for entry in edges.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let stale = serde_json::from_slice::<EdgeRecord>(v.value())
                .map_or(true, |e| e.last_seen.nanos() < records);
            if stale {
                old.push(k.value().to_owned());
            }
        }
        for k in &old {
            edges.remove(k.as_str()).map_err(db_err)?;
        }
        removed += old.len() as u64;
    }
    Ok(removed)
}
