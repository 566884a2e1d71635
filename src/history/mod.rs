//! The durable history (issue 4): what Epicenter saw, kept in
//! `DATA_DIR/history.redb` so past periods can be re-examined after the
//! fact: releases with their rollout timelines and verdicts, anomalies,
//! alerts (attributions with their evidence, verdicts, topology changes),
//! incidents, the topology (edges with first and last seen) and the
//! per-window series (one row per detection window) that attribution reads.
//!
//! * [`records`]: the stored records and the [`Batch`] one analysis step writes.
//! * [`store`]: the redb file: [`HistoryStore`] (write, prune) and
//!   [`reader`]: [`HistoryReader`] (range reads, also read-only from
//!   another process).
//! * [`task`]: the daemon's writer thread behind a bounded queue.
//!
//! Every key starts with an event time, so reading a period is a range
//! scan. Retention (`history.retention_days`, `history.window_retention_days`)
//! is applied in event time behind the newest window written, once per
//! `history.prune_every_secs`, so replay and the daemon prune alike.
//!
//! Never does: analysis (the `analyze` stage builds batches, `query`
//! interprets them), read the clock, or block an async task on disk.

mod codec;
pub mod config;
pub mod metrics;
pub mod reader;
pub mod records;
pub mod store;
pub mod task;

use std::path::PathBuf;

pub use config::{Config, Settings};
pub use metrics::Metrics;
pub use reader::HistoryReader;
pub use records::{
    AnomalyRecord, Batch, EdgeRecord, IncidentRecord, ReleaseRecord, TimelineRecord,
};
pub use store::{HistoryStore, WriteReport};
pub use task::{History, Writer, start, write_logged};

/// Name of the history file inside the data directory.
pub const FILE_NAME: &str = "history.redb";

/// Why the history could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process (a running daemon, or a replay) holds the file.
    #[error(
        "{0} is in use by another process (a running daemon?); query the daemon with --server URL instead"
    )]
    Locked(PathBuf),
    /// No history file where one was expected.
    #[error(
        "no history in {0} (was it written by `epicenter run` or `epicenter replay --data-dir`?)"
    )]
    Missing(PathBuf),
    /// The embedded database failed.
    #[error("history store failed: {0}")]
    Db(#[from] redb::Error),
    /// A record could not be encoded or decoded.
    #[error("history record could not be encoded or decoded: {0}")]
    Encode(String),
    /// The writer thread could not be started.
    #[error("history writer thread could not start: {0}")]
    Thread(std::io::Error),
}

#[cfg(test)]
mod tests;
