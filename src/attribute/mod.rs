//! Release attribution: which release, if any, explains an anomaly; release
//! verdicts after a soak window; and the alerts that say so.
//!
//! Inputs: an [`Anomaly`](crate::model::Anomaly) with the graph snapshot and
//! what else was anomalous ([`AnomalyContext`]), and candidate releases with
//! their evidence inputs ([`CandidateInput`]: version split, edge split by
//! caller version, traffic change, rollout timeline), as plain structs the
//! release index and the detector fill. Outputs: an [`Attribution`] (ranked
//! suspects with calibrated confidence and every piece of evidence, for and
//! against), [`VerdictOutcome`]s, and [`Alert`](crate::model::Alert)s of
//! every type.
//!
//! The scoring model and the reason for every weight are in `score.rs`.
//! A release only explains anomalies in its own environment, and the answer
//! is often "no release explains this": blaming an innocent release is worse
//! than saying nothing.
//!
//! Never does: I/O, clock reads, spawning, or keeping state between calls.
//! Everything here is a deterministic function of its arguments.

mod alerts;
mod config;
mod evidence;
mod input;
mod score;
mod stats;
mod topology;
mod verdict;
mod weights;

pub use alerts::{anomaly_alert, release_ref, resolved_alert, topology_alert, verdict_alert};
pub use config::{Config, Settings};
pub use input::{
    AnomalyContext, Candidate, CandidateInput, EdgeSplitInput, SharePoint, SplitWindow,
    TrafficInput,
};
pub use score::{Attribution, attribute, is_candidate};
pub use verdict::{VerdictInput, VerdictOutcome, judge};

#[cfg(test)]
mod tests;
