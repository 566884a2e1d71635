//! The deterministic analysis core: deployment events and closed windows in,
//! alerts out. The daemon's analysis task and `epicenter replay` both drive
//! exactly this, so replay gives the alerts the daemon gave.
//!
//! Per closed window, in order:
//! 1. deployment events with an event time before the window's end are
//!    applied to the release index, oldest first (events that arrive later
//!    than that are applied before the next window);
//! 2. the release index reads the window's version series (implicit
//!    releases, exposure, rollout share, canary, rollback);
//! 3. the window is added to the recent history (for evidence), and merged
//!    into the current detection window (`analysis.detect_window_secs`);
//!    each completed detection window then goes through steps 4–7;
//! 4. the topology tracker folds the window in and reports new and vanished
//!    edges (a `topology_change` alert per environment, naming the release of
//!    the caller that coincides);
//! 5. detection judges every series; anomalies that open are grouped into
//!    *incidents* by (environment, most likely origin): one alert per
//!    incident, not one per series;
//! 6. each open incident not yet attributed is attributed again while its
//!    evidence grows (for `reattribute_secs` after onset): the first alert is
//!    `anomaly` (no suspect) or `attribution`; an attribution found later is
//!    sent as an `attribution` alert that supersedes the `anomaly` alert;
//! 7. an incident whose anomalies have all recovered gets a `resolved` alert;
//! 8. releases whose soak window has passed get a `release_verdict`.
//!
//! Never does: I/O, clock reads, logging or metrics (the caller records the
//! [`Outcome`]), hash-map iteration in outputs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::attribute::{self, AnomalyContext, Attribution};
use crate::detect::{Detect, origins};
use crate::model::{
    Alert, Anomaly, DeployEvent, ReleaseChange, ReleaseKey, SeriesKey, Suspect, Timestamp, Verdict,
    WindowStats, series_scope,
};
use crate::release::{EventOutcome, ReleaseIndex};

use super::coarse::Coarsen;
use super::config::Settings;

mod incidents;
mod reported;
mod verdicts;
mod watch;

use super::history::History;
use super::inputs;
use super::kept::{KeptWindow, Keys};
use super::topology::Topology;
use incidents::rank;

/// What one step of the analyzer produced.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Alerts to deliver, in a deterministic order.
    pub alerts: Vec<Alert>,
    /// Release index changes (for metrics and logs).
    pub changes: Vec<ReleaseChange>,
    /// What happened to each deployment event applied in this step.
    pub events: Vec<EventOutcome>,
    /// Detection's per-window outcome (counts, opened and recovered anomalies).
    pub detect: Option<crate::detect::DetectOutcome>,
    /// Seconds from onset to the first `attribution` alert of each incident
    /// attributed in this step.
    pub attribution_delays: Vec<f64>,
    /// Verdicts reached in this step.
    pub verdicts: Vec<(ReleaseKey, Verdict)>,
    /// Detection windows completed in this step (for the durable history).
    pub windows: Vec<WindowStats>,
    /// Reported incidents answered in this step, with their answer alert
    /// (also in `alerts`).
    pub incidents: Vec<crate::model::IncidentAnswer>,
}

/// An incident: anomalies that share an environment and an origin.
#[derive(Clone, Debug)]
struct Incident {
    /// The anomaly the alert is about.
    lead: Anomaly,
    /// Ids of every anomaly in the incident that is still open.
    open: BTreeSet<String>,
    /// Every anomaly in the incident (latest state), for attribution.
    members: BTreeMap<String, Anomaly>,
    /// The last alert sent.
    alert: Alert,
    /// The top suspect, once attributed.
    blamed: Option<Suspect>,
}

/// Release index, detection, topology and attribution over closed windows.
#[derive(Debug)]
pub struct Analyzer {
    settings: Settings,
    releases: ReleaseIndex,
    detect: Detect,
    history: History,
    /// Interns the keys of the windows the history keeps.
    keys: Keys,
    coarse: Coarsen,
    topology: Topology,
    pending: BTreeMap<(Timestamp, u64), DeployEvent>,
    seq: u64,
    /// Incidents by (environment, origin node).
    incidents: BTreeMap<(Arc<str>, String), Incident>,
    judged: BTreeSet<ReleaseKey>,
    /// Release-watch anomalies ever opened (by id) and those still open.
    watched: BTreeSet<String>,
    watch_open: BTreeMap<String, Anomaly>,
    /// Releases blamed, with the incident's onset and recovery.
    blamed: BTreeMap<ReleaseKey, (Suspect, Timestamp, Option<Timestamp>)>,
    watermark: Timestamp,
    /// Reported incidents waiting for their due time, by (due, arrival).
    incidents_pending: BTreeMap<(Timestamp, u64), crate::model::Incident>,
    /// Reported incident ids taken (pending or answered), with their start.
    incident_ids: BTreeMap<String, Timestamp>,
    /// Anomalies detection opened, as opened (plus recovery), for incidents.
    incident_anomalies: BTreeMap<String, Anomaly>,
    /// How long the recent history is kept, nanoseconds.
    history_ns: u64,
}

