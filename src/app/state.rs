//! Saving and restoring stage state in the data directory: the graph
//! (edges, pending halves, open windows) and the analysis journal (recent
//! windows and deployment events, from which the analyzer is rebuilt).
//!
//! Never does: decide what the state contains; a blob that does not fit is
//! logged and ignored, and the stage starts empty.

use crate::analyze::{self, Analyzer, Journal};
use crate::graph::{self, Graph, GraphState};
use crate::model::Alert;
use crate::store::persist::StateStore;

/// Key of the graph's state blob in the state store.
pub(super) const GRAPH_STATE_KEY: &str = "graph";
/// Key of the analysis journal in the state store.
pub(super) const JOURNAL_KEY: &str = "analysis_journal";

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
    match graph.export_state().encode() {
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
    match store.get_chunked(JOURNAL_KEY) {
        Ok(Some(chunks)) => match Journal::decode(&chunks) {
            Ok(journal) => {
                let windows = journal.windows();
                let pending_incidents = journal.pending_incidents();
                let (analyzer, journal, alerts) =
                    journal.rebuild_with_alerts(settings.clone(), settings.journal_ns);
                tracing::info!(
                    bytes = chunks.iter().map(Vec::len).sum::<usize>(),
                    windows,
                    pending_incidents,
                    "analysis rebuilt from its journal"
                );
                (analyzer, journal, alerts)
            }
            Err(error) => {
                tracing::warn!(%error, "stored analysis journal is unreadable; starting fresh");
                fresh()
            }
        },
        Ok(None) => fresh(),
        Err(error) => {
            tracing::warn!(%error, "cannot read the analysis journal; starting fresh");
            fresh()
        }
    }
}

/// Saves the journal (nothing when it is off).
pub(super) fn persist_journal(store: &StateStore, journal: &Journal) {
    match journal.encode() {
        Ok(chunks) => match store.write(&[], &[(JOURNAL_KEY, &chunks)]) {
            Ok(()) => tracing::info!(
                bytes = chunks.iter().map(Vec::len).sum::<usize>(),
                windows = journal.windows(),
                "analysis journal saved"
            ),
            Err(error) => tracing::error!(%error, "analysis journal could not be saved"),
        },
        Err(error) => tracing::error!(%error, "analysis journal could not be encoded"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_journal_round_trips_compressed_and_plain_json_still_loads() {
        let mut journal = Journal::new(analyze::Settings::default().journal_ns);
        journal.window(&crate::analyze::KeptWindow::new(
            &crate::model::WindowStats {
                start: crate::model::Timestamp::from_secs(10),
                end: crate::model::Timestamp::from_secs(20),
                series: Vec::new(),
            },
        ));
        let compressed = journal.encode().unwrap();
        assert!(compressed[0].starts_with(&[0x1f, 0x8b]));
        assert_eq!(Journal::decode(&compressed).unwrap(), journal);
        // Saved whole by older versions, gzip or plain: read from the store.
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let settings = analyze::Settings::default();
        for whole in [
            serde_json::to_vec(&journal).unwrap(),
            crate::model::blob::to_gzip_json(&journal).unwrap(),
        ] {
            store.put(JOURNAL_KEY, &whole).unwrap();
            let (_, restored, _) = restore_journal(&store, &settings);
            assert_eq!(restored.windows(), 1);
        }
        persist_journal(&store, &journal);
        assert_eq!(store.get(JOURNAL_KEY).unwrap(), None, "now in chunks");
        let (_, restored, _) = restore_journal(&store, &settings);
        assert_eq!(restored, journal);
    }

    #[test]
    fn alerts_derived_from_the_journal_are_unsent_until_the_ledger_records_them() {
        use crate::analyze::tests_support::{Fleet, deploy};
        let fleet = Fleet {
            new_from: Some(150),
            new_errors: 6,
            extra_from: None,
        };
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
        persist_journal(&store, &journal);
        let (_, _, derived) = restore_journal(&store, &settings);
        let ids = |a: &[Alert]| a.iter().map(|a| a.id.clone()).collect::<Vec<_>>();
        let mut unique = ids(&alerts);
        unique.dedup();
        assert_eq!(ids(&derived), unique);
        // The ledger knows the first as delivered: only the others are unsent.
        let ledger = super::super::checkpoint::AlertLedger {
            store: Arc::clone(&store),
        };
        crate::emit::Ledger::record(&ledger, &derived[0]);
        let emitter = crate::emit::Emitter::default().with_ledger(Arc::new(ledger));
        let unsent: Vec<bool> = derived.iter().map(|a| emitter.unsent(a)).collect();
        assert!(!unsent[0]);
        assert!(unsent[1..].iter().all(|u| *u));
    }
}
