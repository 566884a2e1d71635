//! Evidence evaluators: each turns one kind of input into [`Evidence`]
//! records carrying a log-likelihood ratio (LLR, natural log) of "this
//! release caused the anomaly" against "it did not". The weights are in
//! `weights.rs`; why they are what they are is `score.rs`'s module doc.
//!
//! Never does: combine evidence or decide; `score.rs` does.

use crate::model::{CounterReason, Evidence, EvidenceDetail, NodeKind, Signal, Timestamp};

use super::config::Settings;
use super::input::{AnomalyContext, CandidateInput, SplitWindow};
use super::stats::{self, Side};
use super::topology::Adjacency;
use super::weights::{
    LLR_BEFORE_EXPOSURE, LLR_DOSE, LLR_DOSE_CONTRARY, LLR_EXTERNAL, LLR_HEALTHY, LLR_HEALTHY_SAME,
    LLR_NOT_CONNECTED, LLR_PERSISTS, LLR_ROLLBACK, LLR_SPLIT_MAX, LLR_TEMPORAL, LLR_TRAFFIC,
    TEMPORAL_FULL_SECS, Z_BAD, Z_WEAK,
};

fn ev(detail: EvidenceDetail, llr: f64, summary: String) -> Evidence {
    Evidence {
        detail,
        llr,
        summary,
    }
}

fn aggregate(windows: &[SplitWindow]) -> (Side, Side) {
    let (mut new, mut old) = (Side::default(), Side::default());
    for w in windows {
        new.add(&w.new);
        old.add(&w.old);
    }
    (new, old)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn value_text(signal: Signal, x: f64) -> String {
    match signal {
        Signal::ErrorRatio | Signal::Throughput => pct(x),
        _ => format!("{:.0} ms", x * 1000.0),
    }
}

/// What a version split said about the released service.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Health {
    /// New is significantly worse.
    Worse,
    /// New is as good as old, with enough traffic to have seen a difference.
    Healthy,
    /// Not enough traffic, or in between.
    Unknown,
}

/// The release's own service, new vs old version: concurrent windows when
/// both sides have traffic, else new vs the pre-release baseline (weaker:
/// anything else that changed at the same time confounds it).
pub(crate) fn version_split(
    settings: &Settings,
    ctx: &AnomalyContext<'_>,
    input: &CandidateInput,
    same_service: bool,
) -> (Health, Vec<Evidence>) {
    let signal = ctx.anomaly.signal;
    let service = &input.candidate.key.service;
    let (new, concurrent_old) = aggregate(&input.version_split);
    let min = settings.min_split_requests;
    let (old, before_after) = match (&input.baseline, concurrent_old.requests >= min) {
        (_, true) => (concurrent_old, false),
        (Some(baseline), false) => (Side::from_stats(baseline), true),
        (None, false) => (concurrent_old, false),
    };
    if new.requests < min || old.requests < min {
        return (Health::Unknown, Vec::new());
    }
    let z = stats::signal_z(signal, &new, &old);
    let (new_value, old_value) = (new.value(signal), old.value(signal));
    let is_error = matches!(signal, Signal::ErrorRatio | Signal::Throughput);
    // Effect size floors: an error ratio must rise by 1 point and at least
    // double; a latency quantile by 20%. Significance alone is not enough
    // at high volume.
    let big = if is_error {
        new_value - old_value >= 0.01_f64.max(old_value)
    } else {
        new_value >= old_value * 1.2
    };
    let detail = EvidenceDetail::VersionSplit {
        signal: signal.as_str().into(),
        new_requests: new.requests,
        new_value,
        old_requests: old.requests,
        old_value,
        z,
        before_after,
    };
    let scale = if before_after { 0.5 } else { 1.0 };
    let versus = if before_after {
        "before the release"
    } else {
        "on the old version"
    };
    let text = format!(
        "{service} {} on the new version vs {} {versus} ({} vs {} requests, z={z:.1})",
        value_text(signal, new_value),
        value_text(signal, old_value),
        new.requests,
        old.requests
    );
    if big && z >= Z_BAD {
        let llr = (1.5 + 0.4 * z).clamp(2.5, LLR_SPLIT_MAX) * scale;
        return (Health::Worse, vec![ev(detail, llr, text)]);
    }
    if big && z >= Z_WEAK {
        return (Health::Unknown, vec![ev(detail, 1.0 * scale, text)]);
    }
    // Healthy only if a meaningful degradation is excluded with 99% confidence.
    let healthy = if is_error {
        let mde = if same_service {
            (0.5 * (ctx.anomaly.observed - ctx.anomaly.baseline)).clamp(0.005, 0.02)
        } else {
            0.02_f64.max(old_value)
        };
        stats::error_diff_upper(&new, &old) < mde
    } else {
        stats::latency_ratio_upper(new_value, new.requests, old_value, old.requests) < 1.25
    };
    if !healthy {
        return (Health::Unknown, vec![ev(detail, 0.0, text)]);
    }
    let llr = if same_service {
        LLR_HEALTHY_SAME
    } else {
        LLR_HEALTHY
    } * scale;
    let counter = ev(
        EvidenceDetail::CounterEvidence {
            reason: CounterReason::ReleasedServiceHealthy,
        },
        llr,
        format!("{service}'s new version serves as well as the old one"),
    );
    (Health::Healthy, vec![ev(detail, 0.0, text), counter])
}

