//! Assembling a [`ReportInput`] from any data source: the alerts around
//! the time asked for, the releases, per-window series, dependents and
//! owners. A source (a replay run, the history store, a daemon's API)
//! implements [`ReportSource`]; [`assemble`] decides what goes in.
//!
//! Never does: I/O itself (the source does), clock reads.

use std::collections::BTreeSet;

use crate::model::{
    Alert, AlertType, OwnerRef, Release, ReleaseRef, Suspect, Timestamp, VerdictInfo,
};

use super::ReportError;
use super::input::{
    BlastRadius, Dependent, EventKind, ReleaseMarker, ReportInput, SeriesPoint, ServiceSeries,
    TimelineEvent,
};
use super::text::{hhmm, percent, signal_value};

const MINUTE: u64 = 60 * Timestamp::SECOND;
/// Alerts are looked for this far either side of the time asked for.
const ALERT_LOOKAROUND: u64 = 6 * 60 * MINUTE;
/// An anomaly whose onset lies this close to the time asked for matches it.
const MATCH_WINDOW: u64 = 30 * MINUTE;
/// A release counts for the period only when it started this close to the onset.
const RELEASE_REACH: u64 = 6 * 60 * MINUTE;
/// Least padding either side of what happened.
const MIN_PAD: u64 = 10 * MINUTE;
/// Services charted at most.
const MAX_CHARTED: usize = 4;
/// Releases listed in the timeline at most.
const MAX_RELEASES: usize = 20;

/// An incident a source knows by id (an incident tool's id, or an alert id).
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentRef {
    /// The id asked for.
    pub id: String,
    /// The service it is about.
    pub service: String,
    /// Its environment, when known.
    pub environment: Option<String>,
    /// When it started, event time.
    pub at: Timestamp,
    /// Its title, when it has one.
    pub title: Option<String>,
    /// Whether it was opened by people or a pager (a timeline entry), rather
    /// than being one of Epicenter's own alerts.
    pub external: bool,
}

/// What a report is asked about.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// `--incident ID`.
    Incident(String),
    /// `--service S --at T [--environment E]`.
    Service {
        /// The service.
        service: String,
        /// Its environment; found from the data when absent.
        environment: Option<String>,
        /// The time of interest.
        at: Timestamp,
    },
}

/// Where a report's data comes from. Every method answers from what the
/// source holds and returns nothing (not an error) when it holds nothing.
pub trait ReportSource {
    /// What the data is, for the report's header ("a replay of spans.jsonl").
    fn describe(&self) -> String;
    /// An incident by id.
    fn incident(&self, id: &str) -> Option<IncidentRef>;
    /// Every alert detected in `[from, to]`, oldest first.
    fn alerts(&self, from: Timestamp, to: Timestamp) -> Vec<Alert>;
    /// Releases of `environment` started, exposed or rolled back in `[from, to]`.
    fn releases(&self, environment: &str, from: Timestamp, to: Timestamp) -> Vec<Release>;
    /// Per-window points of one service in `[from, to]`, in time order.
    fn series(
        &self,
        service: &str,
        environment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<SeriesPoint>;
    /// Services that depend on `service`, nearest first.
    fn dependents(&self, service: &str, environment: &str) -> Vec<Dependent>;
    /// The owner of `service`.
    fn owner(&self, service: &str) -> Option<OwnerRef>;
    /// The environment `service` was seen in, when the caller gave none.
    fn environment_of(&self, service: &str) -> Option<String>;
    /// Suspects for an anomaly of `service` around `at` when no alert
    /// covers it (the history store's `which-release`); `None` when the
    /// source cannot attribute after the fact.
    fn which_release(
        &self,
        service: &str,
        environment: &str,
        at: Timestamp,
    ) -> Option<Vec<Suspect>> {
        let _ = (service, environment, at);
        None
    }
}

fn about(alert: &Alert, service: &str) -> bool {
    alert.anomaly.as_ref().is_some_and(|a| a.service == service)
}

fn anomaly_kind(alert: &Alert) -> bool {
    matches!(alert.kind, AlertType::Anomaly | AlertType::Attribution) && alert.anomaly.is_some()
}

/// The anomaly or attribution alert the report is about.
fn lead<'a>(
    alerts: &'a [Alert],
    service: &str,
    env: Option<&str>,
    at: Timestamp,
) -> Option<&'a Alert> {
    let candidates = alerts
        .iter()
        .filter(|a| anomaly_kind(a) && about(a, service) && env.is_none_or(|e| a.environment == e));
    let mut best: Option<(u64, &Alert)> = None;
    for alert in candidates {
        let Some(anomaly) = &alert.anomaly else {
            continue;
        };
        let end = recovery(alerts, alert).unwrap_or(Timestamp(u64::MAX));
        let distance = if anomaly.onset <= at && at <= end {
            0
        } else {
            anomaly.onset.nanos().abs_diff(at.nanos())
        };
        if distance <= MATCH_WINDOW && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, alert));
        }
    }
    best.map(|(_, a)| a)
}

