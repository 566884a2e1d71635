//! The audit log: an append-only, hash-chained (SHA-256) record of every
//! configuration loaded, deployment event received and alert emitted
//! (release verdicts as `verdict`), in JSON-lines segment files under
//! `DATA_DIR/audit/`, with retention that moves old segments to
//! `DATA_DIR/audit/archive/` (and says so in the chain) instead of deleting.
//!
//! * [`record`]: the record, its canonical hash, payload builders (no I/O).
//! * [`segment`]: the synchronous writer: append, roll, archive, resume.
//! * [`verify`]: `epicenter audit verify` and `epicenter audit export`.
//! * [`task`]: the async-safe [`Audit`] handle and its writer thread.
//!
//! Never does: delete a record or a segment, record secrets (the
//! configuration is recorded as the hash of its masked serialization plus a
//! summary), or block the caller on disk: a full queue drops and counts.

pub mod config;
pub mod metrics;
pub mod record;
pub mod segment;
pub mod task;
pub mod verify;

pub use config::{Config, Settings};
pub use metrics::Metrics;
pub use record::{Kind, Record};
pub use segment::Log;
pub use task::{Audit, Clock, Writer, start};
pub use verify::{Broken, Outcome, Report, export, verify};

use std::path::PathBuf;

/// The audit log's directory inside the data directory.
pub const AUDIT_DIR: &str = "audit";
/// Archived segments, inside [`AUDIT_DIR`].
pub const ARCHIVE_DIR: &str = "archive";

/// Errors of the audit log's files.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A file or directory operation failed.
    #[error("audit log i/o on {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No audit log where one was expected.
    #[error("no audit log in {0}")]
    Missing(PathBuf),
    /// The chain is broken, so it cannot be exported.
    #[error("the audit chain is broken: {0}")]
    Broken(Broken),
    /// A record could not be encoded.
    #[error("audit record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// The writer thread could not be started.
    #[error("audit writer thread could not start: {0}")]
    Thread(std::io::Error),
}

impl AuditError {
    fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
