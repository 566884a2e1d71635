//! The weights of the evidence evaluators: significance thresholds and the
//! log-likelihood ratio (LLR, natural log) each kind of evidence carries.
//! Why they are what they are is `score.rs`'s module doc.
//!
//! Never does: anything but name numbers.

/// A version split this significant (z) is "the new version is worse".
pub(crate) const Z_BAD: f64 = 3.0;
/// Weakly worse.
pub(crate) const Z_WEAK: f64 = 2.0;
/// LLR cap of a concurrent version split; a before/after one gets half.
pub(crate) const LLR_SPLIT_MAX: f64 = 5.0;
/// LLR of "the released service is healthy" with enough traffic to tell.
pub(crate) const LLR_HEALTHY: f64 = -2.5;
/// The same when the release is of the anomalous service itself.
pub(crate) const LLR_HEALTHY_SAME: f64 = -3.5;
/// LLR of onset before exposure: near-certain innocence.
pub(crate) const LLR_BEFORE_EXPOSURE: f64 = -6.0;
/// LLR of onset shortly after exposure.
pub(crate) const LLR_TEMPORAL: f64 = 1.0;
/// Onsets later than this after exposure decay linearly to 0 LLR at the lookback.
pub(crate) const TEMPORAL_FULL_SECS: f64 = 300.0;
/// LLR of a recovery right after a rollback.
pub(crate) const LLR_ROLLBACK: f64 = 2.0;
/// LLR of an anomaly that persists after a rollback.
pub(crate) const LLR_PERSISTS: f64 = -2.0;
/// LLR of a strong dose-response, and of a contrary one.
pub(crate) const LLR_DOSE: f64 = 1.5;
pub(crate) const LLR_DOSE_CONTRARY: f64 = -1.0;
/// LLR of no dependency path at all between release and anomaly.
pub(crate) const LLR_NOT_CONNECTED: f64 = -4.0;
/// LLR of an external or database origin the release did not touch.
pub(crate) const LLR_EXTERNAL: f64 = -3.0;
/// LLR of a raised call rate (or a new edge) into the anomalous part of the graph.
pub(crate) const LLR_TRAFFIC: f64 = 2.0;
