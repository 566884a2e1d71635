//! `which-release`: the releases that best explain what happened to a
//! service in a past period, ranked, in the alert's `suspects` shape,
//! computed by re-running attribution over the stored windows and releases
//! ([`crate::analyze::reexamine`]), not by looking up past alerts, so it
//! also answers for periods no alert covered.
//!
//! Never does: write anything, or blame a release attribution did not.

use serde::{Deserialize, Serialize};

use super::{Context, QueryError};
use crate::model::alert::rfc3339;
use crate::model::{Suspect, Timestamp};

/// The anomaly re-examined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Examined {
    /// The series (`service:prod/checkout`).
    pub series: String,
    /// The signal that rose the most (`error_ratio`, `latency_p99`, `latency_p50`).
    pub signal: String,
    /// Start of the run of elevated windows (the period's start when nothing rose).
    #[serde(with = "rfc3339")]
    pub onset: Timestamp,
    /// Value over the lookback before the onset.
    pub baseline: f64,
    /// Value from the onset to the period's end.
    pub observed: f64,
    /// Requests behind `observed`.
    pub requests: u64,
    /// Most likely origins, best first.
    pub origins: Vec<String>,
}

/// The answer: `{"service", "at", "suspects": [...]}` plus what was examined.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WhichRelease {
    /// The service asked about.
    pub service: String,
    /// Its environment (where it served the most in the period).
    pub environment: String,
    /// The time asked about (`--at`, else the period's start).
    #[serde(with = "rfc3339")]
    pub at: Timestamp,
    /// Period examined, start.
    #[serde(with = "rfc3339")]
    pub from: Timestamp,
    /// Period examined, end (exclusive); releases are seen as they stood then.
    #[serde(with = "rfc3339")]
    pub to: Timestamp,
    /// Releases that explain it, best first; empty when none does.
    pub suspects: Vec<Suspect>,
    /// Candidates weighed and not blamed, best first, with their evidence.
    #[serde(default)]
    pub rejected: Vec<Suspect>,
    /// The anomaly examined.
    #[serde(default)]
    pub anomaly: Option<Examined>,
}

/// The period `--at T` examines: from one detection window before `T` to
/// four after (live attribution has about as much evidence when it alerts).
pub fn at_period(settings: &crate::analyze::Settings, at: Timestamp) -> (Timestamp, Timestamp) {
    let w = settings.detect_window_ns;
    (at.minus_nanos(w), at.plus_nanos(4 * w))
}

/// Which releases explain what happened to `service` in `[from, to)`.
///
/// # Errors
/// When the history holds no windows for the period, or cannot be read.
pub fn which_release(
    ctx: &Context,
    service: &str,
    environment: Option<&str>,
    at: Timestamp,
    from: Timestamp,
    to: Timestamp,
) -> Result<WhichRelease, QueryError> {
    if from >= to {
        return Err(QueryError::BadArgument(format!(
            "the period is empty: {from} is not before {to}"
        )));
    }
    let (read_from, read_to) = crate::analyze::reexamine_range(&ctx.settings, from, to);
    let windows = ctx.reader.windows(read_from, read_to)?;
    if !windows.iter().any(|w| w.start >= from && w.start < to) {
        return Err(ctx.not_held(from, to));
    }
    let releases: Vec<_> = ctx
        .reader
        .releases(Timestamp(0), to)?
        .iter()
        .map(|r| r.to_release())
        .collect();
    let found = crate::analyze::reexamine(
        &ctx.settings,
        &windows,
        &releases,
        service,
        environment,
        from,
        to,
    );
    if found.anomaly.is_none() {
        return Err(QueryError::NotFound(format!(
            "{service} served no requests in {from} .. {to}"
        )));
    }
    let anomaly = found.anomaly.as_ref().map(|a| Examined {
        series: crate::model::series_label(&a.series),
        signal: a.signal.as_str().to_owned(),
        onset: a.onset,
        baseline: a.baseline,
        observed: a.observed,
        requests: a.requests,
        origins: a.origins.iter().map(|o| o.node.clone()).collect(),
    });
    Ok(WhichRelease {
        service: service.to_owned(),
        environment: found.environment,
        at,
        from,
        to,
        suspects: found.attribution.suspects,
        rejected: found.attribution.rejected,
        anomaly,
    })
}
