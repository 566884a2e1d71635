//! The timeline and chart markers of a report: release events (start,
//! exposure, completion, rollback), onset, detection, attribution,
//! recovery, verdict and an external incident.

use crate::model::{Alert, AlertAnomaly, AlertType, Release, Timestamp, VerdictInfo};

use super::assemble::IncidentInfo;
use super::incident::anomaly_kind;
use super::input::{EventKind, ReleaseMarker, TimelineEvent};
use super::text::{percent, signal_value};

/// Releases listed in the timeline at most.
const MAX_RELEASES: usize = 20;

/// `payment 1.4.0 → 1.5.0, deployment d-1`.
pub(super) fn release_text(r: &Release) -> String {
    let mut text = format!("{} {}", r.key.service, r.key.version);
    if let Some(prev) = &r.previous_version {
        text = format!("{} {prev} → {}", r.key.service, r.key.version);
    }
    match &r.deployment_id {
        Some(id) => text.push_str(&format!(", deployment {id}")),
        None => text.push_str(", implicit (seen in spans, no deployment event)"),
    }
    text
}

/// Start, exposure, completion and rollback of every release in `[from, to]`.
pub(super) fn release_events(
    releases: &[Release],
    from: Timestamp,
    to: Timestamp,
) -> Vec<TimelineEvent> {
    let mut timeline = Vec::new();
    let within = |t: Timestamp| from <= t && t <= to;
    for r in releases
        .iter()
        .filter(|r| within(r.started_at) || r.rolled_back_at.is_some_and(within))
        .take(MAX_RELEASES)
    {
        let name = format!("{} {}", r.key.service, r.key.version);
        if within(r.started_at) {
            timeline.push(TimelineEvent {
                at: r.started_at,
                kind: EventKind::ReleaseStarted,
                text: release_text(r),
            });
        }
        if let Some(e) = r
            .exposure_start
            .filter(|e| within(*e) && *e != r.started_at)
        {
            timeline.push(TimelineEvent {
                at: e,
                kind: EventKind::ReleaseExposed,
                text: format!("{name} first served traffic"),
            });
        }
        if let Some(c) = r.completed_at.filter(|c| within(*c)) {
            timeline.push(TimelineEvent {
                at: c,
                kind: EventKind::ReleaseFinished,
                text: format!("{name} on (nearly) all instances"),
            });
        }
        if let Some(b) = r.rolled_back_at.filter(|b| within(*b)) {
            let to_version = r
                .rolled_back_to
                .as_deref()
                .or(r.previous_version.as_deref())
                .unwrap_or("an earlier version");
            timeline.push(TimelineEvent {
                at: b,
                kind: EventKind::Rollback,
                text: format!("{name} rolled back to {to_version}"),
            });
        }
    }
    timeline
}

/// Onset, detection, attribution, recovery, verdict and the incident.
pub(super) fn incident_events(
    anomaly: Option<&AlertAnomaly>,
    chain: &[&Alert],
    verdict: Option<(&VerdictInfo, Timestamp)>,
    incident: Option<&IncidentInfo>,
) -> Vec<TimelineEvent> {
    let mut timeline = Vec::new();
    if let Some(a) = anomaly {
        let mut text = format!(
            "{} of {} left its baseline ({} → {})",
            a.signal.replace('_', " "),
            a.service,
            signal_value(&a.signal, a.baseline),
            signal_value(&a.signal, a.observed)
        );
        if !a.origins.is_empty() {
            let origins: Vec<String> = a
                .origins
                .iter()
                .take(3)
                .map(|o| format!("{} ({:.2})", o.service, o.score))
                .collect();
            text.push_str(&format!("; likely origin {}", origins.join(", ")));
        }
        timeline.push(TimelineEvent {
            at: a.onset,
            kind: EventKind::Onset,
            text,
        });
        if let Some(r) = a.recovered_at {
            timeline.push(TimelineEvent {
                at: r,
                kind: EventKind::Recovery,
                text: format!(
                    "{} of {} back to baseline",
                    a.signal.replace('_', " "),
                    a.service
                ),
            });
        }
    }
    if let Some(first) = chain.iter().find(|a| anomaly_kind(a)) {
        timeline.push(TimelineEvent {
            at: first.detected_at,
            kind: EventKind::Detection,
            text: format!(
                "{} alert {} ({})",
                first.kind.as_str(),
                first.id,
                first.severity.as_str()
            ),
        });
    }
    if let Some(attr) = chain.iter().find(|a| a.kind == AlertType::Attribution)
        && let Some(s) = attr.suspects.first()
    {
        timeline.push(TimelineEvent {
            at: attr.detected_at,
            kind: EventKind::Attribution,
            text: format!(
                "{} {} named first suspect ({})",
                s.release.service,
                s.release.version,
                percent(s.confidence)
            ),
        });
    }
    if let Some((v, at)) = verdict {
        timeline.push(TimelineEvent {
            at,
            kind: EventKind::Verdict,
            text: format!(
                "{} {}: {}",
                v.release.service,
                v.release.version,
                v.verdict.as_str()
            ),
        });
    }
    if let Some(i) = incident.filter(|i| i.external) {
        let title = i
            .title
            .as_deref()
            .map_or(String::new(), |t| format!(": {t}"));
        timeline.push(TimelineEvent {
            at: i.at,
            kind: EventKind::Incident,
            text: format!("incident {}{title}", i.id),
        });
    }
    timeline
}

/// Release starts and rollbacks of the charted services in `[from, to]`.
pub(super) fn markers(
    releases: &[Release],
    charted: &[String],
    from: Timestamp,
    to: Timestamp,
) -> Vec<ReleaseMarker> {
    let within = |t: Timestamp| from <= t && t <= to;
    let mut markers: Vec<ReleaseMarker> = Vec::new();
    for r in releases
        .iter()
        .filter(|r| charted.iter().any(|c| **c == *r.key.service))
    {
        if within(r.started_at) {
            markers.push(ReleaseMarker {
                at: r.started_at,
                label: format!("{} {}", r.key.service, r.key.version),
            });
        }
        if let Some(b) = r.rolled_back_at.filter(|b| within(*b)) {
            let to_version = r
                .rolled_back_to
                .as_deref()
                .or(r.previous_version.as_deref())
                .unwrap_or("?");
            markers.push(ReleaseMarker {
                at: b,
                label: format!("rollback {} → {to_version}", r.key.service),
            });
        }
    }
    markers.sort_by(|a, b| a.at.cmp(&b.at).then(a.label.cmp(&b.label)));
    markers.dedup();
    markers
}
