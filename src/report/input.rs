//! What a report is made of: plain data, filled by [`super::assemble`] (or by
//! hand in tests) and turned into Markdown and SVG by [`super::render`].
//!
//! Never does: I/O, clock reads, or deciding anything.

use crate::model::{AlertAnomaly, OwnerRef, Severity, Suspect, Timestamp, VerdictInfo};

/// Everything one post-mortem draft shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportInput {
    /// Headline ("Error ratio of payment rose after payment 1.5.0").
    pub title: String,
    /// The service the report is about (the anomalous one).
    pub service: String,
    /// Its environment (empty when unknown).
    pub environment: String,
    /// The time of interest the report was asked for, event time.
    pub at: Timestamp,
    /// Start of the period the charts and the timeline cover.
    pub from: Timestamp,
    /// End of that period.
    pub to: Timestamp,
    /// The anomaly, when one was detected around `at`.
    pub anomaly: Option<AlertAnomaly>,
    /// Severity of the alert, when one was sent.
    pub severity: Option<Severity>,
    /// Ids of the alerts this report draws on, oldest first.
    pub alert_ids: Vec<String>,
    /// What Epicenter recommended at the time, if anything.
    pub recommendation: Option<String>,
    /// Releases suspected, best first, in the alert's shape.
    pub suspects: Vec<Suspect>,
    /// The verdict on the top suspect, when one was reached.
    pub verdict: Option<VerdictInfo>,
    /// What happened, in event-time order (the renderer sorts again, stably).
    pub timeline: Vec<TimelineEvent>,
    /// Who was hit and who depends on the service.
    pub blast_radius: BlastRadius,
    /// Owners of the service, the suspects' services and the affected ones.
    pub owners: Vec<OwnerRef>,
    /// Per-service series over `[from, to]`, one entry per charted service.
    pub series: Vec<ServiceSeries>,
    /// Vertical markers on the charts (release starts and rollbacks).
    pub markers: Vec<ReleaseMarker>,
    /// Things the data cannot tell, found while assembling (the renderer
    /// adds what it can see itself: an implicit release, low traffic, …).
    pub unknowns: Vec<String>,
    /// Where the data came from ("replay of spans.jsonl").
    pub source: String,
}

/// What a timeline entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A release (rollout) started.
    ReleaseStarted,
    /// The new version first served traffic.
    ReleaseExposed,
    /// The rollout reached (nearly) all instances.
    ReleaseFinished,
    /// A release was rolled back.
    Rollback,
    /// The anomaly's estimated start.
    Onset,
    /// Epicenter's first alert.
    Detection,
    /// Epicenter named a release as the likely cause.
    Attribution,
    /// The anomaly recovered.
    Recovery,
    /// An incident was opened (pager, incident tool).
    Incident,
    /// A release verdict was reached.
    Verdict,
}

impl EventKind {
    /// Human label for the timeline table.
    pub fn label(self) -> &'static str {
        match self {
            Self::ReleaseStarted => "release started",
            Self::ReleaseExposed => "new version serving",
            Self::ReleaseFinished => "release finished",
            Self::Rollback => "rollback",
            Self::Onset => "onset",
            Self::Detection => "detection",
            Self::Attribution => "attribution",
            Self::Recovery => "recovery",
            Self::Incident => "incident opened",
            Self::Verdict => "verdict",
        }
    }
}

/// One timeline entry.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEvent {
    /// When, event time.
    pub at: Timestamp,
    /// What.
    pub kind: EventKind,
    /// Details ("payment 1.4.0 → 1.5.0, deployment d-42").
    pub text: String,
}

/// Who was hit and who depends on the service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlastRadius {
    /// Services whose traffic was hit (the alert's `affected`).
    pub affected: Vec<String>,
    /// Services that call the service, directly or transitively.
    pub dependents: Vec<Dependent>,
}

/// A service that depends on the report's service.
#[derive(Clone, Debug, PartialEq)]
pub struct Dependent {
    /// The calling service.
    pub service: String,
    /// Hops to the report's service (1 = calls it directly).
    pub depth: u32,
    /// Estimated share (0..=1) of the report's service's inbound requests
    /// that originate from this dependent, when known.
    pub traffic_share: Option<f64>,
}

/// One service's series over the report's period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceSeries {
    /// Service name (the chart legend).
    pub service: String,
    /// Points in time order, one per window.
    pub points: Vec<SeriesPoint>,
}

/// One window of one service.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SeriesPoint {
    /// Window start, event time.
    pub at: Timestamp,
    /// Requests served in the window.
    pub requests: u64,
    /// Failed / total requests (ignored when `requests` is 0).
    pub error_ratio: f64,
    /// Median latency, seconds.
    pub latency_p50_secs: f64,
    /// 99th percentile latency, seconds.
    pub latency_p99_secs: f64,
}

impl SeriesPoint {
    /// Whether the point has traffic and finite values to draw.
    pub fn drawable(&self) -> bool {
        self.requests > 0
            && self.error_ratio.is_finite()
            && self.latency_p50_secs.is_finite()
            && self.latency_p99_secs.is_finite()
    }
}

/// A vertical marker on the charts.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseMarker {
    /// When, event time.
    pub at: Timestamp,
    /// Label ("payment 1.5.0", "rollback payment → 1.4.0").
    pub label: String,
}
