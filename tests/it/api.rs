//! The HTTP API and `/metrics` over a hand-built graph snapshot.

use std::net::SocketAddr;
use std::sync::Arc;

use epicenter::api::{self, ApiState, GraphMetricsConfig};
use epicenter::model::{
    BucketCounts, ConnectionType, EdgeSnapshot, GraphSnapshot, NodeKind, NodeSnapshot,
    PairingStats, Timestamp, TraceId,
};
use epicenter::store::{Component, Health, SnapshotStore};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::exposition::{self, Format};
use crate::support::otlp::http_client;

const BOUNDS: [f64; 8] = [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8];
const T0: u64 = 1_787_230_000;
const TRACE: &str = "5b8efff798038103d269b633813fc60c";

fn node(name: &str, kind: NodeKind, versions: &[(&str, u32)]) -> NodeSnapshot {
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
fn buckets(counts: [u64; 9], sum: f64) -> BucketCounts {
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

fn edge(
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
fn shop() -> GraphSnapshot {
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

struct Api {
    addr: SocketAddr,
    health: Health,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Api {
    async fn start(snapshot: GraphSnapshot, graph_metrics: GraphMetricsConfig) -> Self {
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

    async fn get(&self, path: &str, accept: Option<&str>) -> reqwest::Response {
        let mut request = http_client().get(format!("http://{}{path}", self.addr));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send().await.unwrap()
    }

    async fn json(&self, path: &str) -> (u16, Value) {
        let response = self.get(path, None).await;
        let status = response.status().as_u16();
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{path}"
        );
        (status, response.json().await.unwrap())
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

fn names(values: &Value, key: &str) -> Vec<String> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn graph_lists_nodes_and_edges_with_counts_and_latencies() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let (status, graph) = api.json("/api/v1/graph").await;
    assert_eq!(status, 200);
    assert_eq!(graph["watermark"], "2026-08-20T12:48:40Z");
    assert_eq!(
        names(&graph["nodes"], "name"),
        ["checkout", "frontend", "payment", "postgres", "user"]
    );
    let edge = &graph["edges"][2];
    assert_eq!(edge["client"], "frontend");
    assert_eq!(edge["server"], "checkout");
    assert_eq!(edge["connection_type"], "direct");
    assert_eq!(edge["requests"], 100);
    assert_eq!(edge["failed"], 3);
    assert_eq!(edge["error_ratio"], 0.03);
    assert_eq!(edge["mean_rate_per_sec"], 2.0);
    assert_eq!(edge["server_latency_seconds"]["p95"], 0.3);
    assert_eq!(edge["server_latency_seconds"]["count"], 100);
    assert_eq!(
        edge["by_server_version"][0],
        json!({"version": "2.5.0", "requests": 100, "failed": 3})
    );
    assert_eq!(edge["first_seen"], "2026-08-20T12:46:40Z");
    assert_eq!(graph["edges"][1]["connection_type"], "database");
    assert_eq!(
        graph["pairing"],
        json!({"pending": 4, "unpaired": 7, "dropped": 2})
    );
    let payment = &graph["nodes"][2];
    assert_eq!(payment["kind"], "service");
    assert_eq!(payment["namespace"], "shop");
    assert_eq!(
        payment["versions"],
        json!([{"version": "1.4.0", "instances": 1}, {"version": "1.5.0", "instances": 1}])
    );
    assert_eq!(graph["nodes"][3]["kind"], "database");
    api.stop().await;
}

#[tokio::test]
async fn graph_neighbourhood_is_limited_by_depth() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let (_, one) = api.json("/api/v1/graph?service=payment&depth=1").await;
    assert_eq!(names(&one["nodes"], "name"), ["checkout", "payment"]);
    assert_eq!(names(&one["edges"], "server"), ["payment"]);
    let (_, two) = api.json("/api/v1/graph?service=payment&depth=2").await;
    assert_eq!(
        names(&two["nodes"], "name"),
        ["checkout", "frontend", "payment", "postgres"]
    );
    assert_eq!(two["edges"].as_array().unwrap().len(), 3);
    let (_, default) = api.json("/api/v1/graph?service=payment").await;
    assert_eq!(default["nodes"], one["nodes"]);
    api.stop().await;
}

#[tokio::test]
async fn graph_renders_as_graphviz_dot() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let response = api.get("/api/v1/graph?format=dot", None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/vnd.graphviz; charset=utf-8"
    );
    let dot = response.text().await.unwrap();
    assert!(dot.starts_with("digraph epicenter {\n"), "{dot}");
    assert!(dot.contains("\"postgres\" [shape=cylinder];"), "{dot}");
    assert!(
        dot.contains("\"frontend\" -> \"checkout\" [label=\"100 req\\n3 failed\"];"),
        "{dot}"
    );
    assert!(
        dot.contains("\"user\" -> \"frontend\" [label=\"120 req\\n0 failed\", style=dashed];"),
        "{dot}"
    );
    assert!(dot.ends_with("}\n"));
    let neighbourhood = api
        .get("/api/v1/graph?format=dot&service=postgres", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(!neighbourhood.contains("\"frontend\""), "{neighbourhood}");
    api.stop().await;
}

#[tokio::test]
async fn services_have_kinds_versions_environments_and_degrees() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let (status, body) = api.json("/api/v1/services").await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().unwrap();
    assert_eq!(services.len(), 5);
    let checkout = &services[0];
    assert_eq!(checkout["name"], "checkout");
    assert_eq!(checkout["kind"], "service");
    assert_eq!(checkout["environments"], json!(["production"]));
    assert_eq!(
        checkout["versions"],
        json!([{"version": "2.5.0", "instances": 2}])
    );
    assert_eq!(
        (
            checkout["in_degree"].as_u64(),
            checkout["out_degree"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let user = &services[4];
    assert_eq!(
        (
            user["kind"].as_str(),
            user["in_degree"].as_u64(),
            user["out_degree"].as_u64()
        ),
        (Some("user"), Some(0), Some(1))
    );
    api.stop().await;
}

#[tokio::test]
async fn transitive_dependents_are_the_blast_radius_with_path_lengths() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let (status, body) = api
        .json("/api/v1/services/payment/dependents?transitive=true")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["direction"], "dependents");
    assert_eq!(body["transitive"], true);
    let reached: Vec<(String, u64, Vec<String>)> = body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let path = n["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect();
            (
                n["name"].as_str().unwrap().to_owned(),
                n["distance"].as_u64().unwrap(),
                path,
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        reached,
        vec![
            ("checkout".to_owned(), 1, s(&["checkout", "payment"])),
            (
                "frontend".to_owned(),
                2,
                s(&["frontend", "checkout", "payment"])
            ),
            (
                "user".to_owned(),
                3,
                s(&["user", "frontend", "checkout", "payment"])
            ),
        ]
    );
    assert_eq!(
        body["nodes"][0]["edges"],
        json!([{"connection_type": "direct", "requests": 50, "failed": 5}])
    );
    assert_eq!(body["nodes"][2]["kind"], "user");

    let (_, direct) = api.json("/api/v1/services/payment/dependents").await;
    assert_eq!(names(&direct["nodes"], "name"), ["checkout"]);
    assert_eq!(direct["transitive"], false);
    api.stop().await;
}

#[tokio::test]
async fn dependencies_follow_calls_downstream() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let (_, direct) = api.json("/api/v1/services/checkout/dependencies").await;
    assert_eq!(names(&direct["nodes"], "name"), ["payment", "postgres"]);
    assert_eq!(
        direct["nodes"][1]["edges"],
        json!([{"connection_type": "database", "requests": 80, "failed": 0}])
    );
    let (_, all) = api
        .json("/api/v1/services/user/dependencies?transitive=true")
        .await;
    assert_eq!(
        names(&all["nodes"], "name"),
        ["frontend", "checkout", "payment", "postgres"]
    );
    assert_eq!(
        all["nodes"][3]["path"],
        json!(["user", "frontend", "checkout", "postgres"])
    );
    assert_eq!(all["nodes"][3]["distance"], 3);
    let (_, none) = api
        .json("/api/v1/services/postgres/dependencies?transitive=true")
        .await;
    assert_eq!(none["nodes"], json!([]));
    api.stop().await;
}

#[tokio::test]
async fn unknown_services_and_bad_queries_are_json_errors() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    for path in [
        "/api/v1/services/nope/dependents?transitive=true",
        "/api/v1/services/nope/dependencies",
        "/api/v1/graph?service=nope",
    ] {
        let (status, body) = api.json(path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["error"], "unknown service \"nope\"", "{path}");
    }
    for path in [
        "/api/v1/graph?format=svg",
        "/api/v1/graph?depth=2",
        "/api/v1/graph?service=payment&depth=many",
        "/api/v1/graph?service=payment&depth=1000",
        "/api/v1/services/payment/dependents?transitive=maybe",
    ] {
        let (status, body) = api.json(path).await;
        assert_eq!(status, 400, "{path}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    let (status, body) = api.json("/api/v2/nothing").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("no such endpoint"))
    );
    api.stop().await;
}

#[tokio::test]
async fn readyz_waits_for_expected_components_and_healthz_is_always_ok() {
    let api = Api::start(GraphSnapshot::default(), GraphMetricsConfig::default()).await;
    api.health.expect(Component::OtlpGrpc);
    api.health.expect(Component::Graph);
    let (status, body) = api.json("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body["waiting_for"], json!(["otlp_grpc", "graph"]));
    assert_eq!(api.json("/healthz").await, (200, json!({"status": "ok"})));

    api.health.set_ready(Component::OtlpGrpc, true);
    api.health.set_ready(Component::Graph, true);
    let (status, body) = api.json("/readyz").await;
    assert_eq!((status, body["ready"].as_bool()), (200, Some(true)));

    api.health.set_shutting_down();
    let (status, body) = api.json("/readyz").await;
    assert_eq!((status, body["shutting_down"].as_bool()), (503, Some(true)));
    api.stop().await;
}

const OPENMETRICS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

async fn scrape(api: &Api, accept: Option<&str>) -> (String, String) {
    let response = api.get("/metrics", accept).await;
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_as_openmetrics_have_tempo_series_exemplars_and_one_eof() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    let (content_type, text) = scrape(&api, Some(OPENMETRICS_ACCEPT)).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let parsed =
        exposition::parse(&text, Format::OpenMetrics).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(text.matches("# EOF").count(), 1);
    assert!(text.ends_with("# EOF\n"));

    // Self-metrics from the registry.
    assert_eq!(
        parsed
            .sample("epicenter_test_events_total", &[])
            .unwrap()
            .value,
        3.0
    );
    assert_eq!(
        parsed.family("epicenter_test_events").unwrap().kind,
        "counter"
    );

    // Tempo's names, labels and help; an empty connection_type is omitted.
    let requests = parsed.family("traces_service_graph_request").unwrap();
    assert_eq!(requests.kind, "counter");
    assert_eq!(
        requests.help.as_deref(),
        Some("Total count of requests between two nodes")
    );
    let fc = [("client", "frontend"), ("server", "checkout")];
    assert_eq!(
        parsed
            .sample("traces_service_graph_request_total", &fc)
            .unwrap()
            .value,
        100.0
    );
    assert_eq!(
        parsed
            .sample("traces_service_graph_request_failed_total", &fc)
            .unwrap()
            .value,
        3.0
    );
    let db = [
        ("client", "checkout"),
        ("server", "postgres"),
        ("connection_type", "database"),
    ];
    assert_eq!(
        parsed
            .sample("traces_service_graph_request_total", &db)
            .unwrap()
            .value,
        80.0
    );
    let vn = [
        ("client", "user"),
        ("server", "frontend"),
        ("connection_type", "virtual_node"),
    ];
    assert_eq!(
        parsed
            .sample("traces_service_graph_request_total", &vn)
            .unwrap()
            .value,
        120.0
    );
    assert_eq!(
        parsed
            .sample("traces_service_graph_unpaired_spans_total", &[])
            .unwrap()
            .value,
        7.0
    );
    assert_eq!(
        parsed
            .sample("traces_service_graph_dropped_spans_total", &[])
            .unwrap()
            .value,
        2.0
    );

    // Histograms with Tempo's buckets, cumulative (checked by the parser), with exemplars.
    for side in ["server", "client"] {
        let name = format!("traces_service_graph_request_{side}_seconds");
        assert_eq!(parsed.family(&name).unwrap().kind, "histogram");
        let bucket = |le: &str| {
            let labels = [("client", "frontend"), ("server", "checkout"), ("le", le)];
            parsed
                .sample(&format!("{name}_bucket"), &labels)
                .unwrap()
                .clone()
        };
        let les: Vec<String> = parsed
            .family(&name)
            .unwrap()
            .samples
            .iter()
            .filter(|s| s.name.ends_with("_bucket") && s.labels[0].1 == "frontend")
            .map(|s| s.labels.iter().find(|(k, _)| k == "le").unwrap().1.clone())
            .collect();
        assert_eq!(
            les,
            [
                "0.1", "0.2", "0.4", "0.8", "1.6", "3.2", "6.4", "12.8", "+Inf"
            ]
        );
        assert_eq!(bucket("0.1").value, 50.0);
        assert_eq!(bucket("0.4").value, 87.0);
        assert_eq!(bucket("+Inf").value, 100.0);
        let exemplar = bucket("0.1").exemplar.unwrap();
        assert_eq!(exemplar.0, vec![("trace_id".to_owned(), TRACE.to_owned())]);
        assert_eq!(exemplar.1, 0.05);
        assert_eq!(bucket("0.8").exemplar.unwrap().1, 0.7);
        assert!(bucket("0.2").exemplar.is_none());
        assert_eq!(
            parsed.sample(&format!("{name}_count"), &fc).unwrap().value,
            100.0
        );
    }
    assert_eq!(
        parsed
            .sample("traces_service_graph_request_server_seconds_sum", &fc)
            .unwrap()
            .value,
        10.0
    );
    api.stop().await;
}

#[tokio::test]
async fn metrics_as_prometheus_text_have_no_exemplars_eof_or_units() {
    let api = Api::start(shop(), GraphMetricsConfig::default()).await;
    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (content_type, text) = scrape(&api, accept).await;
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        let parsed =
            exposition::parse(&text, Format::Text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT") && !text.contains(" # {"));
        // Counters are TYPEd under their sample name, so Prometheus's text parser takes them.
        assert_eq!(
            parsed
                .family("traces_service_graph_request_total")
                .unwrap()
                .kind,
            "counter"
        );
        assert_eq!(
            parsed.family("epicenter_test_events_total").unwrap().kind,
            "counter"
        );
        let fc = [("client", "frontend"), ("server", "checkout")];
        assert_eq!(
            parsed
                .sample("traces_service_graph_request_failed_total", &fc)
                .unwrap()
                .value,
            3.0
        );
        let inf = [
            ("client", "frontend"),
            ("server", "checkout"),
            ("le", "+Inf"),
        ];
        assert_eq!(
            parsed
                .sample("traces_service_graph_request_server_seconds_bucket", &inf)
                .unwrap()
                .value,
            100.0
        );
    }
    api.stop().await;
}

#[tokio::test]
async fn graph_series_follow_the_configured_prefix_or_can_be_turned_off() {
    let custom = GraphMetricsConfig {
        enabled: true,
        prefix: Arc::from("epicenter_service_graph"),
    };
    let api = Api::start(shop(), custom).await;
    let (_, text) = scrape(&api, None).await;
    exposition::parse(&text, Format::Text).unwrap();
    assert!(text.contains(
        "epicenter_service_graph_request_total{client=\"frontend\",server=\"checkout\"} 100\n"
    ));
    assert!(!text.contains("traces_service_graph"));
    api.stop().await;

    let off = GraphMetricsConfig {
        enabled: false,
        ..GraphMetricsConfig::default()
    };
    let api = Api::start(shop(), off).await;
    let (_, text) = scrape(&api, Some(OPENMETRICS_ACCEPT)).await;
    exposition::parse(&text, Format::OpenMetrics).unwrap();
    assert!(!text.contains("traces_service_graph"));
    assert!(text.contains("epicenter_test_events_total 3"));
    api.stop().await;
}

#[tokio::test]
async fn label_values_with_quotes_are_escaped_in_both_formats() {
    let mut snapshot = shop();
    snapshot.edges = vec![edge(
        "we\"ird\\svc",
        "line\nbreak",
        ConnectionType::Direct,
        1,
        0,
    )];
    let api = Api::start(snapshot, GraphMetricsConfig::default()).await;
    for (accept, format) in [
        (None, Format::Text),
        (Some(OPENMETRICS_ACCEPT), Format::OpenMetrics),
    ] {
        let (_, text) = scrape(&api, accept).await;
        let parsed = exposition::parse(&text, format).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let labels = [("client", "we\"ird\\svc"), ("server", "line\nbreak")];
        assert_eq!(
            parsed
                .sample("traces_service_graph_request_total", &labels)
                .unwrap()
                .value,
            1.0
        );
    }
    api.stop().await;
}
