//! `/metrics` over a hand-built graph snapshot: Tempo-compatible series in
//! OpenMetrics and Prometheus text, checked by a strict parser.

use std::sync::Arc;

use epicenter::api::GraphMetricsConfig;
use epicenter::model::ConnectionType;

use crate::support::api::{Api, TRACE, edge, shop};
use crate::support::exposition::{self, Format};

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
