//! Saving and restoring stage state in the data directory: the graph
//! (edges, pending halves, open windows) and the analysis journal (recent
//! windows and deployment events, from which the analyzer is rebuilt).
//!
//! Never does: decide what the state contains; a blob that does not fit is
//! logged and ignored, and the stage starts empty.

use crate::analyze::journal::Loading;
use crate::analyze::{self, Analyzer, Journal};
use crate::graph::{self, Graph, GraphState};
use crate::model::{Alert, JournalSnapshot};
use crate::store::persist::{LogWrite, StateStore, StoreError, Write};

/// Key of the graph's state blob in the state store.
pub(super) const GRAPH_STATE_KEY: &str = "graph";
/// Key of the analysis journal saved whole or in chunks (before it was
/// saved by parts): still read, removed by the first write of the parts.
const JOURNAL_KEY: &str = "analysis_journal";
/// Key of the analysis journal's head (see [`JournalSnapshot`]).
const JOURNAL_HEAD_KEY: &str = "analysis_journal_head";
/// The log of the analysis journal's windows, by start (ns).
const JOURNAL_LOG: &str = "analysis_journal_windows";

/// Writes `put` and the journal's changes in one transaction.
pub(super) fn write_with_journal(
    store: &StateStore,
    put: &[(&str, &[u8])],
    journal: &JournalSnapshot,
) -> Result<(), StoreError> {
    let mut entries = put.to_vec();
    entries.push((JOURNAL_HEAD_KEY, &journal.head));
    store.write(&Write {
        put: &entries,
        remove: &[JOURNAL_KEY],
        log: Some(LogWrite {
            name: JOURNAL_LOG,
            keep_from: journal.keep_from,
            append: &journal.windows,
        }),
    })
}

pub(super) fn restore_graph(store: &StateStore, settings: &graph::Settings) -> Graph {
    match store.get(GRAPH_STATE_KEY) {
        Ok(Some(bytes)) => match GraphState::decode(&bytes) {
            Ok(state) => match Graph::restore(settings, state) {
                Ok(graph) => {
                    tracing::info!(bytes = bytes.len(), "graph state restored");
                    graph
                }
                Err(error) => {
                    tracing::warn!(%error, "stored graph state does not fit; starting empty");
                    Graph::new(settings)
                }
            },
            Err(error) => {
                tracing::warn!(%error, "stored graph state is unreadable; starting empty");
                Graph::new(settings)
            }
        },
        Ok(None) => Graph::new(settings),
        Err(error) => {
            tracing::warn!(%error, "cannot read stored graph state; starting empty");
            Graph::new(settings)
        }
    }
}

pub(super) fn persist_graph(store: &StateStore, graph: &Graph) {
    match graph.encode_state() {
        Ok(bytes) => match store.put(GRAPH_STATE_KEY, &bytes) {
            Ok(()) => tracing::info!(bytes = bytes.len(), "graph state saved"),
            Err(error) => tracing::error!(%error, "graph state could not be saved"),
        },
        Err(error) => tracing::error!(%error, "graph state could not be encoded"),
    }
}

/// The analyzer rebuilt from the saved journal, or a fresh one; and the
/// alerts the rebuild derived (see [`Journal::rebuild_with_alerts`]).
pub(super) fn restore_journal(
    store: &StateStore,
    settings: &analyze::Settings,
) -> (Analyzer, Journal, Vec<Alert>) {
    let fresh = || {
        (
            Analyzer::new(settings.clone()),
            Journal::new(settings.journal_ns),
            Vec::new(),
        )
    };
    if settings.journal_ns == 0 {
        return fresh();
    }
    let restored = match store.get(JOURNAL_HEAD_KEY) {
        Ok(Some(head)) => load_parts(store, &head),
        Ok(None) => load_whole(store),
        Err(error) => Err(format!("cannot read the analysis journal: {error}")),
    };
    match restored {
        Ok(Some((journal, bytes))) => {
            let windows = journal.windows();
            let pending_incidents = journal.pending_incidents();
            let (analyzer, journal, alerts) =
                journal.rebuild_with_alerts(settings.clone(), settings.journal_ns);
            tracing::info!(
                bytes,
                windows,
                pending_incidents,
                "analysis rebuilt from its journal"
            );
            (analyzer, journal, alerts)
        }
        Ok(None) => fresh(),
        Err(error) => {
            tracing::warn!(%error, "starting analysis fresh");
            fresh()
        }
    }
}

/// The journal from its head and its log of windows, with the bytes read.
fn load_parts(store: &StateStore, head: &[u8]) -> Result<Option<(Journal, usize)>, String> {
    let mut loading =
        Loading::new(head).map_err(|e| format!("stored analysis journal is unreadable: {e}"))?;
    let mut bytes = head.len();
    store
        .read_log(JOURNAL_LOG, |start, window| {
            bytes += window.len();
            loading.window(start, window);
            true
        })
        .map_err(|e| format!("cannot read the analysis journal: {e}"))?;
    let (journal, loaded) = loading.finish();
    if loaded.missing + loaded.unreadable > 0 {
        tracing::warn!(
            missing = loaded.missing,
            unreadable = loaded.unreadable,
            "analysis journal incomplete; rebuilt from the windows there are"
        );
    }
    Ok(Some((journal, bytes)))
}

