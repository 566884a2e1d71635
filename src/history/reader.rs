//! Reading the history: [`HistoryReader`], over the daemon's own handle
//! (shared with its writer) or a read-only open of a data directory no
//! process holds. Every read is one read transaction: a consistent snapshot.
//!
//! Never does: write.

use std::path::Path;
use std::sync::Arc;

use redb::{Database, ReadOnlyDatabase, ReadTransaction, ReadableDatabase, ReadableTable};
use serde::de::DeserializeOwned;

use super::codec;
use super::records::{AnomalyRecord, EdgeRecord, IncidentRecord, ReleaseRecord};
use super::store::{
    ALERTS, ANOMALIES, EDGES, INCIDENTS, META, RELEASES, TimeTable, WATERMARK, WINDOWS, db_err,
    encode_err,
};
use super::{FILE_NAME, HistoryError};
use crate::model::{Alert, Timestamp, WindowStats};

#[derive(Clone)]
enum Db {
    Shared(Arc<Database>),
    ReadOnly(Arc<ReadOnlyDatabase>),
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Shared(_) => "Shared",
            Self::ReadOnly(_) => "ReadOnly",
        })
    }
}

/// Read access to the history: from the daemon's own handle, or a
/// read-only open of a data directory no daemon holds. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HistoryReader {
    db: Db,
}

impl HistoryReader {
    pub(super) fn shared(db: Arc<Database>) -> Self {
        Self { db: Db::Shared(db) }
    }

    /// Opens `DIR/history.redb` read-only.
    ///
    /// # Errors
    /// [`HistoryError::Missing`] without a history file,
    /// [`HistoryError::Locked`] while a daemon (or replay) holds it.
    pub fn open_read_only(dir: &Path) -> Result<Self, HistoryError> {
        let path = dir.join(FILE_NAME);
        if !path.exists() {
            return Err(HistoryError::Missing(path));
        }
        match ReadOnlyDatabase::open(&path) {
            Ok(db) => Ok(Self {
                db: Db::ReadOnly(Arc::new(db)),
            }),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(HistoryError::Locked(path)),
            Err(e) => Err(db_err(e)),
        }
    }

    fn begin(&self) -> Result<ReadTransaction, HistoryError> {
        match &self.db {
            Db::Shared(db) => db.begin_read().map_err(db_err),
            Db::ReadOnly(db) => db.begin_read().map_err(db_err),
        }
    }

    /// Windows starting in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// On any storage or decoding failure.
    pub fn windows(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<WindowStats>, HistoryError> {
        let txn = self.begin()?;
        let table = txn.open_table(WINDOWS).map_err(db_err)?;
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for entry in table.range(from.nanos()..to.nanos()).map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(codec::decode(v.value()).map_err(encode_err)?);
        }
        Ok(out)
    }

    /// Start of the first and end of the last window held.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn window_span(&self) -> Result<Option<(Timestamp, Timestamp)>, HistoryError> {
        let txn = self.begin()?;
        let table = txn.open_table(WINDOWS).map_err(db_err)?;
        let first = table.first().map_err(db_err)?.map(|(k, _)| k.value());
        let last = match table.last().map_err(db_err)? {
            Some((_, v)) => Some(codec::decode(v.value()).map_err(encode_err)?.end),
            None => None,
        };
        Ok(first.zip(last).map(|(f, l)| (Timestamp(f), l)))
    }

    /// Releases started in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// On any storage or decoding failure.
    pub fn releases(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReleaseRecord>, HistoryError> {
        self.timed(RELEASES, from, to)
    }

    /// Anomalies with an onset in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// On any storage or decoding failure.
    pub fn anomalies(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AnomalyRecord>, HistoryError> {
        self.timed(ANOMALIES, from, to)
    }

    /// Alerts detected in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// On any storage or decoding failure.
    pub fn alerts(&self, from: Timestamp, to: Timestamp) -> Result<Vec<Alert>, HistoryError> {
        self.timed(ALERTS, from, to)
    }

    /// Incidents started in `[from, to)`, oldest first.
    ///
    /// # Errors
    /// On any storage or decoding failure.
    pub fn incidents(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<IncidentRecord>, HistoryError> {
        self.timed(INCIDENTS, from, to)
    }

    /// Every edge held, by environment, client, server.
    ///
    /// # Errors
    /// On any storage or decoding failure.
    pub fn edges(&self) -> Result<Vec<EdgeRecord>, HistoryError> {
        let txn = self.begin()?;
        let table = txn.open_table(EDGES).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (_, v) = entry.map_err(db_err)?;
            out.push(serde_json::from_slice(v.value()).map_err(encode_err)?);
        }
        Ok(out)
    }

    /// Event time of the newest window written.
    ///
    /// # Errors
    /// On any storage failure.
    pub fn watermark(&self) -> Result<Timestamp, HistoryError> {
        let txn = self.begin()?;
        let meta = txn.open_table(META).map_err(db_err)?;
        Ok(Timestamp(
            meta.get(WATERMARK)
                .map_err(db_err)?
                .map_or(0, |v| v.value()),
        ))
    }

    fn timed<T: DeserializeOwned>(
        &self,
        table: TimeTable,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<T>, HistoryError> {
        let txn = self.begin()?;
        let table = txn.open_table(table).map_err(db_err)?;
        let mut out = Vec::new();
        if from >= to {
            return Ok(out);
        }
        for entry in table
            .range((from.nanos(), "")..(to.nanos(), ""))
            .map_err(db_err)?
        {
            let (_, v) = entry.map_err(db_err)?;
            out.push(serde_json::from_slice(v.value()).map_err(encode_err)?);
        }
        Ok(out)
    }
}
