//! Scoring-core tests: one file per concern, sharing the builders below.

mod alerts;
mod evidence;
mod innocent;
mod verdict;

use std::sync::Arc;

use crate::attribute::topology::tests::graph;
use crate::model::{
    Anomaly, GraphSnapshot, LatencySummary, Origin, ReleaseKey, SeriesKey, SeriesStats, Signal,
    Timestamp,
};

use super::*;

/// 2023-11-14T22:13:20Z: an arbitrary epoch for the tests.
pub(super) const T0: u64 = 1_700_000_000;

pub(super) fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

/// fe → checkout → payment → db1; checkout → ext1; orders → billing;
/// reports → db2 (an unconnected component).
pub(super) fn world() -> GraphSnapshot {
    graph(&[
        ("fe", "checkout"),
        ("checkout", "payment"),
        ("payment", "db1"),
        ("checkout", "ext1"),
        ("orders", "billing"),
        ("reports", "db2"),
    ])
}

pub(super) fn anomaly(
    service: &str,
    signal: Signal,
    onset: u64,
    baseline: f64,
    observed: f64,
) -> Anomaly {
    Anomaly {
        id: format!("a-{service}"),
        series: SeriesKey::Service {
            environment: "prod".into(),
            service: service.into(),
        },
        signal,
        onset: at(onset),
        detected_at: at(onset + 60),
        baseline,
        observed,
        significance: 10.0,
        requests: 1000,
        origins: vec![Origin {
            node: service.into(),
            score: 0.6,
        }],
        recovered_at: None,
    }
}

pub(super) fn with_origins(mut a: Anomaly, origins: &[(&str, f64)]) -> Anomaly {
    a.origins = origins
        .iter()
        .map(|(n, s)| Origin {
            node: (*n).into(),
            score: *s,
        })
        .collect();
    a
}

pub(super) fn candidate(service: &str, version: &str, env: &str, started: u64) -> CandidateInput {
    CandidateInput::new(Candidate {
        key: ReleaseKey {
            service: service.into(),
            environment: env.into(),
            version: version.into(),
        },
        deployment_id: Some(format!("dep-{service}-{version}")),
        previous_version: Some(Arc::from("1.0.0")),
        started_at: at(started),
        exposure_start: None,
        finished_at: None,
        rolled_back_at: None,
        timeline: vec![SharePoint {
            at: at(started),
            traffic_share: 1.0,
            instance_share: 1.0,
        }],
    })
}

pub(super) fn stats(requests: u64, errors: u64, p95: f64) -> SeriesStats {
    SeriesStats {
        requests,
        errors,
        latency: LatencySummary {
            count: requests,
            sum: p95 * 0.5 * requests as f64,
            p50: p95 * 0.5,
            p95,
            p99: p95 * 1.5,
            max: p95 * 2.0,
        },
        instances: 1,
    }
}

/// `n` 10-second windows from `start` with the given new and old stats each.
pub(super) fn windows(start: u64, n: u64, new: SeriesStats, old: SeriesStats) -> Vec<SplitWindow> {
    (0..n)
        .map(|i| SplitWindow {
            start: at(start + 10 * i),
            new: new.clone(),
            old: old.clone(),
        })
        .collect()
}

pub(super) fn run(a: &Anomaly, g: &GraphSnapshot, candidates: &[CandidateInput]) -> Attribution {
    let ctx = AnomalyContext::new(a, g, a.detected_at);
    attribute(&Settings::default(), &ctx, candidates)
}

pub(super) fn kinds(s: &crate::model::Suspect) -> Vec<&'static str> {
    s.evidence.iter().map(|e| e.kind()).collect()
}

pub(super) fn has_counter(s: &crate::model::Suspect, reason: crate::model::CounterReason) -> bool {
    s.evidence.iter().any(|e| {
        matches!(&e.detail, crate::model::EvidenceDetail::CounterEvidence { reason: r } if *r == reason)
    })
}
