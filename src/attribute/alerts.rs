//! Builds [`Alert`]s of every type from scoring and verdict outcomes, with
//! their stable ids, severities and one-sentence summaries.
//!
//! Never does: deliver alerts (the `emit` stage does) or read the clock:
//! `detected_at` is the event time the caller passes.

use crate::model::{
    ALERT_SCHEMA, Alert, AlertAnomaly, AlertOrigin, AlertType, Anomaly, EdgeRef, GraphSnapshot,
    ReleaseRef, Severity, Signal, Timestamp, TopologyInfo, Verdict, VerdictInfo, alert_id,
    series_label, series_scope,
};

use super::config::Settings;
use super::input::Candidate;
use super::score::{Attribution, round4};
use super::topology::Adjacency;
use super::verdict::VerdictOutcome;

fn anomaly_part(anomaly: &Anomaly) -> AlertAnomaly {
    let (_, service) = series_scope(&anomaly.series);
    AlertAnomaly {
        service: service.to_string(),
        signal: anomaly.signal.as_str().into(),
        onset: anomaly.onset,
        baseline: anomaly.baseline,
        observed: anomaly.observed,
        origins: anomaly
            .origins
            .iter()
            .map(|o| AlertOrigin {
                service: o.node.clone(),
                score: round4(o.score),
            })
            .collect(),
        series: series_label(&anomaly.series),
        significance: anomaly.significance,
        requests: anomaly.requests,
        recovered_at: anomaly.recovered_at,
    }
}

fn value(signal: Signal, x: f64) -> String {
    match signal {
        Signal::ErrorRatio => format!("{:.1}%", x * 100.0),
        Signal::Throughput => format!("{x:.1}/s"),
        _ => format!("{:.0} ms", x * 1000.0),
    }
}

fn signal_text(signal: Signal) -> &'static str {
    match signal {
        Signal::ErrorRatio => "error ratio",
        Signal::LatencyP50 => "p50 latency",
        Signal::LatencyP95 => "p95 latency",
        Signal::LatencyP99 => "p99 latency",
        Signal::Throughput => "request rate",
    }
}

fn change(anomaly: &Anomaly) -> String {
    let verb = if anomaly.signal == Signal::Throughput {
        "dropped"
    } else {
        "rose"
    };
    format!(
        "{} {verb} from {} to {}",
        signal_text(anomaly.signal),
        value(anomaly.signal, anomaly.baseline),
        value(anomaly.signal, anomaly.observed)
    )
}

