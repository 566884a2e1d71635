//! Release verdicts after the soak window: healthy, degraded, failing, or
//! inconclusive (too little traffic), with the evidence, a rollback
//! recommendation for a failing release, and time to recovery.
//!
//! Rules (new version vs concurrent old instances, else vs the pre-release
//! baseline):
//! * fewer than `min_verdict_requests` on the new version → inconclusive;
//! * blamed as a suspect, or error ratio up ≥ max(5 points, 4×) or latency
//!   p95 ≥ 2× (each with z ≥ 3) → failing;
//! * error ratio up ≥ max(0.5 point, 2×) or p95 ≥ 1.2× (z ≥ 3) → degraded;
//! * otherwise healthy.
//!
//! Never does: I/O or clock reads; the caller says what "now" is.

use crate::model::{Evidence, EvidenceDetail, SeriesStats, Signal, Suspect, Timestamp, Verdict};

use super::config::Settings;
use super::input::{Candidate, SplitWindow};
use super::stats::{self, Side};

/// What the verdict is based on.
#[derive(Clone, Debug)]
pub struct VerdictInput<'a> {
    /// The release judged.
    pub candidate: &'a Candidate,
    /// Version-split windows of the released service over the soak window.
    pub soak: &'a [SplitWindow],
    /// The old version before exposure, for a full rollout.
    pub baseline: Option<&'a SeriesStats>,
    /// The release as a suspect of an attribution, if it was blamed.
    pub blamed: Option<&'a Suspect>,
    /// The anomaly it was blamed for: onset and, once recovered, recovery.
    pub incident: Option<(Timestamp, Option<Timestamp>)>,
    /// Event time now.
    pub now: Timestamp,
}

/// A verdict and what backs it.
#[derive(Clone, Debug, PartialEq)]
pub struct VerdictOutcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Evidence behind it.
    pub evidence: Vec<Evidence>,
    /// "roll back payment to 1.4.0" for a failing release.
    pub recommendation: Option<String>,
    /// Onset to recovery, seconds, when the release caused an anomaly that recovered.
    pub mttr_secs: Option<f64>,
    /// Soak window judged, seconds.
    pub soak_secs: u64,
}

/// Judges a release, or `None` while its soak window has not elapsed.
pub fn judge(settings: &Settings, input: &VerdictInput<'_>) -> Option<VerdictOutcome> {
    let c = input.candidate;
    if input.now < c.exposure().plus_nanos(settings.soak_ns) {
        return None;
    }
    let mut new = Side::default();
    let mut concurrent = Side::default();
    for w in input.soak {
        new.add(&w.new);
        concurrent.add(&w.old);
    }
    let (old, before_after) = match input.baseline {
        Some(b) if concurrent.requests < settings.min_split_requests => (Side::from_stats(b), true),
        _ => (concurrent, false),
    };
    let mut evidence = Vec::new();
    let mut failing = false;
    let mut degraded = false;
    if let Some(blamed) = input.blamed {
        failing = true;
        evidence.extend(blamed.evidence.iter().cloned());
    }
    let enough = new.requests >= settings.min_verdict_requests;
    if enough && old.requests >= settings.min_split_requests {
        for signal in [Signal::ErrorRatio, Signal::LatencyP95] {
            let z = stats::signal_z(signal, &new, &old);
            let (nv, ov) = (new.value(signal), old.value(signal));
            let (fail, degrade) = if signal == Signal::ErrorRatio {
                (
                    nv - ov >= 0.05_f64.max(3.0 * ov),
                    nv - ov >= 0.005_f64.max(ov),
                )
            } else {
                (nv >= 2.0 * ov, nv >= 1.2 * ov)
            };
            failing |= fail && z >= 3.0;
            degraded |= degrade && z >= 3.0;
            if input.blamed.is_none() || (degrade && z >= 3.0) {
                evidence.push(Evidence {
                    detail: EvidenceDetail::VersionSplit {
                        signal: signal.as_str().into(),
                        new_requests: new.requests,
                        new_value: nv,
                        old_requests: old.requests,
                        old_value: ov,
                        z,
                        before_after,
                    },
                    llr: 0.0,
                    summary: format!(
                        "{} {} new vs {} old",
                        signal.as_str(),
                        fmt(signal, nv),
                        fmt(signal, ov)
                    ),
                });
            }
        }
    }
    let verdict = if failing {
        Verdict::Failing
    } else if !enough {
        Verdict::Inconclusive
    } else if degraded {
        Verdict::Degraded
    } else {
        Verdict::Healthy
    };
    let recommendation = (verdict == Verdict::Failing).then(|| match &c.previous_version {
        Some(previous) => format!("roll back {} to {previous}", c.key.service),
        None => format!("roll back {} {}", c.key.service, c.key.version),
    });
    let mttr_secs = match input.incident {
        Some((onset, Some(recovered))) if recovered >= onset => {
            Some((recovered.nanos() - onset.nanos()) as f64 / Timestamp::SECOND as f64)
        }
        _ => None,
    };
    Some(VerdictOutcome {
        verdict,
        evidence,
        recommendation,
        mttr_secs,
        soak_secs: settings.soak_ns / Timestamp::SECOND,
    })
}

fn fmt(signal: Signal, x: f64) -> String {
    if signal == Signal::ErrorRatio {
        format!("{:.2}%", x * 100.0)
    } else {
        format!("{:.0} ms", x * 1000.0)
    }
}