/// When the alert's anomaly recovered: its own `recovered_at`, or that of
/// (or the detection time of) a `resolved` alert of the same incident.
fn recovery(alerts: &[Alert], alert: &Alert) -> Option<Timestamp> {
    let chain = related(alerts, alert);
    let recovered = chain
        .iter()
        .filter_map(|a| a.anomaly.as_ref().and_then(|x| x.recovered_at))
        .min();
    recovered.or_else(|| {
        chain
            .iter()
            .filter(|a| a.kind == AlertType::Resolved)
            .map(|a| a.detected_at)
            .min()
    })
}

/// Every alert of the lead's incident: linked by `resolves`, or the same
/// series with the same onset.
fn related<'a>(alerts: &'a [Alert], lead: &Alert) -> Vec<&'a Alert> {
    let key = lead.anomaly.as_ref().map(|a| (a.series.clone(), a.onset));
    let mut ids: BTreeSet<String> = BTreeSet::from([lead.id.clone()]);
    loop {
        let before = ids.len();
        for a in alerts {
            let linked = a.resolves.as_ref().is_some_and(|r| ids.contains(r))
                || (ids.contains(&a.id) && a.resolves.is_some());
            let same = a.anomaly.as_ref().map(|x| (x.series.clone(), x.onset)) == key
                && key.is_some()
                && a.environment == lead.environment;
            if linked || same {
                ids.insert(a.id.clone());
                if let Some(r) = &a.resolves {
                    ids.insert(r.clone());
                }
            }
        }
        if ids.len() == before {
            break;
        }
    }
    let mut out: Vec<&Alert> = alerts.iter().filter(|a| ids.contains(&a.id)).collect();
    out.sort_by(|a, b| a.detected_at.cmp(&b.detected_at).then(a.id.cmp(&b.id)));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

fn same_release(r: &ReleaseRef, release: &ReleaseRef) -> bool {
    r.service == release.service
        && r.version == release.version
        && r.environment == release.environment
}

