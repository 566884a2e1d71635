//! The analysis stage's recent input — closed windows and deployment events
//! — kept so a restarted daemon rebuilds the analyzer it had (baselines,
//! releases, open incidents) instead of relearning for ten minutes; and
//! what it remembers of reported incidents: those received and not yet
//! answered (queued again on rebuild) and the ids it took (a re-sent one is
//! ignored after a restart too, for as long as the analyzer itself
//! remembers ids: its history, by started_at).
//!
//! The analyzer is a deterministic function of its input, so feeding the
//! journal to a fresh one reproduces its state, except for what happened
//! before the journal's first window (`analysis.journal_secs`, by default
//! longer than the baselines' memory). Alerts it produces while rebuilding
//! are handed back ([`Journal::rebuild_with_alerts`]): the daemon sends the
//! ones its emitted-alert ledger never recorded (still queued in a sink at
//! the stop) and drops the rest.
//!
//! Saved by parts (see `journal_parts`): each window once, encoded on its
//! own, beside a small head; the whole-journal forms of older versions (one
//! blob, or chunks) are still read.
//!
//! Never does: I/O (the wiring layer saves and loads it with the graph's
//! state), or hold more than `retention` of event time.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use super::{Analyzer, KeptWindow, Settings};
use crate::model::{Alert, DeployEvent, Incident, Timestamp};

/// Recent windows and events, and the analyzer's reported incidents.
///
/// The whole form (one JSON document) is what versions before the parts
/// saved; it is read, and written only by tests.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[cfg_attr(test, derive(Serialize))]
pub struct Journal {
    retention_ns: u64,
    /// `(start, end)` of the windows held that are already in the store
    /// (see [`Journal::mark_sealed`]): only their place is kept in memory,
    /// oldest first, all older than `windows`.
    #[serde(skip)]
    stored: VecDeque<(Timestamp, Timestamp)>,
    /// The windows not in the store yet, whole (saved as
    /// [`crate::model::WindowStats`]); and, after a load, all of them until
    /// the analyzer is rebuilt from them.
    #[serde(deserialize_with = "super::kept::deserialize_windows")]
    windows: VecDeque<Arc<KeptWindow>>,
    events: Vec<DeployEvent>,
    /// Absent in journals saved before incidents were kept.
    #[serde(default)]
    incidents: ReportedIncidents,
    /// Start of the newest window already handed to the store (see
    /// [`Journal::snapshot`]); later windows are new.
    #[serde(skip)]
    sealed_until: Option<Timestamp>,
}

#[path = "journal_parts.rs"]
mod parts;
pub use parts::Loading;

/// What the analyzer remembers of reported incidents, copied from it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct ReportedIncidents {
    /// Received, not yet answered, in due order.
    pending: Vec<Incident>,
    /// Ids taken (pending or answered), with their start.
    taken: BTreeMap<String, Timestamp>,
}

impl Journal {
    /// A journal saved whole or in chunks (before it was saved by parts):
    /// gzip-compressed JSON in chunks, or one blob of gzip or plain JSON.
    ///
    /// # Errors
    /// When the bytes are not a journal.
    pub fn decode(chunks: &[Vec<u8>]) -> serde_json::Result<Self> {
        crate::model::blob::from_chunks(chunks)
    }

    /// An empty journal keeping `retention_ns` of event time (0 = keeps nothing).
    pub fn new(retention_ns: u64) -> Self {
        Self {
            retention_ns,
            ..Self::default()
        }
    }

    /// Records a closed window and forgets what fell out of the retention.
    pub fn window(&mut self, window: &Arc<KeptWindow>) {
        if self.retention_ns == 0 {
            return;
        }
        self.windows.push_back(window.clone());
        let horizon = window.end.minus_nanos(self.retention_ns);
        while self
            .stored
            .front()
            .is_some_and(|(start, _)| *start < horizon)
        {
            self.stored.pop_front();
        }
        while self.windows.front().is_some_and(|w| w.start < horizon) {
            self.windows.pop_front();
        }
        self.events.retain(|e| e.at >= horizon);
    }

    /// Records a deployment event.
    pub fn event(&mut self, event: &DeployEvent) {
        if self.retention_ns > 0 {
            self.events.push(event.clone());
        }
    }

    /// Copies what `analyzer` remembers of reported incidents (call after
    /// every incident and window it took; a no-op when nothing changed:
    /// ids are only added by an incident, answers only shrink the pending
    /// queue, forgetting only shrinks the ids).
    pub fn incidents(&mut self, analyzer: &Analyzer) {
        if self.retention_ns == 0 {
            return;
        }
        let taken = analyzer.incident_ids();
        let pending = analyzer.pending_incidents().count();
        if taken.len() == self.incidents.taken.len() && pending == self.incidents.pending.len() {
            return;
        }
        self.incidents = ReportedIncidents {
            pending: analyzer.pending_incidents().cloned().collect(),
            taken: taken.clone(),
        };
    }

