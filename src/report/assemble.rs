//! Assembling a [`ReportInput`] from any data source: the alerts around
//! the time asked for, the releases, per-window series, dependents and
//! owners. A source (a replay run, the history store, a daemon's API)
//! implements [`ReportSource`]; [`assemble`] decides what goes in.
//!
//! Never does: I/O itself (the source does), clock reads.

use crate::model::{Alert, AlertType, OwnerRef, Release, Suspect, Timestamp, VerdictInfo};

use super::ReportError;
use super::incident::{lead, recovery, related, same_release};
use super::input::{BlastRadius, Dependent, ReportInput, SeriesPoint, ServiceSeries};
use super::series::{bucket_nanos, downsample};
use super::text::hhmm;
use super::timeline::{incident_events, markers, release_events};

const MINUTE: u64 = 60 * Timestamp::SECOND;
/// Alerts are looked for this far either side of the time asked for.
const ALERT_LOOKAROUND: u64 = 6 * 60 * MINUTE;
/// A release counts for the period only when it started this close to the onset.
const RELEASE_REACH: u64 = 6 * 60 * MINUTE;
/// Least padding either side of what happened.
const MIN_PAD: u64 = 10 * MINUTE;
/// Services charted at most.
const MAX_CHARTED: usize = 4;

/// An incident a source knows by id (an incident tool's id, or an alert id).
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentInfo {
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
    fn incident(&self, id: &str) -> Option<IncidentInfo>;
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

/// Builds the report input for `subject` from `source`: the lead alert
/// (the anomaly or attribution on the service whose span covers the time, or
/// whose onset is nearest within 30 minutes), the other alerts of its
/// incident, the releases near the onset, and a period from the release to
/// the recovery padded by a quarter (at least 10 minutes) either side.
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
    if best.is_none()
        && let Some(found) = source.which_release(&service, &environment, at)
    {
        if !found.is_empty() {
            unknowns.push(
                "No alert fired at the time: the suspects were computed afterwards from the stored history."
                    .to_string(),
            );
        }
        suspects = found;
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

    let mut timeline = release_events(&releases, from, to);
    timeline.extend(incident_events(
        anomaly.as_ref(),
        &chain,
        verdict.as_ref().zip(verdict_at),
        incident.as_ref(),
    ));
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
    let bucket = bucket_nanos(from, to);
    let series: Vec<ServiceSeries> = charted
        .iter()
        .map(|s| ServiceSeries {
            service: s.clone(),
            points: downsample(&source.series(s, &environment, from, to), bucket),
        })
        .collect();
    let markers = markers(&releases, &charted, from, to);

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
        (Some(IncidentInfo { title: Some(t), .. }), _, _) => t.clone(),
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
