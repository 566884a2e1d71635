//! Reported incidents (`POST /api/v1/incidents`, the `incidents` topic,
//! `replay --incidents`): each is answered once with an alert naming the
//! release that explains it, if any.
//!
//! An incident on service S at `started_at` is answered at event time
//! `due` = `started_at + analysis.incident_margin_secs`, rounded up to the
//! graph's window grid: when the watermark reaches `due` (or at once, when
//! it already has). The answer reads only what was known by `due`: windows
//! that started before `due`, anomalies detected by then, and the releases
//! that started before it, so replay and the daemon answer alike when the
//! incident arrives in time (a late one reads the same windows; releases and
//! open anomalies are then as of its arrival).
//!
//! How: in S's environment (the reported one, else the one where S served
//! the most requests around `started_at`), the anomalies detection opened on
//! S or on what S depends on, with an onset within the attribution lookback
//! before `started_at` and not recovered before it, are attributed like the
//! analyzer's own; the best attribution wins, S's own series first. With no
//! such anomaly, S's service series itself is compared around `started_at`
//! against the median of the lookback before it (error ratio, or p95
//! latency when only latency moved), and that is attributed. No suspect
//! means an `anomaly` alert ("no release explains it").
//!
//! Never does: I/O, clock reads; it never alters the analyzer's own
//! anomaly grouping, blame or verdicts.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use super::{Analyzer, Outcome, SUBJECT_CONFIDENCE_SLACK, rank};
use crate::attribute::{self, AnomalyContext, Attribution};
use crate::detect::origins;
use crate::model::{
    Anomaly, Culprit, GraphSnapshot, Incident, IncidentAnswer, IncidentRef, ReleaseKey, SeriesKey,
    Signal, Timestamp, incident_alert_id, series_scope,
};

use super::super::inputs;

impl Analyzer {
    /// Takes a reported incident: answers it now when the watermark has
    /// passed its due time, else queues it for the window that does. An id
    /// already taken (a re-delivery) is ignored.
    pub fn on_incident(&mut self, incident: Incident) -> Outcome {
        let mut out = Outcome::default();
        if self.incident_ids.contains_key(&incident.id) {
            return out;
        }
        self.incident_ids
            .insert(incident.id.clone(), incident.started_at);
        let due = self.incident_due(incident.started_at);
        if due <= self.watermark {
            self.answer_incident(incident, due, &mut out);
            for alert in &mut out.alerts {
                self.settings.owners.annotate(alert);
            }
        } else {
            self.seq += 1;
            self.incidents_pending.insert((due, self.seq), incident);
        }
        out
    }

