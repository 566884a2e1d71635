//! A hand-built graph snapshot and the API served over it on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;

use epicenter::api::{self, ApiState, GraphMetricsConfig};
use epicenter::model::{
    BucketCounts, ConnectionType, EdgeSnapshot, GraphSnapshot, NodeKind, NodeSnapshot,
    PairingStats, Timestamp, TraceId,
};
use epicenter::store::{Health, SnapshotStore};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::otlp::http_client;

pub const BOUNDS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
pub const T0: u64 = 1_787_230_000;
pub const TRACE: &str = "5b8efff798038103d269b633813fc60c";

pub fn node(name: &str, kind: NodeKind, versions: &[(&str, u32)]) -> NodeSnapshot {
    NodeSnapshot {
        name: Arc::from(name),
        kind,
        namespace: (kind == NodeKind::Service).then(|| Arc::from("shop")),
        environments: if kind == NodeKind::Service {
            vec![Arc::from("production")]
        } else {
            vec![]
        },
        versions: versions.iter().map(|(v, n)| (Arc::from(*v), *n)).collect(),
        first_seen: Timestamp::from_secs(T0),
        last_seen: Timestamp::from_secs(T0 + 100),
    }
}

/// Latency buckets with `counts` per bucket (last = `+Inf`), plus exemplars
/// in the first and fourth bucket.
pub fn buckets(counts: [u64; 9], sum: f64) -> BucketCounts {
    let trace = TraceId::from_hex(TRACE).unwrap();
    let mut exemplars = vec![None; 9];
    exemplars[0] = Some((trace, 0.05));
    exemplars[3] = Some((trace, 0.7));
    BucketCounts {
        bounds: Arc::from(BOUNDS.as_slice()),
        counts: counts.to_vec(),
        sum,
        count: counts.iter().sum(),
        exemplars,
    }
}

pub fn edge(
    client: &str,
    server: &str,
    connection_type: ConnectionType,
    requests: u64,
    failed: u64,
) -> EdgeSnapshot {
    let spread = [
        requests / 2,
        requests / 4,
        requests / 8,
        requests - requests / 2 - requests / 4 - requests / 8,
        0,
        0,
        0,
        0,
        0,
    ];
    EdgeSnapshot {
        client: Arc::from(client),
        server: Arc::from(server),
        connection_type,
        requests,
        failed,
        client_latency: buckets(spread, requests as f64 * 0.15),
        server_latency: buckets(spread, requests as f64 * 0.1),
        client_p: [0.1, 0.4, 0.8],
        server_p: [0.08, 0.3, 0.7],
        by_server_version: vec![(Arc::from("2.5.0"), requests, failed)],
        first_seen: Timestamp::from_secs(T0),
        last_seen: Timestamp::from_secs(T0 + 50),
    }
}

/// user → frontend → checkout → {payment, postgres}.
pub fn shop() -> GraphSnapshot {
    GraphSnapshot {
        watermark: Timestamp::from_secs(T0 + 120),
        nodes: vec![
            node("checkout", NodeKind::Service, &[("2.5.0", 2)]),
            node("frontend", NodeKind::Service, &[("2.4.1", 3)]),
            node("payment", NodeKind::Service, &[("1.4.0", 1), ("1.5.0", 1)]),
            node("postgres", NodeKind::Database, &[]),
            node("user", NodeKind::User, &[]),
        ],
        edges: vec![
            edge("checkout", "payment", ConnectionType::Direct, 50, 5),
            edge("checkout", "postgres", ConnectionType::Database, 80, 0),
            edge("frontend", "checkout", ConnectionType::Direct, 100, 3),
            edge("user", "frontend", ConnectionType::VirtualNode, 120, 0),
        ],
        pairing: PairingStats {
            pending: 4,
            unpaired: 7,
            dropped: 2,
        },
    }
}

pub struct Api {
    pub addr: SocketAddr,
    pub health: Health,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Api {
    pub async fn start(snapshot: GraphSnapshot, graph_metrics: GraphMetricsConfig) -> Self {
        let (snapshots, publisher) = SnapshotStore::new();
        publisher.send_replace(Arc::new(snapshot));
        let mut registry = Registry::with_prefix("epicenter");
        let events: Counter = Counter::default();
        registry.register("test_events", "Events seen by the test", events.clone());
        events.inc_by(3);
        let health = Health::new();
        let state = ApiState {
            snapshots,
            health: health.clone(),
            registry: Arc::new(registry),
            graph_metrics,
            analysis: Default::default(),
            history: None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(api::serve(listener, state, shutdown.clone()));
        Self {
            addr,
            health,
            shutdown,
            task,
        }
    }

    pub async fn get(&self, path: &str, accept: Option<&str>) -> reqwest::Response {
        let mut request = http_client().get(format!("http://{}{path}", self.addr));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send().await.unwrap()
    }

    pub async fn json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path, None).await;
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        (status, response.json().await.unwrap())
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

pub fn names(values: &Value, key: &str) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}