fn release_text(r: &Release) -> String {
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

/// Builds the report input for `subject` from `source`.
///
/// # Errors
/// [`ReportError::UnknownIncident`] when the source does not know the incident.
pub fn assemble(source: &dyn ReportSource, subject: &Subject) -> Result<ReportInput, ReportError> {
    let (service, env_hint, at, incident) = match subject {
        Subject::Incident(id) => {
            let found = source
                .incident(id)
                .ok_or_else(|| ReportError::UnknownIncident(id.clone()))?;
            (
                found.service.clone(),
                found.environment.clone(),
                found.at,
                Some(found),
            )
        }
        Subject::Service {
            service,
            environment,
            at,
        } => (service.clone(), environment.clone(), *at, None),
    };
    let alerts = source.alerts(
        at.minus_nanos(ALERT_LOOKAROUND),
        at.plus_nanos(ALERT_LOOKAROUND),
    );
    let lead = lead(&alerts, &service, env_hint.as_deref(), at);
    let environment = env_hint
        .or_else(|| lead.map(|a| a.environment.clone()))
        .or_else(|| source.environment_of(&service))
        .unwrap_or_default();
    let chain = lead.map(|l| related(&alerts, l)).unwrap_or_default();
    let best = chain
        .iter()
        .rev()
        .find(|a| a.kind == AlertType::Attribution)
        .or_else(|| chain.iter().rev().find(|a| a.kind == AlertType::Anomaly))
        .copied();
    let mut unknowns = Vec::new();
    let mut anomaly = best.and_then(|a| a.anomaly.clone());
    if let (Some(anomaly), Some(lead)) = (&mut anomaly, lead) {
        anomaly.recovered_at = anomaly.recovered_at.or(recovery(&alerts, lead));
    }
    let mut suspects = best.map(|a| a.suspects.clone()).unwrap_or_default();
    if best.is_none() {
        if let Some(found) = source.which_release(&service, &environment, at) {
            if !found.is_empty() {
                unknowns.push("No alert fired at the time: the suspects were computed afterwards from the stored history.".to_string());
            }
            suspects = found;
        }
    }
    let top = suspects.first().map(|s| s.release.clone());
    let verdict: Option<VerdictInfo> = top.as_ref().and_then(|top| {
        alerts
            .iter()
            .filter_map(|a| a.verdict.as_ref())
            .find(|v| same_release(&v.release, top))
            .cloned()
    });
    let verdict_at = top.as_ref().and_then(|top| {
        alerts
            .iter()
            .find(|a| {
                a.verdict
                    .as_ref()
                    .is_some_and(|v| same_release(&v.release, top))
            })
            .map(|a| a.detected_at)
    });

    // The period: everything that happened, padded.
    let onset = anomaly.as_ref().map(|a| a.onset);
    let anchor = onset.unwrap_or(at);
    let mut span = (at.min(anchor), at.max(anchor));
    if let Some(started) = top.as_ref().and_then(|r| r.started_at)
        && started.nanos().abs_diff(anchor.nanos()) <= RELEASE_REACH
    {
        widen(&mut span, started);
    }
    for a in &chain {
        widen(&mut span, a.detected_at);
    }
    if let Some(r) = anomaly.as_ref().and_then(|a| a.recovered_at) {
        widen(&mut span, r);
    }
    let releases: Vec<Release> = source
        .releases(
            &environment,
            span.0.minus_nanos(RELEASE_REACH),
            span.1.plus_nanos(RELEASE_REACH),
        )
        .into_iter()
        .filter(|r| {
            let near = |t: Timestamp| t.nanos().abs_diff(anchor.nanos()) <= RELEASE_REACH;
            near(r.started_at) || r.rolled_back_at.is_some_and(near)
        })
        .collect();
    if let Some(top) = &top
        && let Some(r) = releases
            .iter()
            .find(|r| *r.key.service == *top.service && *r.key.version == *top.version)
        && let Some(back) = r.rolled_back_at
        && back.nanos().abs_diff(anchor.nanos()) <= RELEASE_REACH
    {
        widen(&mut span, back);
    }
    let pad = MIN_PAD.max((span.1.nanos() - span.0.nanos()) / 4);
    let from = span.0.minus_nanos(pad);
    let to = span.1.plus_nanos(pad);

    // Timeline.
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
    if let Some(a) = &anomaly {
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
    if let (Some(v), Some(at)) = (&verdict, verdict_at) {
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
    if let Some(i) = incident.as_ref().filter(|i| i.external) {
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
    timeline.sort_by_key(|e| e.at);

    // Charts: the service, the top suspect's service, then affected services.
    let mut charted: Vec<String> = vec![service.clone()];
    let affected: Vec<String> = best.map(|a| a.affected.clone()).unwrap_or_default();
    for name in top
        .iter()
        .map(|r| r.service.clone())
        .chain(affected.iter().cloned())
    {
        if charted.len() < MAX_CHARTED && !charted.contains(&name) {
            charted.push(name);
        }
    }
    let series: Vec<ServiceSeries> = charted
        .iter()
        .map(|s| ServiceSeries {
            service: s.clone(),
            points: source.series(s, &environment, from, to),
        })
        .collect();
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

    // Owners: the service, the suspects' services, the affected ones.
    let mut owners: Vec<OwnerRef> = Vec::new();
    let wanted = std::iter::once(service.clone())
        .chain(suspects.iter().map(|s| s.release.service.clone()))
        .chain(affected.iter().cloned());
    for name in wanted {
        if owners.iter().any(|o| o.service == name) {
            continue;
        }
        let known = best.and_then(|a| a.owners.iter().find(|o| o.service == name).cloned());
        if let Some(owner) = known.or_else(|| source.owner(&name)) {
            owners.push(owner);
        }
    }
    if let Some(last) = series
        .iter()
        .flat_map(|s| s.points.last())
        .map(|p| p.at)
        .max()
        && last.plus_nanos(pad / 2) < to
    {
        unknowns.push(format!(
            "The data ends at {} UTC, before the end of the charted period.",
            hhmm(last)
        ));
    }

    let dependents = source.dependents(&service, &environment);
    let title = match (&incident, &anomaly, &top) {
        (Some(IncidentRef { title: Some(t), .. }), _, _) => t.clone(),
        (_, Some(a), Some(r)) => format!(
            "{} of {} rose after {} {}",
            capitalize(&a.signal.replace('_', " ")),
            a.service,
            r.service,
            r.version
        ),
        (_, Some(a), None) => format!(
            "{} of {} rose",
            capitalize(&a.signal.replace('_', " ")),
            a.service
        ),
        _ => format!("{service} around {} UTC", hhmm(at)),
    };
    Ok(ReportInput {
        title,
        service: service.clone(),
        environment,
        at,
        from,
        to,
        anomaly,
        severity: best.map(|a| a.severity),
        alert_ids: chain.iter().map(|a| a.id.clone()).collect(),
        recommendation: best.and_then(|a| a.recommendation.clone()),
        suspects,
        verdict,
        timeline,
        blast_radius: BlastRadius {
            affected,
            dependents,
        },
        owners,
        series,
        markers,
        unknowns,
        source: source.describe(),
    })
}

fn widen(span: &mut (Timestamp, Timestamp), t: Timestamp) {
    span.0 = span.0.min(t);
    span.1 = span.1.max(t);
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
