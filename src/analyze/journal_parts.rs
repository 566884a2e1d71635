//! The journal saved by parts: a small head (deployment events, reported
//! incidents, and the start of every window held) and each window encoded
//! on its own, once. A snapshot carries the head and only the windows
//! closed since the previous one, so its cost no longer grows with the
//! journal (a whole 40-minute journal of a 5,000-service fleet was a
//! ≈0.5 GB blob written at every snapshot and at stop).
//!
//! Never does: I/O (the wiring layer stores the parts as a log beside the
//! head), or decide what is kept.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Journal, ReportedIncidents};
use crate::analyze::kept::{KeptWindow, Keys};
use crate::model::blob::{from_json_or_gzip, to_gzip_json};
use crate::model::{DeployEvent, JournalSnapshot, LazyPart, Timestamp, WindowStats};

/// Everything of a journal but its windows' contents.
#[derive(Debug, Serialize, Deserialize)]
struct Head {
    retention_ns: u64,
    events: Vec<DeployEvent>,
    incidents: ReportedIncidents,
    /// Start of every window held, oldest first.
    windows: Vec<Timestamp>,
}

impl Journal {
    /// The head (gzip JSON) and the windows not yet handed to the store
    /// (all of them the first time), which the snapshot writer encodes as
    /// it stores them; call [`Journal::mark_sealed`] once the snapshot is
    /// on its way to the store.
    ///
    /// # Errors
    /// When serialization fails.
    pub fn snapshot(&self) -> std::io::Result<JournalSnapshot> {
        let head = Head {
            retention_ns: self.retention_ns,
            events: self.events.clone(),
            incidents: self.incidents.clone(),
            windows: self.starts().collect(),
        };
        let windows = self
            .windows
            .iter()
            .filter(|w| self.sealed_until.is_none_or(|sealed| w.start > sealed))
            .map(|w| Arc::clone(w) as Arc<dyn LazyPart>)
            .collect();
        Ok(JournalSnapshot {
            head: to_gzip_json(&head)?,
            windows,
            keep_from: self.starts().next().map_or(u64::MAX, Timestamp::nanos),
        })
    }

    /// The last [`Journal::snapshot`] went to the store: its windows are
    /// not sent again, and the journal keeps only their place.
    pub fn mark_sealed(&mut self) {
        if let Some(newest) = self.windows.back() {
            self.sealed_until = Some(newest.start);
        }
        self.forget_stored();
    }
}

/// A kept window as a journal part: stored as the [`WindowStats`] it holds,
/// gzip JSON, at its start.
impl LazyPart for KeptWindow {
    fn position(&self) -> u64 {
        self.start.nanos()
    }

    fn encode(&self) -> std::io::Result<Vec<u8>> {
        to_gzip_json(self)
    }
}

/// A journal being read back from its parts: the head first, then the
/// stored windows in any number, oldest first.
#[derive(Debug)]
pub struct Loading {
    head: Head,
    keys: Keys,
    windows: VecDeque<Arc<KeptWindow>>,
    unreadable: usize,
}

/// What [`Loading::finish`] found.
#[derive(Debug, PartialEq, Eq)]
pub struct Loaded {
    /// Windows the head names that were not stored.
    pub missing: usize,
    /// Stored windows that could not be decoded.
    pub unreadable: usize,
}

impl Loading {
    /// Starts from a saved head.
    ///
    /// # Errors
    /// When the bytes are not a journal head.
    pub fn new(head: &[u8]) -> serde_json::Result<Self> {
        Ok(Self {
            head: from_json_or_gzip(head)?,
            keys: Keys::default(),
            windows: VecDeque::new(),
            unreadable: 0,
        })
    }

    /// A stored window starting at `start_ns`; one the head does not name
    /// (left over from an older snapshot) is ignored.
    pub fn window(&mut self, start_ns: u64, bytes: &[u8]) {
        let start = Timestamp(start_ns);
        if self.head.windows.binary_search(&start).is_err() {
            return;
        }
        match from_json_or_gzip::<WindowStats>(bytes) {
            Ok(window) if window.start == start => {
                self.windows.push_back(self.keys.window(&window))
            }
            Ok(_) | Err(_) => self.unreadable += 1,
        }
    }