/// The journal saved whole or in chunks by an older version.
fn load_whole(store: &StateStore) -> Result<Option<(Journal, usize)>, String> {
    match store.get_chunked(JOURNAL_KEY) {
        Ok(Some(chunks)) => Journal::decode(&chunks)
            .map(|journal| Some((journal, chunks.iter().map(Vec::len).sum())))
            .map_err(|e| format!("stored analysis journal is unreadable: {e}")),
        Ok(None) => Ok(None),
        Err(error) => Err(format!("cannot read the analysis journal: {error}")),
    }
}

/// Saves the journal's changes since the last snapshot (its head and the
/// windows not stored yet).
pub(super) fn persist_journal(store: &StateStore, journal: &mut Journal) {
    match journal.snapshot() {
        Ok(snapshot) => match write_with_journal(store, &[], &snapshot) {
            Ok(()) => {
                journal.mark_sealed();
                tracing::info!(
                    head_bytes = snapshot.head.len(),
                    windows = journal.windows(),
                    written = snapshot.windows.len(),
                    "analysis journal saved"
                );
            }
            Err(error) => tracing::error!(%error, "analysis journal could not be saved"),
        },
        Err(error) => tracing::error!(%error, "analysis journal could not be encoded"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Timestamp, WindowStats};

    fn window(i: u64) -> std::sync::Arc<analyze::KeptWindow> {
        analyze::KeptWindow::new(&WindowStats {
            start: Timestamp::from_secs(1_790_000_000 + i * 10),
            end: Timestamp::from_secs(1_790_000_000 + i * 10 + 10),
            series: Vec::new(),
        })
    }

    #[test]
    fn a_journal_saved_whole_still_loads_and_is_then_saved_by_parts() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let settings = analyze::Settings::default();
        let mut journal = Journal::new(settings.journal_ns);
        for i in 0..3 {
            journal.window(&window(i));
        }
        for whole in [
            serde_json::to_vec(&journal).unwrap(),
            crate::model::blob::to_gzip_json(&journal).unwrap(),
        ] {
            store.put(JOURNAL_KEY, &whole).unwrap();
            let (_, restored, _) = restore_journal(&store, &settings);
            assert_eq!(restored.windows(), 3);
        }
        // In chunks, by the version before parts.
        store
            .write(&Write {
                remove: &[JOURNAL_KEY],
                ..Write::default()
            })
            .unwrap();
        let chunks = crate::model::blob::to_gzip_json_chunks(&journal).unwrap();
        store.put_chunks(JOURNAL_KEY, &chunks);
        let (_, mut restored, _) = restore_journal(&store, &settings);
        assert_eq!(restored.windows(), 3);
        persist_journal(&store, &mut restored);
        assert_eq!(
            store.get_chunked(JOURNAL_KEY).unwrap(),
            None,
            "the whole and chunked forms are gone"
        );
        restored.window(&window(3));
        assert_eq!(restored.snapshot().unwrap().windows.len(), 1);
        persist_journal(&store, &mut restored);
        assert!(restored.snapshot().unwrap().windows.is_empty());
        let (_, again, _) = restore_journal(&store, &settings);
        assert_eq!(again, restored);
        assert_eq!(again.windows(), 4);
    }

    #[test]
    fn alerts_derived_from_the_journal_come_back_and_the_ledger_is_by_sink() {
        use crate::analyze::tests_support::{bad_release, deploy};
        let fleet = bad_release();
        let settings = analyze::Settings::default();
        let mut analyzer = Analyzer::new(settings.clone());
        let mut journal = Journal::new(settings.journal_ns);
        analyzer.on_deploy(deploy(149));
        journal.event(&deploy(149));
        let mut alerts = Vec::new();
        for i in 0..170 {
            let (outcome, kept) = analyzer.on_window_kept(&fleet.window(i));
            journal.window(&kept);
            alerts.extend(outcome.alerts);
        }
        assert!(!alerts.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(StateStore::open(dir.path()).unwrap());
        persist_journal(&store, &mut journal);
        let (_, _, derived) = restore_journal(&store, &settings);
        let ids = |a: &[Alert]| a.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        let mut unique = ids(&alerts);
        unique.dedup();
        assert_eq!(ids(&derived), unique);
        // The ledger, by sink: the file had the first; an entry of the
        // version before (by id alone) counts for every sink.
        use crate::emit::{Ledger as _, Sink};
        let ledger = super::super::checkpoint::AlertLedger {
            store: Arc::clone(&store),
        };
        ledger.record(Sink::File, &derived[0]);
        assert!(ledger.knows(Sink::File, &derived[0].id));
        assert!(ledger.seen(Sink::File, &derived[0]));
        assert!(!ledger.knows(Sink::Kafka, &derived[0].id));
        let mut other = derived[0].clone();
        other.id = "attribution-recorded-by-the-version-before".into();
        assert!(!ledger.knows(Sink::File, &other.id));
        let old = serde_json::to_vec(&other).unwrap();
        store
            .record_emitted(&other.id, other.detected_at.nanos(), &old)
            .unwrap();
        assert!(ledger.knows(Sink::Kafka, &other.id));
        assert!(ledger.seen(Sink::Alertmanager, &other));
    }
}