/// Requests from the release into callees, split by the caller's version:
/// the callee failing only for new-version callers. Only callees in the
/// anomalous part of the graph count. Returns the strongest one.
pub(crate) fn edge_split(
    settings: &Settings,
    ctx: &AnomalyContext<'_>,
    input: &CandidateInput,
    relevant: &dyn Fn(&str) -> bool,
) -> Option<Evidence> {
    let client = &input.candidate.key.service;
    let mut best: Option<Evidence> = None;
    for split in &input.edge_splits {
        if !relevant(&split.server) {
            continue;
        }
        let (new, old) = aggregate(&split.windows);
        if new.requests < settings.min_split_requests || old.requests < settings.min_split_requests
        {
            continue;
        }
        let z = stats::proportion_z(&new, &old);
        let (nv, ov) = (new.error_ratio(), old.error_ratio());
        if z < Z_BAD || nv - ov < 0.02_f64.max(ov) {
            continue;
        }
        let llr = (2.0 + 0.3 * z).clamp(3.0, LLR_SPLIT_MAX);
        if best.as_ref().is_some_and(|b| b.llr >= llr) {
            continue;
        }
        best = Some(ev(
            EvidenceDetail::EdgeSplit {
                client: client.to_string(),
                server: split.server.to_string(),
                new_requests: new.requests,
                new_value: nv,
                old_requests: old.requests,
                old_value: ov,
                z,
            },
            llr,
            format!(
                "{} fails {} of requests from {client}'s new version vs {} from the old one",
                split.server,
                pct(nv),
                pct(ov)
            ),
        ));
    }
    let _ = ctx;
    best
}

/// The release raised its call rate (per request it serves, so a traffic
/// ramp cancels out) into the anomalous part of the graph, or added an edge.
pub(crate) fn traffic_change(
    input: &CandidateInput,
    relevant: &dyn Fn(&str) -> bool,
) -> Option<Evidence> {
    let client = &input.candidate.key.service;
    let mut best: Option<(f64, Evidence)> = None;
    for t in &input.traffic {
        if !relevant(&t.server) || t.rate_after <= 0.0 {
            continue;
        }
        let fan_out = |rate: f64, inbound: f64| if inbound > 0.0 { rate / inbound } else { rate };
        let before = fan_out(t.rate_before, t.inbound_before);
        let after = fan_out(t.rate_after, t.inbound_after);
        let ratio = if before > 0.0 {
            after / before
        } else {
            f64::INFINITY
        };
        if !(t.new_edge || ratio >= 1.5) {
            continue;
        }
        let llr = if t.new_edge || ratio >= 2.5 {
            LLR_TRAFFIC
        } else {
            0.75 * LLR_TRAFFIC
        };
        if best.as_ref().is_some_and(|(l, _)| *l >= llr) {
            continue;
        }
        let text = if t.new_edge {
            format!("{client} started calling {} after the release", t.server)
        } else {
            format!(
                "{client} calls {} {ratio:.1}x as often per request since the release ({:.1}/s to {:.1}/s)",
                t.server, t.rate_before, t.rate_after
            )
        };
        let detail = EvidenceDetail::TrafficChange {
            server: t.server.to_string(),
            rate_before: t.rate_before,
            rate_after: t.rate_after,
            new_edge: t.new_edge,
        };
        best = Some((llr, ev(detail, llr, text)));
    }
    best.map(|(_, e)| e)
}

