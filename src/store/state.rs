//! The latest [`GraphSnapshot`] for readers, and readiness flags.
//!
//! The graph stage publishes through the `watch::Sender` returned by
//! [`SnapshotStore::new`]; the latest value wins and readers never block it.
//! [`Health`] is set by the wiring layer (receivers bound, Kafka partitions
//! assigned, shutdown started) and read by `/readyz`.
//!
//! Never does: I/O, blocking, holding a lock across an `.await`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use crate::model::GraphSnapshot;

/// Read side of the published graph snapshots. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SnapshotStore {
    rx: watch::Receiver<Arc<GraphSnapshot>>,
}

impl SnapshotStore {
    /// A store holding an empty snapshot, and the sender the graph stage
    /// publishes with (`send_replace` never fails, even with no reader).
    pub fn new() -> (SnapshotStore, watch::Sender<Arc<GraphSnapshot>>) {
        let (tx, rx) = watch::channel(Arc::new(GraphSnapshot::default()));
        (SnapshotStore { rx }, tx)
    }

    /// The newest snapshot. Never blocks the publisher for longer than an
    /// `Arc` clone.
    pub fn latest(&self) -> Arc<GraphSnapshot> {
        Arc::clone(&self.rx.borrow())
    }

    /// A receiver that is notified on every publication (live views).
    pub fn subscribe(&self) -> watch::Receiver<Arc<GraphSnapshot>> {
        self.rx.clone()
    }
}

/// A part of the daemon that must be up before it is ready to serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Component {
    /// The OTLP/gRPC receiver is bound and serving.
    OtlpGrpc,
    /// The OTLP/HTTP receiver is bound and serving.
    OtlpHttp,
    /// The Kafka consumer has joined its group and been assigned partitions.
    Kafka,
    /// The graph stage is running (state restored, if any).
    Graph,
}

impl Component {
    /// Stable snake_case name, as shown by `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OtlpGrpc => "otlp_grpc",
            Self::OtlpHttp => "otlp_http",
            Self::Kafka => "kafka",
            Self::Graph => "graph",
        }
    }
}

/// Liveness and readiness of the daemon. Cheap to clone; all clones share state.
///
/// The daemon is ready when every [`expect`](Health::expect)ed component has
/// been marked ready and shutdown has not begun. With nothing expected it is
/// ready (until shutdown), so the wiring layer must call `expect` for each
/// component before it starts serving `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct Health {
    inner: Arc<HealthInner>,
}

#[derive(Debug, Default)]
struct HealthInner {
    /// Expected components and whether each is ready. Short critical
    /// sections only; never held across `.await`.
    components: Mutex<BTreeMap<Component, bool>>,
    shutting_down: AtomicBool,
}

/// A point-in-time view of readiness, for `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// True when every expected component is ready and shutdown has not begun.
    pub ready: bool,
    /// Expected components that are not ready yet, in a stable order.
    pub waiting_for: Vec<Component>,
    /// True once shutdown began.
    pub shutting_down: bool,
}

impl Health {
    /// Health with nothing expected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares that `component` must be ready before the daemon is.
    /// Idempotent; does not reset a component already marked ready.
    pub fn expect(&self, component: Component) {
        self.lock().entry(component).or_insert(false);
    }

    /// Marks `component` ready (or not). Implies [`expect`](Health::expect).
    pub fn set_ready(&self, component: Component, ready: bool) {
        self.lock().insert(component, ready);
    }

    /// Records that shutdown began: readiness turns false for good.
    pub fn set_shutting_down(&self) {
        self.inner.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Readiness right now.
    pub fn readiness(&self) -> Readiness {
        let waiting_for: Vec<Component> = self
            .lock()
            .iter()
            .filter(|(_, ready)| !**ready)
            .map(|(c, _)| *c)
            .collect();
        let shutting_down = self.inner.shutting_down.load(Ordering::Relaxed);
        Readiness {
            ready: waiting_for.is_empty() && !shutting_down,
            waiting_for,
            shutting_down,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Component, bool>> {
        // A panic while holding this lock cannot leave the map inconsistent
        // (single inserts), so a poisoned lock is still usable.
        self.inner
            .components
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    #[test]
    fn latest_snapshot_follows_the_publisher() {
        let (store, tx) = SnapshotStore::new();
        assert_eq!(*store.latest(), GraphSnapshot::default());
        let snapshot = GraphSnapshot {
            watermark: Timestamp(7),
            ..GraphSnapshot::default()
        };
        tx.send_replace(Arc::new(snapshot.clone()));
        assert_eq!(*store.latest(), snapshot);
        assert_eq!(*store.clone().latest(), snapshot);
    }

    #[test]
    fn ready_only_when_every_expected_component_is_ready() {
        let health = Health::new();
        health.expect(Component::OtlpGrpc);
        health.expect(Component::Kafka);
        let r = health.readiness();
        assert!(!r.ready);
        assert_eq!(r.waiting_for, vec![Component::OtlpGrpc, Component::Kafka]);

        health.set_ready(Component::OtlpGrpc, true);
        health.expect(Component::OtlpGrpc); // must not reset
        assert_eq!(health.readiness().waiting_for, vec![Component::Kafka]);

        health.clone().set_ready(Component::Kafka, true);
        assert!(health.readiness().ready);
    }

    #[test]
    fn shutdown_makes_the_daemon_unready() {
        let health = Health::new();
        assert!(health.readiness().ready);
        health.set_shutting_down();
        let r = health.readiness();
        assert!(!r.ready);
        assert!(r.shutting_down);
        assert!(r.waiting_for.is_empty());
    }
}