    /// Reported incidents held that were not answered yet.
    pub fn pending_incidents(&self) -> usize {
        self.incidents.pending.len()
    }

    /// Windows held (stored or not).
    pub fn windows(&self) -> usize {
        self.stored.len() + self.windows.len()
    }

    /// Windows held whole: not in the store yet.
    pub fn unstored(&self) -> usize {
        self.windows.len()
    }

    /// Start of every window held, oldest first.
    fn starts(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let stored = self.stored.iter().map(|(start, _)| *start);
        stored.chain(self.windows.iter().map(|w| w.start))
    }

    /// Lets go of the contents of the windows up to `sealed_until`: they
    /// are in the store, and the analyzer's history has its own copy of
    /// the rows it reads.
    fn forget_stored(&mut self) {
        let Some(sealed) = self.sealed_until else {
            return;
        };
        while let Some(window) = self.windows.front().filter(|w| w.start <= sealed) {
            self.stored.push_back((window.start, window.end));
            self.windows.pop_front();
        }
    }

    /// Event time of the newest window's end.
    pub fn watermark(&self) -> Option<Timestamp> {
        let stored = || self.stored.back().map(|(_, end)| *end);
        self.windows.back().map(|w| w.end).or_else(stored)
    }

    /// A fresh analyzer fed with everything held, in the order the daemon
    /// saw it; the alerts it produces are dropped (they were sent already).
    /// Then the reported incidents: pending ones queued again, taken ids
    /// remembered. The journal keeps recording with `retention_ns`.
    pub fn rebuild(self, settings: Settings, retention_ns: u64) -> (Analyzer, Journal) {
        let (analyzer, journal, _sent_before_the_stop) =
            self.rebuild_with_alerts(settings, retention_ns);
        (analyzer, journal)
    }