/// Onset against exposure, dose-response with the rollout share, and
/// recovery after a rollback.
pub(crate) fn temporal(
    settings: &Settings,
    ctx: &AnomalyContext<'_>,
    input: &CandidateInput,
) -> Vec<Evidence> {
    let mut out = Vec::new();
    let candidate = &input.candidate;
    let onset = ctx.anomaly.onset;
    let exposure = candidate.exposure();
    let lag_secs = (onset.nanos() as f64 - exposure.nanos() as f64) / Timestamp::SECOND as f64;
    let detail = EvidenceDetail::TemporalFit {
        exposure_start: exposure,
        onset,
        lag_secs,
    };
    if onset.plus_nanos(settings.tolerance_ns) < exposure {
        out.push(ev(
            detail,
            0.0,
            format!("onset {lag_secs:.0} s before exposure"),
        ));
        out.push(ev(
            EvidenceDetail::CounterEvidence {
                reason: CounterReason::OnsetBeforeExposure,
            },
            LLR_BEFORE_EXPOSURE,
            format!(
                "the anomaly began before {} {} served traffic",
                candidate.key.service, candidate.key.version
            ),
        ));
        return out;
    }
    let lookback = settings.lookback_ns as f64 / Timestamp::SECOND as f64;
    let llr = if lag_secs <= TEMPORAL_FULL_SECS {
        LLR_TEMPORAL
    } else {
        LLR_TEMPORAL
            * (1.0 - (lag_secs - TEMPORAL_FULL_SECS) / (lookback - TEMPORAL_FULL_SECS).max(1.0))
                .max(0.0)
    };
    out.push(ev(
        detail,
        llr,
        format!("onset {:.0} s after exposure began", lag_secs.max(0.0)),
    ));

    // Dose-response: the anomalous series against the traffic share.
    let points: Vec<(f64, f64)> = ctx
        .timeline
        .iter()
        .map(|(at, value)| (candidate.share_at(*at), *value))
        .collect();
    let shares = points.iter().map(|p| p.0);
    let spread =
        shares.clone().fold(f64::NEG_INFINITY, f64::max) - shares.fold(f64::INFINITY, f64::min);
    if points.len() >= 4
        && spread >= 0.2
        && let Some(r) = stats::pearson(&points)
    {
        {
            let llr = if r >= 0.7 {
                LLR_DOSE
            } else if r <= 0.0 {
                LLR_DOSE_CONTRARY
            } else {
                0.0
            };
            out.push(ev(
                EvidenceDetail::DoseResponse {
                    correlation: r,
                    windows: points.len() as u32,
                },
                llr,
                format!("the anomaly's size follows the rollout share with r={r:.2}"),
            ));
        }
    }

    if let Some(rolled_back_at) = candidate.rolled_back_at {
        match ctx.anomaly.recovered_at {
            Some(recovered_at)
                if recovered_at.plus_nanos(settings.tolerance_ns) >= rolled_back_at
                    && recovered_at <= rolled_back_at.plus_nanos(settings.rollback_recovery_ns) =>
            {
                out.push(ev(
                    EvidenceDetail::RollbackRecovery {
                        rolled_back_at,
                        recovered_at,
                    },
                    LLR_ROLLBACK,
                    "the anomaly recovered after the release was rolled back".into(),
                ));
            }
            None if ctx.now > rolled_back_at.plus_nanos(settings.rollback_recovery_ns) => {
                out.push(ev(
                    EvidenceDetail::CounterEvidence {
                        reason: CounterReason::PersistsAfterRollback,
                    },
                    LLR_PERSISTS,
                    "the anomaly went on after the release was rolled back".into(),
                ));
            }
            _ => {}
        }
    }
    out
}

