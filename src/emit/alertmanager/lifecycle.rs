//! The Alertmanager lifecycle, as a synchronous core: which alerts are
//! active, what to (re-)send now, and when to stop.
//!
//! * `anomaly` / `attribution`: firing from `detected_at` until a
//!   `resolved` alert names them (or an attribution supersedes an anomaly);
//!   every send carries `endsAt = now + 4 × resend` (Prometheus'
//!   `ValidUntil`, which survives two missed sends).
//! * `resolved`: `endsAt` = the recovery time, re-sent for
//!   `resolved_resend` (Alertmanager docs: "for up to 5 minutes").
//! * failing/degraded `release_verdict` and `topology_change`: events that
//!   fire for `event_hold`, then resolve. Healthy and inconclusive verdicts
//!   are not sent to Alertmanager (they are on Kafka and in the file).
//!
//! `now` is the wall clock, passed in; alert times are event time.
//! Never does: I/O or clock reads.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::model::{Alert, AlertType, Timestamp, Verdict};

use super::payload::{Mapping, PostableAlert, rfc3339};

#[derive(Clone, Debug, PartialEq)]
enum State {
    Firing {
        event_until: Option<Timestamp>,
    },
    Resolved {
        ends_at: Timestamp,
        forget_at: Timestamp,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    generator: String,
    starts_at: Timestamp,
    state: State,
    /// Insertion order, for eviction.
    seq: u64,
}

/// Active alerts keyed by the id of the alert that started them.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    entries: BTreeMap<String, Entry>,
    seq: u64,
    mapping: Mapping,
    resend_ns: u64,
    resolved_ns: u64,
    event_ns: u64,
    max_active: usize,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Lifecycle {
    pub(crate) fn new(
        mapping: Mapping,
        resend: Duration,
        resolved: Duration,
        event: Duration,
        max_active: usize,
    ) -> Self {
        Self {
            entries: BTreeMap::new(),
            seq: 0,
            mapping,
            resend_ns: ns(resend),
            resolved_ns: ns(resolved),
            event_ns: ns(event),
            max_active: max_active.max(1),
        }
    }

    /// Alerts tracked.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes in one alert; returns what to send now.
    pub(crate) fn observe(&mut self, alert: &Alert, now: Timestamp) -> Vec<PostableAlert> {
        let mut touched = Vec::new();
        match alert.kind {
            AlertType::Anomaly | AlertType::Attribution => {
                self.upsert(alert, &alert.id, State::Firing { event_until: None });
                touched.push(alert.id.clone());
                if let (AlertType::Attribution, Some(old)) = (alert.kind, &alert.resolves)
                    && self.resolve(old, alert.detected_at, now)
                {
                    touched.push(old.clone());
                }
            }
            AlertType::Resolved => {
                let Some(original) = alert.resolves.clone() else {
                    return Vec::new();
                };
                if !self.entries.contains_key(&original) {
                    // Unknown (e.g. after a restart): send the end anyway.
                    let start = alert
                        .anomaly
                        .as_ref()
                        .map_or(alert.detected_at, |a| a.onset);
                    self.upsert(alert, &original, State::Firing { event_until: None });
                    if let Some(e) = self.entries.get_mut(&original) {
                        e.starts_at = start;
                    }
                } else {
                    // Keep the firing labels; refresh the text.
                    let (_, annotations, _) = self.mapping.labels_and_annotations(alert);
                    if let Some(e) = self.entries.get_mut(&original) {
                        e.annotations = annotations;
                    }
                }
                self.resolve(&original, alert.detected_at, now);
                touched.push(original);
            }
            AlertType::ReleaseVerdict => {
                let bad = alert
                    .verdict
                    .as_ref()
                    .is_some_and(|v| matches!(v.verdict, Verdict::Failing | Verdict::Degraded));
                if !bad {
                    return Vec::new();
                }
                let until = now.plus_nanos(self.event_ns);
                self.upsert(
                    alert,
                    &alert.id,
                    State::Firing {
                        event_until: Some(until),
                    },
                );
                touched.push(alert.id.clone());
            }
            AlertType::TopologyChange => {
                let until = now.plus_nanos(self.event_ns);
                self.upsert(
                    alert,
                    &alert.id,
                    State::Firing {
                        event_until: Some(until),
                    },
                );
                touched.push(alert.id.clone());
            }
        }
        self.evict();
        touched
            .iter()
            .filter_map(|id| self.entries.get(id))
            .map(|e| self.postable(e, now))
            .collect()
    }

    /// The periodic re-send: every active alert, after expiring events and
    /// forgetting resolved alerts whose re-send period is over.
    pub(crate) fn tick(&mut self, now: Timestamp) -> Vec<PostableAlert> {
        let resolved_ns = self.resolved_ns;
        self.entries.retain(|_, e| match e.state {
            State::Resolved { forget_at, .. } => forget_at > now,
            State::Firing { .. } => true,
        });
        for e in self.entries.values_mut() {
            if let State::Firing {
                event_until: Some(until),
            } = e.state
                && until <= now
            {
                e.state = State::Resolved {
                    ends_at: until,
                    forget_at: now.plus_nanos(resolved_ns),
                };
            }
        }
        self.entries
            .values()
            .map(|e| self.postable(e, now))
            .collect()
    }

    fn upsert(&mut self, alert: &Alert, key: &str, state: State) {
        let (labels, annotations, generator) = self.mapping.labels_and_annotations(alert);
        self.seq += 1;
        match self.entries.get_mut(key) {
            Some(e) => {
                // Same finding re-sent: keep startsAt; a resolved one fires again.
                e.labels = labels;
                e.annotations = annotations;
                e.generator = generator;
                if matches!(state, State::Firing { .. })
                    && matches!(e.state, State::Resolved { .. })
                {
                    e.state = state;
                }
            }
            None => {
                let entry = Entry {
                    labels,
                    annotations,
                    generator,
                    starts_at: alert.detected_at,
                    state,
                    seq: self.seq,
                };
                self.entries.insert(key.to_string(), entry);
            }
        }
    }

    /// Marks `key` resolved at `at` (clamped to [startsAt, now]).
    fn resolve(&mut self, key: &str, at: Timestamp, now: Timestamp) -> bool {
        let forget_at = now.plus_nanos(self.resolved_ns);
        let Some(e) = self.entries.get_mut(key) else {
            return false;
        };
        if matches!(e.state, State::Resolved { .. }) {
            return false;
        }
        let ends_at = at.min(now).max(e.starts_at.min(now));
        e.state = State::Resolved { ends_at, forget_at };
        true
    }

    fn evict(&mut self) {
        while self.entries.len() > self.max_active {
            let victim = self
                .entries
                .iter()
                .min_by_key(|(_, e)| (matches!(e.state, State::Firing { .. }), e.seq))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    self.entries.remove(&k);
                }
                None => break,
            }
        }
    }

    fn postable(&self, e: &Entry, now: Timestamp) -> PostableAlert {
        let ends_at = match e.state {
            State::Firing { .. } => now.plus_nanos(self.resend_ns.saturating_mul(4)),
            State::Resolved { ends_at, .. } => ends_at,
        };
        PostableAlert {
            labels: e.labels.clone(),
            annotations: e.annotations.clone(),
            starts_at: rfc3339(e.starts_at),
            ends_at: rfc3339(ends_at),
            generator_url: e.generator.clone(),
        }
    }
}
