//! Evidence, readably: a name for each kind and its key numbers in words,
//! for the suspects section of the Markdown.

use crate::model::{CounterReason, EvidenceDetail};

use super::text::{count, duration, hhmmss, percent, secs_between, signal_value};

/// The evidence kind as a heading ("Version split").
pub(crate) fn name(detail: &EvidenceDetail) -> &'static str {
    match detail {
        EvidenceDetail::VersionSplit { .. } => "Version split",
        EvidenceDetail::EdgeSplit { .. } => "Edge split",
        EvidenceDetail::TemporalFit { .. } => "Timing",
        EvidenceDetail::DoseResponse { .. } => "Dose response",
        EvidenceDetail::RollbackRecovery { .. } => "Rollback recovery",
        EvidenceDetail::TopologicalFit { .. } => "Topology",
        EvidenceDetail::TrafficChange { .. } => "Traffic change",
        EvidenceDetail::CounterEvidence { .. } => "Against",
    }
}

/// A counter-evidence reason in words.
pub(crate) fn counter_reason(reason: CounterReason) -> &'static str {
    match reason {
        CounterReason::ReleasedServiceHealthy => {
            "the new version serves as well as the old one, with enough traffic to tell"
        }
        CounterReason::ExternalOrigin => {
            "the anomaly starts at an external or database node the release did not touch"
        }
        CounterReason::OnsetBeforeExposure => {
            "the anomaly began before the new version served any traffic"
        }
        CounterReason::NotConnected => {
            "the released service has no dependency path to or from the anomalous one"
        }
        CounterReason::PersistsAfterRollback => {
            "the anomaly went on after the release was rolled back"
        }
    }
}

/// The key numbers of one piece of evidence, in one line (plain text; the
/// caller escapes it for Markdown).
pub(crate) fn numbers(detail: &EvidenceDetail) -> String {
    match detail {
        EvidenceDetail::VersionSplit {
            signal,
            new_requests,
            new_value,
            old_requests,
            old_value,
            z,
            before_after,
        } => {
            let old_side = if *before_after {
                "before the release"
            } else {
                "old version"
            };
            format!(
                "{signal}: new version {} over {} requests vs {old_side} {} over {} (z = {z:.1})",
                signal_value(signal, *new_value),
                count(*new_requests),
                signal_value(signal, *old_value),
                count(*old_requests),
            )
        }
        EvidenceDetail::EdgeSplit {
            client,
            server,
            new_requests,
            new_value,
            old_requests,
            old_value,
            z,
        } => format!(
            "calls {client} → {server}: from the new version {} failed of {}, from the old {} of {} (z = {z:.1})",
            percent(*new_value),
            count(*new_requests),
            percent(*old_value),
            count(*old_requests),
        ),
        EvidenceDetail::TemporalFit {
            exposure_start,
            onset,
            lag_secs,
        } => {
            let relation = if *lag_secs >= 0.0 { "after" } else { "before" };
            format!(
                "onset at {} UTC, {} {relation} the new version first served traffic ({} UTC)",
                hhmmss(*onset),
                duration(lag_secs.abs()),
                hhmmss(*exposure_start)
            )
        }
        EvidenceDetail::DoseResponse {
            correlation,
            windows,
        } => format!(
            "the anomaly's size follows the rollout's traffic share: correlation {correlation:.2} over {windows} windows"
        ),
        EvidenceDetail::RollbackRecovery {
            rolled_back_at,
            recovered_at,
        } => format!(
            "rolled back at {} UTC, recovered at {} UTC ({} later)",
            hhmmss(*rolled_back_at),
            hhmmss(*recovered_at),
            duration(secs_between(*rolled_back_at, *recovered_at))
        ),
        EvidenceDetail::TopologicalFit {
            path,
            relation,
            anomalous_edges,
            origin_score,
        } => format!(
            "{}: path {}; {anomalous_edges} anomalous edge(s) on it; origin score {origin_score:.2}",
            relation.replace('_', " "),
            if path.is_empty() {
                "(none)".to_string()
            } else {
                path.join(" → ")
            },
        ),
        EvidenceDetail::TrafficChange {
            server,
            rate_before,
            rate_after,
            new_edge,
        } => format!(
            "calls to {server}: {rate_before:.1}/s before, {rate_after:.1}/s after{}",
            if *new_edge { " (a new dependency)" } else { "" }
        ),
        EvidenceDetail::CounterEvidence { reason } => counter_reason(*reason).to_string(),
    }
}

/// `+2.31 (for)` / `-1.20 (against)` / `0.00`.
pub(crate) fn weight(llr: f64) -> String {
    if !llr.is_finite() {
        "n/a".to_string()
    } else if llr > 0.0 {
        format!("{llr:+.2} (for)")
    } else if llr < 0.0 {
        format!("{llr:+.2} (against)")
    } else {
        "0.00".to_string()
    }
}