    /// Incidents queued, not yet answered.
    pub fn pending_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents_pending.values()
    }

    /// Reported incident ids taken (pending or answered and not yet
    /// forgotten), with their start; for the journal.
    pub fn incident_ids(&self) -> &BTreeMap<String, Timestamp> {
        &self.incident_ids
    }

    /// Puts back what a journal remembered of reported incidents: `pending`
    /// are queued for their due time again (answered at the next window
    /// when it already passed), and the ids in `taken` are ignored when
    /// re-sent, until they leave the history like live ones.
    pub(crate) fn restore_incidents(
        &mut self,
        taken: &BTreeMap<String, Timestamp>,
        pending: &[Incident],
    ) {
        for incident in pending {
            if self.incidents_pending.values().any(|p| p.id == incident.id) {
                continue;
            }
            let due = self.incident_due(incident.started_at);
            self.seq += 1;
            self.incidents_pending
                .insert((due, self.seq), incident.clone());
            self.incident_ids
                .insert(incident.id.clone(), incident.started_at);
        }
        for (id, started) in taken {
            self.incident_ids.entry(id.clone()).or_insert(*started);
        }
    }

    /// When an incident that started at `started_at` is answered.
    fn incident_due(&self, started_at: Timestamp) -> Timestamp {
        let at = started_at
            .plus_nanos(self.settings.incident_margin_ns)
            .nanos();
        let window = self.settings.window_ns.max(1);
        Timestamp(at.div_ceil(window).saturating_mul(window))
    }

    /// Answers every queued incident due by `now`, and forgets old ids.
    pub(super) fn answer_due_incidents(&mut self, now: Timestamp, out: &mut Outcome) {
        while let Some(entry) = self.incidents_pending.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((due, _), incident) = entry.remove_entry();
            self.answer_incident(incident, due, out);
        }
        // Ids are forgotten with the history, except while still pending
        // (an incident may start long before it is due).
        let horizon = now.minus_nanos(self.history_ns);
        let pending: BTreeSet<&str> = self
            .incidents_pending
            .values()
            .map(|i| i.id.as_str())
            .collect();
        self.incident_ids
            .retain(|id, started| *started >= horizon || pending.contains(id.as_str()));
    }

    /// Keeps the anomalies detection reported, as first opened (recovery
    /// time added), for incidents reported later.
    pub(super) fn remember_anomalies(&mut self, detected: &crate::detect::DetectOutcome) {
        for anomaly in &detected.opened {
            self.incident_anomalies
                .entry(anomaly.id.clone())
                .or_insert_with(|| anomaly.clone());
        }
        for anomaly in detected.recovered.iter().chain(&detected.expired) {
            if let Some(known) = self.incident_anomalies.get_mut(&anomaly.id) {
                known.recovered_at = anomaly.recovered_at.or(Some(anomaly.detected_at));
            }
        }
        let horizon = self.watermark.minus_nanos(self.history_ns);
        self.incident_anomalies
            .retain(|_, a| a.recovered_at.is_none_or(|r| r >= horizon) && a.onset >= horizon);
    }

    fn answer_incident(&mut self, incident: Incident, now: Timestamp, out: &mut Outcome) {
        let settings = self.settings.attribute.clone();
        let graph = self.topology.snapshot();
        let environment = self.incident_environment(&incident, now);
        let service = incident.service.clone();
        let from = incident.started_at.minus_nanos(settings.lookback_ns);
        let margin = self.settings.incident_margin_ns;
        let scope = dependencies(&graph, &service, settings.max_path_hops);
        let mut related: Vec<Anomaly> = self
            .incident_anomalies
            .values()
            .filter(|a| a.detected_at <= now && a.onset >= from && a.onset <= now)
            .filter(|a| {
                a.recovered_at
                    .is_none_or(|r| r.plus_nanos(margin) >= incident.started_at)
            })
            .filter(|a| {
                let (env, svc) = series_scope(&a.series);
                env == environment
                    && (svc == &*service || scope.contains(origins::subject(&a.series).1))
            })
            .cloned()
            .collect();
        related.sort_by(|a, b| {
            rank(a, &service)
                .cmp(&rank(b, &service))
                .then_with(|| a.onset.cmp(&b.onset))
                .then_with(|| a.id.cmp(&b.id))
        });
        let synthetic = related.is_empty();
        if synthetic {
            related.push(self.measured_anomaly(&incident, &environment, now));
        }
        let earliest = related
            .iter()
            .map(|a| a.onset)
            .min()
            .unwrap_or(incident.started_at);
        let candidates: Vec<_> = self
            .releases
            .candidates(
                &environment,
                earliest.minus_nanos(settings.lookback_ns),
                now,
            )
            .into_iter()
            .filter(|r| r.started_at <= now)
            .map(|r| {
                inputs::candidate_input(&self.history, &self.topology, r, settings.lookback_ns, now)
            })
            .collect();
        let anomalous = self.anomalous(now);
        let mut scored: Vec<(usize, Attribution, f64)> = Vec::new();
        if !candidates.is_empty() {
            for (i, anomaly) in related.iter().enumerate() {
                let mut ctx = AnomalyContext::new(anomaly, &graph, now);
                ctx.anomalous_nodes = anomalous.nodes.clone();
                ctx.anomalous_edges = anomalous.edges.clone();
                ctx.timeline = inputs::timeline(
                    &self.history,
                    &anomaly.series,
                    anomaly.signal,
                    anomaly.onset.minus_nanos(settings.lookback_ns),
                    now,
                );
                let attribution = attribute::attribute(&settings, &ctx, &candidates);
                if let Some(top) = attribution.suspects.first() {
                    let confidence = top.confidence;
                    scored.push((i, attribution, confidence));
                }
            }
        }
        let top = scored.iter().map(|s| s.2).fold(0.0, f64::max);
        let (index, attribution) = scored
            .into_iter()
            .find(|s| s.2 >= top - SUBJECT_CONFIDENCE_SLACK)
            .map_or((0, Attribution::default()), |(i, a, _)| (i, a));
        let mut anomaly = related.swap_remove(index);
        anomaly.detected_at = now;
        let mut alert = attribute::anomaly_alert(&settings, &anomaly, &graph, &attribution, None);
        alert.id = incident_alert_id(&incident.id);
        alert.detected_at = now;
        alert.environment = environment.clone();
        alert.summary = if synthetic && anomaly.requests == 0 && attribution.suspects.is_empty() {
            format!(
                "incident {} on {service}: no traffic of {service} seen around {}; no release explains it",
                incident.id, incident.started_at
            )
        } else {
            format!("incident {}: {}", incident.id, alert.summary)
        };
        alert.incident = Some(IncidentRef {
            id: incident.id.clone(),
            title: incident.title.clone(),
            service: service.to_string(),
            started_at: incident.started_at,
            source: incident.source.as_str().to_owned(),
        });
        let culprit = attribution.suspects.first().map(|top| {
            let key = ReleaseKey {
                service: top.release.service.as_str().into(),
                environment: top.release.environment.as_str().into(),
                version: top.release.version.as_str().into(),
            };
            Culprit {
                release: top.release.clone(),
                artifact_id: self
                    .releases
                    .release(&key)
                    .and_then(|r| r.artifact_id.clone()),
            }
        });
        out.alerts.push(alert.clone());
        out.incidents.push(IncidentAnswer {
            incident,
            environment,
            alert,
            culprit,
        });
    }

    /// The reported environment, else the one where the service served the
    /// most requests in the lookback before `now` (ties: the first by name),
    /// else that of its latest release, else `""`.
    fn incident_environment(&self, incident: &Incident, now: Timestamp) -> String {
        if let Some(environment) = &incident.environment {
            return environment.to_string();
        }
        let from = incident
            .started_at
            .minus_nanos(self.settings.attribute.lookback_ns);
        let mut totals: BTreeMap<&Arc<str>, u64> = BTreeMap::new();
        for window in self.history.between(from, now) {
            for ((environment, service), slice) in &window.slices {
                if **service == *incident.service {
                    *totals.entry(environment).or_default() +=
                        slice.service.as_ref().map_or(0, |s| s.requests);
                }
            }
        }
        let busiest =
            totals
                .into_iter()
                .fold(None::<(&Arc<str>, u64)>, |best, (env, n)| match best {
                    Some((_, m)) if m >= n => best,
                    _ => Some((env, n)),
                });
        if let Some((environment, _)) = busiest {
            return environment.to_string();
        }
        self.releases
            .releases_since(Timestamp::default())
            .into_iter()
            .filter(|r| r.key.service == incident.service && r.started_at <= now)
            .max_by_key(|r| r.started_at)
            .map(|r| r.key.environment.to_string())
            .unwrap_or_default()
    }

    /// An anomaly measured on the service's own series when detection
    /// reported none: the signal that moved (error ratio, else p95 latency),
    /// the median of the lookback before `started_at` as baseline, what was
    /// served from `started_at - margin` to `now` as observed, and an onset
    /// walked back from `started_at` while the value stayed above half-way.
    fn measured_anomaly(&self, incident: &Incident, environment: &str, now: Timestamp) -> Anomaly {
        let series = SeriesKey::Service {
            environment: environment.into(),
            service: incident.service.clone(),
        };
        let lookback = self.settings.attribute.lookback_ns;
        let start = incident.started_at;
        let observed_from = start.minus_nanos(self.settings.incident_margin_ns);
        let measure = |signal: Signal| {
            let before: Vec<f64> = inputs::timeline(
                &self.history,
                &series,
                signal,
                start.minus_nanos(lookback),
                start,
            )
            .into_iter()
            .map(|(_, v)| v)
            .collect();
            let after = inputs::timeline(&self.history, &series, signal, observed_from, now);
            let observed = if after.is_empty() {
                0.0
            } else {
                after.iter().map(|(_, v)| v).sum::<f64>() / after.len() as f64
            };
            (median(before), observed)
        };
        let (error_base, error_seen) = measure(Signal::ErrorRatio);
        let (p95_base, p95_seen) = measure(Signal::LatencyP95);
        let errors_moved = error_seen > error_base + 0.01 && error_seen > 2.0 * error_base;
        let latency_moved = p95_seen > 1.5 * p95_base && p95_seen > 0.0;
        let (signal, baseline, observed) = if !errors_moved && latency_moved {
            (Signal::LatencyP95, p95_base, p95_seen)
        } else {
            (Signal::ErrorRatio, error_base, error_seen)
        };
        let threshold = baseline + (observed - baseline) / 2.0;
        let values: VecDeque<(Timestamp, f64)> = inputs::timeline(
            &self.history,
            &series,
            signal,
            start.minus_nanos(lookback),
            now,
        )
        .into();
        let mut onset = start;
        if observed > baseline {
            for (at, value) in values.iter().rev() {
                if *at > start {
                    continue;
                }
                if *value <= threshold {
                    break;
                }
                onset = *at;
            }
        }
        let requests = self
            .history
            .between(observed_from, now)
            .filter_map(|w| w.slice(environment, &incident.service)?.service.as_ref())
            .map(|s| s.requests)
            .sum();
        Anomaly {
            id: format!("incident:{}", incident.id),
            series,
            signal,
            onset,
            detected_at: now,
            baseline,
            observed,
            significance: 0.0,
            requests,
            origins: Vec::new(),
            recovered_at: None,
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `service` and every node it calls, transitively, within `max_hops`.
fn dependencies(graph: &GraphSnapshot, service: &str, max_hops: u32) -> BTreeSet<String> {
    let mut seen = BTreeSet::from([service.to_owned()]);
    let mut frontier = vec![service.to_owned()];
    for _ in 0..max_hops {
        let mut next = Vec::new();
        for edge in &graph.edges {
            if frontier.iter().any(|f| **f == *edge.client) && seen.insert(edge.server.to_string())
            {
                next.push(edge.server.to_string());
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    seen
}