impl Analyzer {
    /// An analyzer with no history.
    pub fn new(settings: Settings) -> Self {
        let retention =
            settings.attribute.lookback_ns + settings.attribute.soak_ns() + settings.window_ns;
        let history_ns = retention.max(settings.reattribute_ns + settings.attribute.lookback_ns);
        Self {
            releases: ReleaseIndex::new(settings.release.clone()),
            detect: Detect::new(settings.detect.clone()),
            history: History::new(history_ns),
            keys: Keys::default(),
            coarse: Coarsen::new(settings.detect_window_ns),
            topology: Topology::new(
                settings.topology_settle_ns,
                settings.topology_vanish_ns,
                settings.topology_ttl_ns,
                settings.topology_min_windows,
            ),
            settings,
            pending: BTreeMap::new(),
            seq: 0,
            incidents: BTreeMap::new(),
            judged: BTreeSet::new(),
            watched: BTreeSet::new(),
            watch_open: BTreeMap::new(),
            blamed: BTreeMap::new(),
            watermark: Timestamp::default(),
            incidents_pending: BTreeMap::new(),
            incident_ids: BTreeMap::new(),
            incident_anomalies: BTreeMap::new(),
            history_ns,
        }
    }

    /// The release index (for queries).
    pub fn releases(&self) -> &ReleaseIndex {
        &self.releases
    }

    /// Event time of the last window's end.
    pub fn watermark(&self) -> Timestamp {
        self.watermark
    }

    /// Alerts of the incidents still open, by incident.
    pub fn open_alerts(&self) -> impl Iterator<Item = &Alert> {
        self.incidents.values().map(|i| &i.alert)
    }

    /// Queues a deployment event; it is applied before the first window that
    /// ends after its event time (or before the next window, when late).
    pub fn on_deploy(&mut self, event: DeployEvent) {
        self.seq += 1;
        self.pending.insert((event.at, self.seq), event);
    }

    /// Analyzes one closed window. Windows must come in event-time order.
    pub fn on_window(&mut self, window: &WindowStats) -> Outcome {
        self.on_window_kept(window).0
    }

    /// [`Self::on_window`], also giving the whole window kept compactly, for
    /// the caller's journal (the history copies only the rows it reads, so
    /// the journal can let go of the window once it is stored).
    pub fn on_window_kept(&mut self, window: &WindowStats) -> (Outcome, Arc<KeptWindow>) {
        let kept = self.keys.window(window);
        (self.step(window, &kept), kept)
    }

    /// Windows in the recent history, and the bytes their rows take.
    pub fn history_footprint(&self) -> (usize, usize) {
        self.history.footprint()
    }

    /// [`Self::on_window`] for a window already kept (a journal's, on rebuild).
    pub fn on_kept_window(&mut self, kept: &Arc<KeptWindow>) -> Outcome {
        self.step(&kept.to_stats(), kept)
    }

    fn step(&mut self, window: &WindowStats, kept: &KeptWindow) -> Outcome {
        let mut out = Outcome::default();
        while let Some(entry) = self.pending.first_entry() {
            if entry.key().0 >= window.end {
                break;
            }
            let event = entry.remove();
            out.events.push(self.releases.apply_event(&event));
        }
        self.watermark = self.watermark.max(window.end);
        out.changes = self.releases.observe_window(window);
        self.history.push(kept);
        for coarse in self.coarse.push(window) {
            self.detect_window(&coarse, &mut out);
            out.windows.push(coarse);
        }
        self.answer_due_incidents(window.end, &mut out);
        self.judge_releases(window.end, &mut out);
        for alert in &mut out.alerts {
            self.settings.owners.annotate(alert);
        }
        out
    }

    /// Topology, detection, incidents and attribution over one detection window.
    fn detect_window(&mut self, window: &WindowStats, out: &mut Outcome) {
        let now = window.end;
        let changes = self.topology.observe(window);
        for (environment, (added, removed)) in changes.by_environment {
            out.alerts
                .push(self.topology_alert(&environment, &added, &removed, now));
        }
        let graph = self.topology.snapshot();
        let detected = self.detect.observe(window, &graph);
        self.remember_anomalies(&detected);
        for anomaly in &detected.opened {
            self.join_incident(anomaly.clone());
        }
        for anomaly in &detected.updated {
            self.update_member(anomaly);
        }
        for anomaly in detected.recovered.iter().chain(&detected.expired) {
            self.close_member(anomaly);
        }
        // Watch anomalies alert through their incidents.
        self.watch_releases(now);
        self.attribute_open(&graph, now, out);
        self.resolve_closed(out);
        match &mut out.detect {
            Some(previous) => *previous = detected,
            None => out.detect = Some(detected),
        }
    }