/// The `anomaly` (no suspect) or `attribution` alert for one anomaly.
/// `supersedes` is the id of an `anomaly` alert already sent for it.
pub fn anomaly_alert(
    settings: &Settings,
    anomaly: &Anomaly,
    graph: &GraphSnapshot,
    attribution: &Attribution,
    supersedes: Option<String>,
) -> Alert {
    let (environment, service) = series_scope(&anomaly.series);
    let kind = if attribution.suspects.is_empty() {
        AlertType::Anomaly
    } else {
        AlertType::Attribution
    };
    let id = alert_id(
        kind,
        environment,
        &series_label(&anomaly.series),
        anomaly.signal.as_str(),
        anomaly.onset,
        settings.id_window_ns,
    );
    let affected = Adjacency::new(graph).dependents(service, settings.max_path_hops);
    let top = attribution.suspects.first();
    let (summary, recommendation, severity) = match top {
        Some(s) => {
            let r = &s.release;
            let started = r
                .started_at
                .map(|t| format!(" (rolled out {t})"))
                .unwrap_or_default();
            let summary = format!(
                "{} {}{started} {} {}: {}; confidence {:.0}%",
                r.service,
                r.version,
                if r.service == service {
                    "degraded"
                } else {
                    "broke"
                },
                service,
                change(anomaly),
                s.confidence * 100.0
            );
            let recommendation = Some(match &r.previous_version {
                Some(previous) => format!("roll back {} to {previous}", r.service),
                None => format!("roll back {} {}", r.service, r.version),
            });
            (summary, recommendation, Severity::Critical)
        }
        None => (
            format!(
                "{service} {} since {}; no release explains it",
                change(anomaly),
                anomaly.onset
            ),
            None,
            Severity::Warning,
        ),
    };
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind,
        id,
        detected_at: anomaly.detected_at,
        environment: environment.to_string(),
        anomaly: Some(anomaly_part(anomaly)),
        affected,
        suspects: attribution.suspects.clone(),
        recommendation,
        summary,
        severity,
        resolves: if kind == AlertType::Attribution {
            supersedes
        } else {
            None
        },
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

/// The `resolved` alert for an earlier `anomaly` or `attribution` alert.
pub fn resolved_alert(original: &Alert, recovered_at: Timestamp) -> Alert {
    let mut anomaly = original.anomaly.clone();
    let mut summary = format!("{} recovered", original.service());
    if let Some(a) = anomaly.as_mut() {
        a.recovered_at = Some(recovered_at);
        let secs = recovered_at.nanos().saturating_sub(a.onset.nanos()) / Timestamp::SECOND;
        summary = format!(
            "{} {} recovered after {} min {} s",
            a.service,
            a.signal,
            secs / 60,
            secs % 60
        );
    }
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind: AlertType::Resolved,
        id: alert_id(
            AlertType::Resolved,
            &original.environment,
            &original.id,
            "",
            Timestamp(0),
            0,
        ),
        detected_at: recovered_at,
        environment: original.environment.clone(),
        anomaly,
        affected: original.affected.clone(),
        suspects: original.suspects.clone(),
        recommendation: None,
        summary,
        severity: Severity::Info,
        resolves: Some(original.id.clone()),
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

/// The release as alerts name it.
pub fn release_ref(candidate: &Candidate) -> ReleaseRef {
    ReleaseRef {
        service: candidate.key.service.to_string(),
        version: candidate.key.version.to_string(),
        environment: candidate.key.environment.to_string(),
        deployment_id: candidate.deployment_id.clone(),
        previous_version: candidate.previous_version.as_deref().map(str::to_string),
        started_at: Some(candidate.started_at),
    }
}

/// The `release_verdict` alert. `detected_at` is the event time the verdict was reached.
pub fn verdict_alert(
    candidate: &Candidate,
    outcome: &VerdictOutcome,
    detected_at: Timestamp,
) -> Alert {
    let release = release_ref(candidate);
    let key = &candidate.key;
    let series = format!(
        "release:{}/{}@{}",
        key.environment, key.service, key.version
    );
    let severity = match outcome.verdict {
        Verdict::Failing => Severity::Critical,
        Verdict::Degraded => Severity::Warning,
        Verdict::Healthy | Verdict::Inconclusive => Severity::Info,
    };
    let mut summary = format!(
        "{} {} is {} after {} min",
        key.service,
        key.version,
        outcome.verdict.as_str(),
        outcome.soak_secs / 60
    );
    if let Some(mttr) = outcome.mttr_secs {
        summary.push_str(&format!("; recovered {mttr:.0} s after onset"));
    }
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind: AlertType::ReleaseVerdict,
        id: alert_id(
            AlertType::ReleaseVerdict,
            &key.environment,
            &series,
            "verdict",
            candidate.started_at,
            0,
        ),
        detected_at,
        environment: key.environment.to_string(),
        anomaly: None,
        affected: Vec::new(),
        suspects: Vec::new(),
        recommendation: outcome.recommendation.clone(),
        summary,
        severity,
        resolves: None,
        verdict: Some(VerdictInfo {
            release,
            verdict: outcome.verdict,
            soak_secs: outcome.soak_secs,
            evidence: outcome.evidence.clone(),
            mttr_secs: outcome.mttr_secs,
        }),
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

/// The `topology_change` alert: edges that appeared or vanished at `at`
/// (event time), with the release that coincides, if any.
pub fn topology_alert(
    settings: &Settings,
    environment: &str,
    added: Vec<EdgeRef>,
    removed: Vec<EdgeRef>,
    release: Option<&Candidate>,
    at: Timestamp,
) -> Alert {
    let describe = |edges: &[EdgeRef]| {
        edges
            .iter()
            .map(|e| format!("{}->{}", e.client, e.server))
            .collect::<Vec<_>>()
            .join(",")
    };
    let series = format!("+{};-{}", describe(&added), describe(&removed));
    let mut summary = match (added.len(), removed.len()) {
        (a, 0) => format!("{a} new edge(s): {}", describe(&added)),
        (0, r) => format!("{r} edge(s) vanished: {}", describe(&removed)),
        (a, r) => format!("{a} new edge(s), {r} vanished"),
    };
    if let Some(c) = release {
        summary.push_str(&format!(" after {} {}", c.key.service, c.key.version));
    }
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind: AlertType::TopologyChange,
        id: alert_id(
            AlertType::TopologyChange,
            environment,
            &series,
            "",
            at,
            settings.id_window_ns,
        ),
        detected_at: at,
        environment: environment.to_string(),
        anomaly: None,
        affected: Vec::new(),
        suspects: Vec::new(),
        recommendation: None,
        summary,
        severity: Severity::Info,
        resolves: None,
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: Some(TopologyInfo {
            added,
            removed,
            release: release.map(release_ref),
        }),
    }
}