    /// The journal, with what was missing; windows already stored are not
    /// sent again.
    pub fn finish(self) -> (Journal, Loaded) {
        let loaded = Loaded {
            missing: self.head.windows.len() - self.windows.len() - self.unreadable,
            unreadable: self.unreadable,
        };
        let sealed_until = self.windows.back().map(|w| w.start);
        let journal = Journal {
            retention_ns: self.head.retention_ns,
            stored: VecDeque::new(),
            windows: self.windows,
            events: self.head.events,
            incidents: self.head.incidents,
            sealed_until,
        };
        (journal, loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::tests_support::{
        Fleet, assert_resumes_like, bad_release, deploy, uninterrupted,
    };
    use crate::analyze::{Analyzer, Settings};

    /// A stand-in for the store's log: position → bytes.
    #[derive(Default)]
    struct Store {
        head: Vec<u8>,
        log: std::collections::BTreeMap<u64, Vec<u8>>,
    }

    impl Store {
        fn write(&mut self, snapshot: JournalSnapshot) {
            self.head = snapshot.head;
            self.log.retain(|at, _| *at >= snapshot.keep_from);
            self.log.extend(
                snapshot
                    .windows
                    .iter()
                    .map(|w| (w.position(), w.encode().unwrap())),
            );
        }

        fn load(&self) -> (Journal, Loaded) {
            let mut loading = Loading::new(&self.head).unwrap();
            for (at, bytes) in &self.log {
                loading.window(*at, bytes);
            }
            loading.finish()
        }
    }

    #[test]
    fn snapshots_carry_only_new_windows_and_the_parts_rebuild_the_analyzer_exactly() {
        let fleet = bad_release();
        // Keeps 60 windows: older ones leave the log.
        let retention = 600 * Timestamp::SECOND;
        let straight = uninterrupted(&fleet, 260);

        let (mut store, mut journal) = (Store::default(), Journal::new(retention));
        let mut analyzer = Analyzer::new(Settings::default());
        analyzer.on_deploy(deploy(149));
        journal.event(&deploy(149));
        let mut resumed = Vec::new();
        for i in 0..156 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
            resumed.extend(analyzer.on_window(&fleet.window(i)).alerts);
            if i % 7 == 0 {
                let snapshot = journal.snapshot().unwrap();
                // Only the windows since the last snapshot (all 7, or the first).
                assert_eq!(snapshot.windows.len(), if i == 0 { 1 } else { 7 });
                store.write(snapshot);
                journal.mark_sealed();
            }
        }
        // A snapshot that never reached the store is sent again.
        let _lost = journal.snapshot().unwrap();
        store.write(journal.snapshot().unwrap());
        journal.mark_sealed();
        assert_eq!(store.log.len(), 60, "the log keeps the retention only");

        let (loaded, report) = store.load();
        assert_eq!(
            report,
            Loaded {
                missing: 0,
                unreadable: 0
            }
        );
        // Read back as it was: the same head, every window whole (the
        // journal kept only the places of the stored ones).
        assert_eq!((journal.windows.len(), journal.stored.len()), (0, 60));
        assert_eq!(loaded.windows.len(), 60);
        let heads = (loaded.snapshot().unwrap(), journal.snapshot().unwrap());
        assert_eq!(heads.0.head, heads.1.head);
        assert!(
            heads.0.windows.is_empty(),
            "stored windows are not sent again"
        );
        let (analyzer, rebuilt) = loaded.rebuild(Settings::default(), retention);
        assert_eq!(
            rebuilt, journal,
            "the rebuild lets go of the stored windows"
        );
        assert_resumes_like(&straight, analyzer, &fleet, (156, 260), resumed);
    }

    #[test]
    fn a_stored_window_is_let_go_and_an_unstored_one_kept_whole() {
        let fleet = bad_release();
        let mut journal = Journal::new(3600 * Timestamp::SECOND);
        let first = KeptWindow::new(&fleet.window(0));
        journal.window(&first);
        let snapshot = journal.snapshot().unwrap();
        journal.mark_sealed();
        drop(snapshot);
        assert_eq!(Arc::strong_count(&first), 1, "the journal let go of it");
        let second = KeptWindow::new(&fleet.window(1));
        journal.window(&second);
        // Snapshots off (or the writer busy): held whole until stored.
        let _skipped = journal.snapshot().unwrap();
        assert_eq!(Arc::strong_count(&second), 3);
        assert_eq!((journal.windows(), journal.unstored()), (2, 1));
        assert_eq!(journal.watermark(), Some(second.end));
        let head: Head = from_json_or_gzip(&journal.snapshot().unwrap().head).unwrap();
        assert_eq!(head.windows, [first.start, second.start]);
    }

    #[test]
    fn missing_and_unreadable_windows_are_counted_and_stray_ones_ignored() {
        let fleet = Fleet {
            new_from: None,
            new_errors: 0,
            extra_from: None,
        };
        let (mut store, mut journal) = (Store::default(), Journal::new(3600 * Timestamp::SECOND));
        for i in 0..5 {
            journal.window(&KeptWindow::new(&fleet.window(i)));
        }
        store.write(journal.snapshot().unwrap());
        let second = store.log.keys().nth(1).copied().unwrap();
        let third = store.log.keys().nth(2).copied().unwrap();
        store.log.remove(&second);
        store.log.insert(third, b"not a window".to_vec());
        store.log.insert(third + 1, b"stray".to_vec());
        let (loaded, report) = store.load();
        assert_eq!(
            report,
            Loaded {
                missing: 1,
                unreadable: 1
            }
        );
        assert_eq!(loaded.windows(), 3);
    }
}
