//! The scoring model: which releases are candidates, and how their evidence
//! becomes one calibrated confidence.
//!
//! # Model
//!
//! Each candidate is scored on its own (naive Bayes over evidence kinds):
//!
//! ```text
//! log-odds = ln(prior / (1 - prior)) + Σ LLR(evidence)      confidence = 1 / (1 + e^-log-odds)
//! ```
//!
//! The LLRs are hand-set log Bayes factors, chosen so that one kind of
//! evidence on its own can never blame a release, and so that the
//! innocent-release cases of the issue land far below the threshold:
//!
//! | evidence | LLR | why |
//! |---|---|---|
//! | prior (`prior_probability` 0.12) | −2.0 | most releases near an anomaly are innocent; ~1 in 8 in our scenarios |
//! | version split, concurrent, z ≥ 3 and a real effect | +2.5 … +5.0 (1.5 + 0.4 z) | same windows, same load, only the version differs: the strongest signal there is |
//! | version split, before/after (full rollout) | half of that | time confounds it (an outage at the same time looks the same) |
//! | version split, 2 ≤ z < 3 | +1.0 (half before/after) | suggestive only |
//! | edge split by caller version, z ≥ 3 | +3.0 … +5.0 | a callee failing only for new-version callers has one explanation |
//! | traffic change into the anomalous part (new edge, or fan-out ×2.5) | +2.0 (×1.5: +1.5) | a known failure mode (overload downstream); per request served, so a traffic ramp cancels |
//! | rollback followed by recovery | +2.0 | an intervention, not just a correlation |
//! | dose-response r ≥ 0.7 over ≥ 4 windows | +1.5 | canary-like evidence without a canary |
//! | onset ≤ 5 min after exposure | +1.0, decaying to 0 at the lookback | coincidence is cheap: many releases are followed by something |
//! | topology: same service / dependency | +0.5 … +2.0 (origin score × 1.5) | a mechanism exists; stronger when detection places the origin there |
//! | topology: caller of the anomalous service | +0.3 | a mechanism only together with traffic or edge evidence |
//! | counter: new version healthy with power to see it | −2.5 (−3.5 same service; half before/after) | the release looks fine where it runs |
//! | counter: origin external/database, untouched by the release | −3.0 | the classic innocent-release-before-an-outage case |
//! | counter: no dependency path at all | −4.0 | no mechanism |
//! | counter: dose-response r ≤ 0 | −1.0 | |
//! | counter: persists after rollback | −2.0 | |
//! | counter: onset before exposure | −6.0 | cause after effect |
//!
//! A release becomes a suspect only when (a) its confidence reaches
//! `min_confidence` (0.75) **and** (b) at least one piece of *direct*
//! evidence is positive: a version split, an edge split, a traffic change,
//! a rollback recovery or dose-response. Timing and topology alone never
//! blame a release, however well they fit. Candidates are scored
//! independently (several bad releases at once are possible) and ranked by
//! confidence, ties by later exposure, then by key.
//!
//! "Calibrated" here means: the LLRs are chosen as plausible Bayes factors
//! and checked against the scenario suite; they have not been fitted. The
//! confidence of a rejected candidate is kept (`Attribution::rejected`) so
//! a reliability curve can be drawn from replays and the table refitted.
//!
//! Never does: I/O, clock reads, or look at another environment's releases.

use std::cmp::Ordering;

use crate::model::{Evidence, EvidenceDetail, ReleaseRef, Suspect, series_scope};

use super::config::Settings;
use super::evidence::{self, Health, Relation};
use super::input::{AnomalyContext, CandidateInput};
use super::topology::Adjacency;

/// What [`attribute`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Attribution {
    /// Releases blamed, best first (empty: "no release explains this").
    pub suspects: Vec<Suspect>,
    /// Candidates scored but not blamed, best first, with their evidence.
    pub rejected: Vec<Suspect>,
    /// Candidates excluded before scoring (other environment, outside the lookback).
    pub excluded: usize,
}

/// Whether `input` is a candidate for an anomaly with `onset` in `environment`:
/// same environment (exactly), and exposure within the lookback before the
/// onset, or still rolling out at the onset. Releases exposed after the onset
/// stay candidates so the "onset before exposure" counter-evidence is recorded.
pub fn is_candidate(
    settings: &Settings,
    environment: &str,
    onset: crate::model::Timestamp,
    input: &CandidateInput,
) -> bool {
    let c = &input.candidate;
    if *c.key.environment != *environment {
        return false;
    }
    let exposure = c.exposure();
    let recent = exposure.plus_nanos(settings.lookback_ns) >= onset;
    let in_progress =
        c.finished_at.is_none_or(|f| f >= onset) && c.rolled_back_at.is_none_or(|r| r >= onset);
    recent || in_progress
}

