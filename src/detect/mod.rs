//! Anomaly detection over closed windows, with onset, recovery and origins.
//!
//! Inputs: one [`WindowStats`](crate::model::WindowStats) per closed window
//! (event time) and the latest [`GraphSnapshot`](crate::model::GraphSnapshot).
//! Output: a [`DetectOutcome`] per window listing the [`Anomaly`]s opened,
//! still open (updated) and recovered.
//!
//! For every tracked series (every series seen, including those with no
//! traffic in this window, which count as zero requests) and every signal:
//!
//! 1. a [`Detector`] judges the window against the series' [`Baseline`] as it
//!    was *before* this window (see [`detectors`] for the statistics). Its
//!    answer is "cannot judge" (too little volume or history), "inside the
//!    band", or a [`Finding`] outside the band with a per-window p-value;
//! 2. false alarms are controlled across everything judged in the window with
//!    Benjamini–Hochberg at `false_alarm_rate` (under the global null this
//!    bounds the chance of *any* false hit in a window by that rate);
//! 3. an anomaly opens when a signal was a hit in `confirm_windows` of the last
//!    `confirm_of_windows` windows, including this one. Its onset is found by
//!    walking back from the confirming window over windows outside the band
//!    (one inside window may interrupt the run); its id hashes series, signal
//!    and onset, so it is stable across re-evaluation and replays;
//! 4. an open anomaly recovers after `recovery_windows` judged windows back
//!    inside the band; `recovered_at` is the start of the first of them;
//! 5. the window is folded into the baseline, except for signals that were a
//!    hit or are part of an open anomaly (for up to `rebaseline_after_secs`;
//!    after that a persistent shift is learned as the new normal).
//!
//! Origins ([`origins`]) rank where each anomaly most likely starts, by
//! walking the dependency graph downstream through anomalous nodes.
//!
//! Memory is bounded by `max_series` (new series are refused and counted
//! when full) and per series by the baseline ring. Idle series are forgotten
//! after `series_idle_secs`.
//!
//! Never does: I/O, logging, metrics updates (see [`metrics`], driven by the
//! outcome), reading the clock, or looking at releases.

mod config;
mod core;
pub mod detectors;
pub mod metrics;
pub mod origins;
mod state;

#[cfg(test)]
mod scenario_tests;

pub use self::config::{Config, Sensitivity, Settings};
pub use self::core::{Detect, DetectOutcome};
pub use crate::baseline::Baseline;
pub use crate::model::Anomaly;

use crate::model::{SeriesStats, Signal};

/// One closed window of one series, as a detector sees it.
#[derive(Clone, Copy, Debug)]
pub struct SeriesWindow<'a> {
    /// The window's aggregates (all zero when the series had no traffic).
    pub stats: &'a SeriesStats,
    /// Window length, seconds (rates need it).
    pub secs: f64,
}

/// A window outside a detector's band: the raw, per-window evidence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Finding {
    /// The signal judged.
    pub signal: Signal,
    /// Observed value in the window (ratio, seconds, or requests per second).
    pub observed: f64,
    /// Baseline value, same unit.
    pub baseline: f64,
    /// One-sided p-value of the window under the baseline, not yet corrected
    /// for the number of series.
    pub p_value: f64,
    /// Requests behind `observed`.
    pub requests: u64,
}

/// Decides whether one closed window of one series is anomalous for one signal.
///
/// Detectors are pure: the same window and baseline always give the same
/// verdict. They never see other series, never do I/O and never read the
/// clock, so a detector is tested with a table of windows and nothing else.
/// History belongs in [`Baseline`], not in the detector. Multiplicity control,
/// confirmation, onset and recovery are done by [`Detect`], not here.
pub trait Detector: Send + Sync {
    /// Stable snake_case name, used in config keys and metrics.
    fn name(&self) -> &'static str;

    /// The one signal this detector judges.
    fn signal(&self) -> Signal;

    /// Whether the window carries enough volume and the baseline enough
    /// history for a verdict. Windows that cannot be judged neither confirm
    /// nor recover an anomaly, and are not counted as tests.
    fn can_judge(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> bool;

    /// `Some` when the window lies outside the band (effect large enough and
    /// p-value below the band level); `baseline` is the state *before*
    /// `window` was folded in. Never panics, whatever the input.
    fn evaluate(&self, window: &SeriesWindow<'_>, baseline: &Baseline) -> Option<Finding>;
}
