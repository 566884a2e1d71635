//! Tests of the exposition: format negotiation, numbers, escaping, and the
//! streamed chunks against the whole text.

use super::*;

#[test]
fn negotiation_prefers_openmetrics_only_when_asked() {
    let prometheus3 = "application/openmetrics-text;version=1.0.0;q=0.5,\
        application/openmetrics-text;version=0.0.1;q=0.4,\
        text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
        text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    assert_eq!(Format::negotiate(Some(prometheus3)), Format::OpenMetrics);
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text; version=1.0.0")),
        Format::OpenMetrics
    );
    assert_eq!(Format::negotiate(None), Format::PrometheusText);
    assert_eq!(Format::negotiate(Some("*/*")), Format::PrometheusText);
    assert_eq!(
        Format::negotiate(Some("text/plain;version=0.0.4")),
        Format::PrometheusText
    );
    assert_eq!(
        Format::negotiate(Some("application/openmetrics-text;q=0,text/plain")),
        Format::PrometheusText
    );
    assert_eq!(
        Format::negotiate(Some("text/plain;q=0.9,application/openmetrics-text;q=0.5")),
        Format::PrometheusText
    );
}

#[test]
fn numbers_are_valid_in_both_formats() {
    assert_eq!(number(0.1), "0.1");
    assert_eq!(number(1.0), "1.0");
    assert_eq!(number(12.8), "12.8");
    assert_eq!(number(f64::INFINITY), "+Inf");
    assert_eq!(number(f64::NAN), "NaN");
}

fn snapshot(edges: usize) -> Arc<GraphSnapshot> {
    let bounds: Arc<[f64]> = Arc::from([0.1, 1.0, 2.5]);
    let latency = |n: u64| BucketCounts {
        bounds: Arc::clone(&bounds),
        counts: vec![n, 2, 0, 1],
        sum: 4.5,
        count: n + 3,
        exemplars: vec![Some((TraceId([7; 16]), 0.05)), None, None, None],
    };
    let mut snapshot = GraphSnapshot::default();
    snapshot.pairing.unpaired = 3;
    snapshot.edges = (0..edges as u64)
        .map(|i| EdgeSnapshot {
            client: format!("client-{i}").into(),
            server: "db \"main\"".into(),
            connection_type: crate::model::ConnectionType::Database,
            requests: i,
            failed: i / 2,
            client_latency: latency(i),
            server_latency: latency(i + 1),
            client_p: [0.0; 3],
            server_p: [0.0; 3],
            by_server_version: Vec::new(),
            first_seen: crate::model::Timestamp(0),
            last_seen: crate::model::Timestamp(0),
        })
        .collect();
    Arc::new(snapshot)
}

#[test]
fn the_streamed_chunks_join_into_the_whole_exposition() {
    for format in [Format::OpenMetrics, Format::PrometheusText] {
        let snapshot = snapshot(3_000);
        let mut whole = String::new();
        write_graph_series(&mut whole, &snapshot, "traces_service_graph", format);
        let chunks: Vec<String> =
            GraphSeries::new(Arc::clone(&snapshot), "traces_service_graph", format).collect();
        assert!(chunks.len() > 10, "{} chunks", chunks.len());
        assert_eq!(chunks.concat(), whole);
        // Each chunk but the last stops at the first series past the
        // threshold: a histogram series of 6 lines is well under 2 KiB.
        let (last, full) = chunks.split_last().unwrap();
        assert!(!last.is_empty());
        for chunk in full {
            assert!((CHUNK_BYTES..CHUNK_BYTES + 2048).contains(&chunk.len()));
            assert!(chunk.ends_with('\n'));
        }
        // One sample per edge and family, six lines per histogram series.
        let count = |prefix: &str| whole.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("traces_service_graph_request_total{"), 3_000);
        assert_eq!(count("traces_service_graph_request_failed_total{"), 3_000);
        assert_eq!(
            count("traces_service_graph_request_server_seconds_bucket{"),
            12_000
        );
        assert_eq!(
            count("traces_service_graph_request_client_seconds_count{"),
            3_000
        );
        assert_eq!(count("traces_service_graph_unpaired_spans_total 3"), 1);
        assert_eq!(count("traces_service_graph_dropped_spans_total 0"), 1);
        assert_eq!(count("# TYPE "), 6);
        let exemplars = whole.matches(" # {trace_id=").count();
        match format {
            Format::OpenMetrics => assert_eq!(exemplars, 6_000),
            Format::PrometheusText => assert_eq!(exemplars, 0),
        }
    }
}

#[test]
fn an_empty_graph_has_its_headers_and_pairing_counters() {
    let snapshot = snapshot(0);
    let chunks: Vec<String> = GraphSeries::new(snapshot, "x", Format::PrometheusText).collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].matches("# TYPE ").count(), 6);
    assert!(chunks[0].contains("x_unpaired_spans_total 3\n"));
    assert!(chunks[0].contains("# TYPE x_request_total counter\n"));
}

#[test]
fn label_values_are_escaped() {
    let mut out = String::new();
    escape_into(&mut out, "a\"b\\c\nd");
    assert_eq!(out, "a\\\"b\\\\c\\nd");
}