/// Scores every candidate release against one anomaly.
pub fn attribute(
    settings: &Settings,
    ctx: &AnomalyContext<'_>,
    candidates: &[CandidateInput],
) -> Attribution {
    let (environment, anomalous) = series_scope(&ctx.anomaly.series);
    let adjacency = Adjacency::new(ctx.graph);
    let mut scored = Vec::new();
    let mut excluded = 0;
    for input in candidates {
        if !is_candidate(settings, environment, ctx.anomaly.onset, input) {
            excluded += 1;
            continue;
        }
        scored.push(score_one(settings, ctx, &adjacency, anomalous, input));
    }
    scored.sort_by(|a, b| {
        b.0.confidence
            .partial_cmp(&a.0.confidence)
            .unwrap_or(Ordering::Equal)
            .then_with(|| b.0.release.started_at.cmp(&a.0.release.started_at))
            .then_with(|| a.0.release.service.cmp(&b.0.release.service))
            .then_with(|| a.0.release.version.cmp(&b.0.release.version))
    });
    let mut out = Attribution {
        excluded,
        ..Attribution::default()
    };
    for (suspect, direct) in scored {
        if direct && suspect.confidence >= settings.min_confidence {
            out.suspects.push(suspect);
        } else {
            out.rejected.push(suspect);
        }
    }
    out
}

/// One candidate's suspect record and whether it has direct positive evidence.
fn score_one(
    settings: &Settings,
    ctx: &AnomalyContext<'_>,
    adjacency: &Adjacency<'_>,
    anomalous: &str,
    input: &CandidateInput,
) -> (Suspect, bool) {
    let released = &*input.candidate.key.service;
    let mut evidence: Vec<Evidence> = Vec::new();

    let (relation, topo) = evidence::topology(settings, ctx, adjacency, anomalous, released);
    // The part of the graph an upstream release can break: the anomalous
    // node, anything anomalous, the anomaly's origins, and what the
    // anomalous node depends on.
    let hops = settings.max_path_hops;
    let relevant = |server: &str| {
        server == anomalous
            || ctx.anomalous_nodes.iter().any(|n| **n == *server)
            || ctx.anomaly.origins.iter().any(|o| o.node == server)
            || adjacency.path(anomalous, server, hops).is_some()
    };
    let edge = evidence::edge_split(settings, ctx, input, &relevant);
    let traffic = evidence::traffic_change(input, &relevant);
    let (health, split) = evidence::version_split(settings, ctx, input, relation == Relation::Same);

    // A producer whose new payload breaks its consumers, or a caller that
    // overloads its callee, is itself healthy: that is expected, not
    // exculpatory.
    let explains_without_self = edge.is_some() || traffic.is_some();
    for e in split {
        let is_health_counter = matches!(e.detail, EvidenceDetail::CounterEvidence { .. });
        if is_health_counter && explains_without_self {
            continue;
        }
        evidence.push(e);
    }
    evidence.extend(edge);
    let traffic_server = traffic.as_ref().and_then(|t| match &t.detail {
        EvidenceDetail::TrafficChange { server, .. } => Some(server.clone()),
        _ => None,
    });
    evidence.extend(traffic);
    evidence.extend(evidence::temporal(settings, ctx, input));
    evidence.extend(topo);
    let into = |node: &str| traffic_server.as_deref() == Some(node);
    evidence.extend(evidence::external_origin(ctx, adjacency, released, &into));

    let direct = health == Health::Worse
        || evidence.iter().any(|e| {
            e.llr > 0.0
                && matches!(
                    e.detail,
                    EvidenceDetail::EdgeSplit { .. }
                        | EvidenceDetail::TrafficChange { .. }
                        | EvidenceDetail::RollbackRecovery { .. }
                        | EvidenceDetail::DoseResponse { .. }
                )
        });
    let log_odds = settings.prior_log_odds + evidence.iter().map(|e| e.llr).sum::<f64>();
    let confidence = 1.0 / (1.0 + (-log_odds).exp());
    let c = &input.candidate;
    let release = ReleaseRef {
        service: c.key.service.to_string(),
        version: c.key.version.to_string(),
        environment: c.key.environment.to_string(),
        deployment_id: c.deployment_id.clone(),
        previous_version: c.previous_version.as_deref().map(str::to_string),
        started_at: Some(c.started_at),
    };
    (
        Suspect {
            release,
            confidence: round4(confidence),
            evidence,
        },
        direct,
    )
}

/// Rounded so alerts are byte-identical across platforms' last-bit float noise.
pub(crate) fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}