    /// [`Journal::rebuild`], also returning the alerts the rebuilt analyzer
    /// produced: for each id its last content only (an earlier content was
    /// replaced by it before the stop), in the order those were produced.
    /// The caller sends those its ledger never recorded.
    pub fn rebuild_with_alerts(
        self,
        settings: Settings,
        retention_ns: u64,
    ) -> (Analyzer, Journal, Vec<Alert>) {
        let mut analyzer = Analyzer::new(settings);
        for event in &self.events {
            analyzer.on_deploy(event.clone());
        }
        let mut alerts = Vec::new();
        for window in &self.windows {
            alerts.extend(analyzer.on_kept_window(window).alerts);
        }
        analyzer.restore_incidents(&self.incidents.taken, &self.incidents.pending);
        let mut journal = self;
        journal.retention_ns = retention_ns;
        journal.forget_stored();
        (analyzer, journal, Alert::last_of_each_id(alerts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::tests_support::{
        Fleet, assert_resumes_like, bad_release, deploy, uninterrupted,
    };

    #[test]
    fn a_rebuilt_analyzer_goes_on_exactly_like_the_original() {
        let fleet = bad_release();
        let retention = 3600 * Timestamp::SECOND;
        let straight = uninterrupted(&fleet, 260);
        // Stopped after window 155 (the incident is open), journal saved as JSON.
        let mut analyzer = Analyzer::new(Settings::default());
        let mut journal = Journal::new(retention);
        analyzer.on_deploy(deploy(149));
        journal.event(&deploy(149));
        let mut resumed = Vec::new();
        for i in 0..156 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
            resumed.extend(analyzer.on_window(&fleet.window(i)).alerts);
        }
        let saved = serde_json::to_vec(&journal).unwrap();
        let loaded: Journal = serde_json::from_slice(&saved).unwrap();
        assert_eq!(loaded, journal);
        let (analyzer, _, derived) = loaded.rebuild_with_alerts(Settings::default(), retention);
        // The rebuild derives the alerts sent before the stop again, the
        // last content of each id (the caller sends those never recorded).
        assert!(!resumed.is_empty(), "the incident alerted before the stop");
        assert_eq!(derived, Alert::last_of_each_id(resumed.clone()));
        assert_resumes_like(&straight, analyzer, &fleet, (156, 260), resumed);
    }

    #[test]
    fn only_the_last_content_of_each_alert_id_is_kept_in_order() {
        let alert = |id: &str, summary: &str| Alert {
            id: id.into(),
            summary: summary.into(),
            ..crate::model::alert::tests::example()
        };
        let kept = Alert::last_of_each_id(vec![
            alert("a", "first"),
            alert("b", "only"),
            alert("a", "updated"),
            alert("c", "only"),
        ]);
        let kept: Vec<_> = kept.iter().map(|a| (&*a.id, &*a.summary)).collect();
        assert_eq!(kept, [("b", "only"), ("a", "updated"), ("c", "only")]);
    }

    fn incident(id: &str, at_window: u64) -> Incident {
        Incident {
            id: id.into(),
            service: "front".into(),
            environment: None,
            started_at: Timestamp::from_secs(crate::analyze::tests_support::T0 + at_window * 10),
            title: "front is failing".into(),
            source: crate::model::IncidentSource::Plain,
        }
    }

    #[test]
    fn reported_incidents_survive_a_rebuild_pending_and_answered() {
        let fleet = Fleet {
            new_from: Some(120),
            new_errors: 6,
            extra_from: None,
        };
        let retention = 2400 * Timestamp::SECOND;
        let (early, later) = (incident("INC-early", 130), incident("INC-later", 165));
        // Uninterrupted: the early one is given first, the later one at window 150.
        let mut original = Analyzer::new(Settings::default());
        original.on_deploy(deploy(119));
        original.on_incident(early.clone());
        let mut straight = Vec::new();
        for i in 0..220 {
            if i == 150 {
                straight.extend(original.on_incident(later.clone()).incidents);
            }
            straight.extend(original.on_window(&fleet.window(i)).incidents);
        }
        assert_eq!(straight.len(), 2, "{straight:#?}");

        // Stopped after window 159: early answered, later still pending.
        let mut analyzer = Analyzer::new(Settings::default());
        let mut journal = Journal::new(retention);
        analyzer.on_deploy(deploy(119));
        journal.event(&deploy(119));
        let mut answers = analyzer.on_incident(early.clone()).incidents;
        journal.incidents(&analyzer);
        for i in 0..160 {
            if i == 150 {
                answers.extend(analyzer.on_incident(later.clone()).incidents);
                journal.incidents(&analyzer);
            }
            journal.window(&KeptWindow::new(&fleet.window(i)));
            answers.extend(analyzer.on_window(&fleet.window(i)).incidents);
            journal.incidents(&analyzer);
        }
        assert_eq!(answers.len(), 1, "only the early one is due: {answers:#?}");
        assert_eq!(answers[0], straight[0]);
        assert_eq!(journal.pending_incidents(), 1);

        let saved = serde_json::to_vec(&journal).unwrap();
        let loaded: Journal = serde_json::from_slice(&saved).unwrap();
        assert_eq!(loaded, journal);
        let (mut analyzer, mut journal) = loaded.rebuild(Settings::default(), retention);
        let pending: Vec<_> = analyzer.pending_incidents().map(|i| i.id.clone()).collect();
        assert_eq!(pending, ["INC-later"]);
        // Both re-sent after the restart: neither is taken again.
        for resent in [&early, &later] {
            let outcome = analyzer.on_incident(resent.clone());
            assert!(outcome.alerts.is_empty() && outcome.incidents.is_empty());
        }
        journal.incidents(&analyzer);
        for i in 160..220 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
            answers.extend(analyzer.on_window(&fleet.window(i)).incidents);
            journal.incidents(&analyzer);
        }
        assert_eq!(answers, straight, "a restart changed the answers");
        assert_eq!(journal.pending_incidents(), 0);
        // A journal saved before incidents were kept still loads.
        let mut old: serde_json::Value = serde_json::to_value(&journal).unwrap();
        old.as_object_mut().unwrap().remove("incidents");
        let old: Journal = serde_json::from_value(old).unwrap();
        assert_eq!(old.pending_incidents(), 0);
    }

    #[test]
    fn answered_ids_are_forgotten_with_the_history_across_rebuilds_too() {
        let fleet = Fleet {
            new_from: None,
            new_errors: 0,
            extra_from: None,
        };
        let retention = 2400 * Timestamp::SECOND;
        let mut analyzer = Analyzer::new(Settings::default());
        let mut journal = Journal::new(retention);
        let reported = incident("INC-1", 5);
        analyzer.on_incident(reported.clone());
        journal.incidents(&analyzer);
        for i in 0..100 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
            analyzer.on_window(&fleet.window(i));
            journal.incidents(&analyzer);
        }
        assert!(journal.incidents.taken.contains_key("INC-1"));
        // Long after (the history is about 40 minutes): forgotten, in the
        // analyzer and the journal alike, so the journal stays bounded.
        for i in 100..400 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
            analyzer.on_window(&fleet.window(i));
            journal.incidents(&analyzer);
        }
        assert!(journal.incidents.taken.is_empty());
        assert!(analyzer.incident_ids().is_empty());
        let (mut rebuilt, _) = journal.rebuild(Settings::default(), retention);
        assert_eq!(rebuilt.on_incident(reported).incidents.len(), 1);
        let mut off = Journal::new(0);
        off.incidents(&rebuilt);
        assert_eq!(off, Journal::new(0));
    }

    #[test]
    fn the_journal_keeps_only_its_retention() {
        let fleet = Fleet {
            new_from: None,
            new_errors: 0,
            extra_from: None,
        };
        let mut journal = Journal::new(100 * Timestamp::SECOND);
        for i in 0..50 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
        }
        assert_eq!(journal.windows(), 10);
        let mut off = Journal::new(0);
        off.window(&KeptWindow::new(&fleet.window(0)));
        assert_eq!(off.windows(), 0);
    }
}