/// Where the release sits relative to the anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    /// The release is of the anomalous service.
    Same,
    /// The anomalous service depends on the released one.
    Downstream,
    /// The released service calls into the anomalous one.
    Upstream,
    /// No path either way (within the hop limit).
    None,
    /// One of them is not in the graph.
    Unknown,
}

/// Topological fit, plus "not connected" counter-evidence.
pub(crate) fn topology(
    settings: &Settings,
    ctx: &AnomalyContext<'_>,
    adjacency: &Adjacency<'_>,
    anomalous: &str,
    released: &str,
) -> (Relation, Option<Evidence>) {
    let origin_score = ctx
        .anomaly
        .origins
        .iter()
        .find(|o| o.node == released)
        .map_or(0.0, |o| o.score.clamp(0.0, 1.0));
    let hops = settings.max_path_hops;
    let (relation, path) = if anomalous == released {
        (Relation::Same, vec![anomalous.to_string()])
    } else if let Some(path) = adjacency.path(anomalous, released, hops) {
        (Relation::Downstream, path)
    } else if let Some(path) = adjacency.path(released, anomalous, hops) {
        (Relation::Upstream, path)
    } else if !adjacency.knows(anomalous) || !adjacency.knows(released) {
        return (Relation::Unknown, None);
    } else {
        let counter = ev(
            EvidenceDetail::CounterEvidence {
                reason: CounterReason::NotConnected,
            },
            LLR_NOT_CONNECTED,
            format!("{released} has no dependency path to or from {anomalous}"),
        );
        return (Relation::None, Some(counter));
    };
    let edges = path.len().saturating_sub(1) as u32;
    let anomalous_edges = path
        .windows(2)
        .filter(|w| {
            ctx.anomalous_edges
                .iter()
                .any(|(c, s)| **c == *w[0] && **s == *w[1])
                || ctx.anomalous_nodes.iter().any(|n| **n == *w[1])
        })
        .count() as u32;
    let fraction = if edges == 0 {
        1.0
    } else {
        f64::from(anomalous_edges) / f64::from(edges)
    };
    let (llr, what) = match relation {
        Relation::Same => (
            0.5 + 1.5 * origin_score,
            "is the anomalous service".to_string(),
        ),
        Relation::Downstream => (
            0.25 + 0.5 * fraction + 1.5 * origin_score,
            format!(
                "is a dependency of {anomalous} ({anomalous_edges} of {edges} edges on the path anomalous)"
            ),
        ),
        _ => (0.3 + 0.5 * fraction, format!("calls into {anomalous}")),
    };
    let detail = EvidenceDetail::TopologicalFit {
        relation: match relation {
            Relation::Same => "same_service",
            Relation::Downstream => "downstream",
            _ => "upstream",
        }
        .into(),
        path,
        anomalous_edges,
        origin_score,
    };
    (
        relation,
        Some(ev(detail, llr, format!("{released} {what}"))),
    )
}

/// The anomaly's top origin is an external or database node the release
/// did not send more traffic to.
pub(crate) fn external_origin(
    ctx: &AnomalyContext<'_>,
    adjacency: &Adjacency<'_>,
    released: &str,
    traffic_into: &dyn Fn(&str) -> bool,
) -> Option<Evidence> {
    let top = ctx.anomaly.origins.first()?;
    if top.score < 0.5 || top.node == released {
        return None;
    }
    let kind = adjacency.kind(&top.node)?;
    if !matches!(kind, NodeKind::External | NodeKind::Database) || traffic_into(&top.node) {
        return None;
    }
    Some(ev(
        EvidenceDetail::CounterEvidence {
            reason: CounterReason::ExternalOrigin,
        },
        LLR_EXTERNAL,
        format!(
            "the anomaly starts at {} {}, which {released}'s release did not change",
            kind.as_str(),
            top.node
        ),
    ))
}
