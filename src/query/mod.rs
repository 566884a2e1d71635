//! Queries over the durable history (issue 4): which release explains what
//! happened to a service in a past period, what a release changed, the
//! releases, anomalies and alerts of a period, a service's per-window
//! series, and its blast radius. The HTTP API, `epicenter query` (offline
//! or against a daemon) and reports call these same functions.
//!
//! * [`which`]: [`which_release`], attribution re-run over stored windows.
//! * [`release`]: [`release_report`], before/after, version split, recovery.
//! * [`lists`]: [`releases`], [`anomalies`], [`alerts`], [`series`].
//! * [`impact`](mod@impact): [`impact()`], transitive dependents and dependencies with
//!   traffic shares, and a risk class.
//! * [`request`]: a query as asked (times as text), answered as the API's JSON.
//! * [`render`]: the CLI's tables.
//! * [`time`]: RFC 3339 and relative times (`-2h`).
//!
//! Never does: write to the history, read the clock (relative times count
//! back from the newest window the history holds), or any network I/O.

pub mod impact;
pub mod lists;
pub mod release;
pub mod render;
pub mod request;
pub mod time;
pub mod which;

pub use impact::{Impact, Reach, Risk, impact};
pub use lists::{SeriesPoint, alerts, anomalies, releases, series};
pub use release::{Affected, Rates, ReleaseReport, VersionShare, release_report};
pub use request::{Request, answer};
pub use time::parse_time;
pub use which::{Examined, WhichRelease, at_period, which_release};

use crate::history::{HistoryError, HistoryReader};
use crate::model::Timestamp;

/// What every query reads: the history and the analysis settings (lookback,
/// soak, owners) it is interpreted with.
#[derive(Clone, Debug)]
pub struct Context {
    /// The history.
    pub reader: HistoryReader,
    /// The analysis settings (attribution lookback and soak, owners).
    pub settings: crate::analyze::Settings,
}

/// Why a query could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The history could not be read.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// A time argument could not be parsed.
    #[error(
        "`{0}` is not a time: use RFC 3339 (2026-03-02T09:15:00Z) or a relative form (-2h, -30m, -1d, now)"
    )]
    BadTime(String),
    /// The argument does not name what it should.
    #[error("{0}")]
    BadArgument(String),
    /// Nothing stored for that.
    #[error("{0}")]
    NotFound(String),
    /// The history holds no windows for the period asked.
    #[error("the history holds no windows in {from} .. {to}{held}")]
    NotHeld {
        /// Period start.
        from: Timestamp,
        /// Period end.
        to: Timestamp,
        /// What it holds, as text.
        held: String,
    },
}

impl Context {
    /// Time relative forms count back from: the newest window written.
    ///
    /// # Errors
    /// On a storage failure.
    pub fn now(&self) -> Result<Timestamp, QueryError> {
        Ok(self.reader.watermark()?)
    }

    fn not_held(&self, from: Timestamp, to: Timestamp) -> QueryError {
        let held = match self.reader.window_span() {
            Ok(Some((a, b))) => format!(" (it holds {a} .. {b})"),
            _ => " (it holds no windows)".to_owned(),
        };
        QueryError::NotHeld { from, to, held }
    }
}

#[cfg(test)]
mod tests;