    /// Attributes every open incident that has no suspect yet, and sends
    /// the incident's first alert.
    fn attribute_open(
        &mut self,
        graph: &crate::model::GraphSnapshot,
        now: Timestamp,
        out: &mut Outcome,
    ) {
        let anomalous = self.anomalous(now);
        let keys: Vec<(Arc<str>, String)> = self.incidents.keys().cloned().collect();
        for key in keys {
            let Some(incident) = self.incidents.get(&key) else {
                continue;
            };
            let first = incident.alert.schema.is_empty();
            let fresh = now <= incident.lead.onset.plus_nanos(self.settings.reattribute_ns);
            if incident.blamed.is_some() || (!first && !fresh) || incident.open.is_empty() {
                continue;
            }
            let best = self.best_attribution(&key.1, incident, graph, &anomalous, now);
            let Some(incident) = self.incidents.get_mut(&key) else {
                continue;
            };
            let lead = incident.lead.clone();
            let (anomaly, attribution) = match best {
                Some((anomaly, attribution)) => (anomaly, attribution),
                None => (lead, Attribution::default()),
            };
            if !first && attribution.suspects.is_empty() {
                continue;
            }
            let supersedes = (!first).then(|| incident.alert.id.clone());
            let mut anomaly = anomaly;
            anomaly.detected_at = now;
            let alert = attribute::anomaly_alert(
                &self.settings.attribute,
                &anomaly,
                graph,
                &attribution,
                supersedes,
            );
            if let Some(top) = attribution.suspects.first() {
                let delay = now.nanos().saturating_sub(anomaly.onset.nanos()) as f64
                    / Timestamp::SECOND as f64;
                out.attribution_delays.push(delay);
                incident.blamed = Some(top.clone());
                let release_key = ReleaseKey {
                    service: top.release.service.as_str().into(),
                    environment: top.release.environment.as_str().into(),
                    version: top.release.version.as_str().into(),
                };
                self.blamed
                    .entry(release_key)
                    .or_insert_with(|| (top.clone(), anomaly.onset, None));
            }
            incident.alert = alert.clone();
            out.alerts.push(alert);
        }
    }

    /// The member anomaly whose attribution has the most confident suspect.
    fn best_attribution(
        &self,
        origin: &str,
        incident: &Incident,
        graph: &crate::model::GraphSnapshot,
        anomalous: &Anomalous,
        now: Timestamp,
    ) -> Option<(Anomaly, Attribution)> {
        let settings = &self.settings.attribute;
        let onset = incident.lead.onset;
        let environment = series_scope(&incident.lead.series).0;
        let from = onset.minus_nanos(settings.lookback_ns);
        let candidates: Vec<_> = self
            .releases
            .candidates(environment, from, now)
            .into_iter()
            .map(|r| {
                inputs::candidate_input(&self.history, &self.topology, r, settings.lookback_ns, now)
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        // Best subjects first: among attributions about as confident as the
        // most confident one, the alert names the origin's own series.
        let mut members: Vec<&Anomaly> = incident
            .members
            .values()
            .filter(|a| incident.open.contains(&a.id))
            .collect();
        members.sort_by_key(|a| rank(a, origin));
        let mut scored: Vec<(Anomaly, Attribution, f64)> = Vec::new();
        for anomaly in members {
            let mut ctx = AnomalyContext::new(anomaly, graph, now);
            ctx.anomalous_nodes = anomalous.nodes.clone();
            ctx.anomalous_edges = anomalous.edges.clone();
            ctx.timeline = inputs::timeline(
                &self.history,
                &anomaly.series,
                anomaly.signal,
                anomaly.onset.minus_nanos(settings.lookback_ns),
                now,
            );
            let attribution = attribute::attribute(settings, &ctx, &candidates);
            if let Some(top) = attribution.suspects.first() {
                let confidence = top.confidence;
                scored.push((anomaly.clone(), attribution, confidence));
            }
        }
        let top = scored.iter().map(|s| s.2).fold(0.0, f64::max);
        scored
            .into_iter()
            .find(|s| s.2 >= top - SUBJECT_CONFIDENCE_SLACK)
            .map(|(anomaly, attribution, _)| (anomaly, attribution))
    }

    fn anomalous(&self, _now: Timestamp) -> Anomalous {
        let mut out = Anomalous::default();
        for anomaly in self.detect.open_anomalies() {
            let (_, node) = origins::subject(&anomaly.series);
            out.nodes.insert(node.into());
            match &anomaly.series {
                SeriesKey::Edge { client, server, .. }
                | SeriesKey::EdgeByClientVersion { client, server, .. }
                | SeriesKey::EdgeByServerVersion { client, server, .. } => {
                    out.edges.insert((client.clone(), server.clone()));
                }
                _ => {}
            }
        }
        for anomaly in self.watch_open.values() {
            out.nodes.insert(origins::subject(&anomaly.series).1.into());
        }
        out
    }
}

/// How much less confident an attribution may be and still be preferred
/// because its anomaly is a better subject (the origin's own service series).
const SUBJECT_CONFIDENCE_SLACK: f64 = 0.1;

/// Nodes and edges with an open anomaly.
#[derive(Clone, Debug, Default)]
struct Anomalous {
    nodes: BTreeSet<Arc<str>>,
    edges: BTreeSet<(Arc<str>, Arc<str>)>,
}
