//! The analysis stage's recent input — closed windows and deployment events
//! — kept so a restarted daemon rebuilds the analyzer it had (baselines,
//! releases, open incidents) instead of relearning for ten minutes.
//!
//! The analyzer is a deterministic function of its input, so feeding the
//! journal to a fresh one reproduces its state, except for what happened
//! before the journal's first window (`analysis.journal_secs`, by default
//! longer than the baselines' memory). Alerts it produces while rebuilding
//! were sent before the stop and are dropped.
//!
//! Never does: I/O (the wiring layer saves and loads it with the graph's
//! state), or hold more than `retention` of event time.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{Analyzer, Settings};
use crate::model::{DeployEvent, Timestamp, WindowStats};

/// Recent windows and events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    retention_ns: u64,
    windows: VecDeque<WindowStats>,
    events: Vec<DeployEvent>,
}

impl Journal {
    /// An empty journal keeping `retention_ns` of event time (0 = keeps nothing).
    pub fn new(retention_ns: u64) -> Self {
        Self {
            retention_ns,
            ..Self::default()
        }
    }

    /// Records a closed window and forgets what fell out of the retention.
    pub fn window(&mut self, window: &WindowStats) {
        if self.retention_ns == 0 {
            return;
        }
        self.windows.push_back(window.clone());
        let horizon = window.end.minus_nanos(self.retention_ns);
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

    /// Windows held.
    pub fn windows(&self) -> usize {
        self.windows.len()
    }

    /// Event time of the newest window's end.
    pub fn watermark(&self) -> Option<Timestamp> {
        self.windows.back().map(|w| w.end)
    }

    /// A fresh analyzer fed with everything held, in the order the daemon
    /// saw it; the alerts it produces are dropped (they were sent already).
    /// The journal keeps recording with `retention_ns`.
    pub fn rebuild(self, settings: Settings, retention_ns: u64) -> (Analyzer, Journal) {
        let mut analyzer = Analyzer::new(settings);
        for event in &self.events {
            analyzer.on_deploy(event.clone());
        }
        for window in &self.windows {
            let _sent_before_the_stop = analyzer.on_window(window);
        }
        let mut journal = self;
        journal.retention_ns = retention_ns;
        (analyzer, journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::tests_support::{Fleet, deploy};

    #[test]
    fn a_rebuilt_analyzer_goes_on_exactly_like_the_original() {
        let fleet = Fleet {
            new_from: Some(150),
            new_errors: 6,
            extra_from: None,
        };
        let retention = 3600 * Timestamp::SECOND;
        // Uninterrupted.
        let mut original = Analyzer::new(Settings::default());
        original.on_deploy(deploy(149));
        let straight: Vec<_> = (0..260)
            .flat_map(|i| original.on_window(&fleet.window(i)).alerts)
            .collect();
        // Stopped after window 155 (the incident is open), journal saved as JSON.
        let mut analyzer = Analyzer::new(Settings::default());
        let mut journal = Journal::new(retention);
        analyzer.on_deploy(deploy(149));
        journal.event(&deploy(149));
        let mut resumed = Vec::new();
        for i in 0..156 {
            journal.window(&fleet.window(i));
            resumed.extend(analyzer.on_window(&fleet.window(i)).alerts);
        }
        let saved = serde_json::to_vec(&journal).unwrap();
        let loaded: Journal = serde_json::from_slice(&saved).unwrap();
        assert_eq!(loaded, journal);
        let (mut analyzer, _) = loaded.rebuild(Settings::default(), retention);
        for i in 156..260 {
            resumed.extend(analyzer.on_window(&fleet.window(i)).alerts);
        }
        assert!(!straight.is_empty());
        assert_eq!(straight, resumed, "a restart changed the alerts");
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
            journal.window(&fleet.window(i));
        }
        assert_eq!(journal.windows(), 10);
        let mut off = Journal::new(0);
        off.window(&fleet.window(0));
        assert_eq!(off.windows(), 0);
    }
}
