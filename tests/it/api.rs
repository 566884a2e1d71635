//! The HTTP API over a hand-built graph snapshot: graph, services,
//! dependencies and dependents, errors, health.

use epicenter::api::GraphMetricsConfig;
use epicenter::model::GraphSnapshot;
use epicenter::store::Component;
use serde_json::json;

use crate::support::api::{Api, names, shop};

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
