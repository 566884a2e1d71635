//! Catching up on a backlog whose partitions hold very different volumes
//! for the same event time: the consumer keeps the partitions aligned in
//! event time (`ingest.kafka.max_event_time_skew_secs`), so the graph's
//! watermark never runs past spans still waiting in the slower partition.
//! Nothing is dropped as late, and the live graph equals `epicenter replay`
//! over the same spans.
//!
//! Twenty minutes of simulated traffic (OTLP/JSON Collector batches) are
//! split before the daemon starts: every eighth batch to partition 0, the
//! rest to partition 1, nothing to partition 2 (an empty partition must not
//! hold the others back). Read byte for byte, partition 0 would race through
//! the twenty minutes seven times faster than partition 1. A last record per
//! partition, far in the future, moves the watermark past everything, so the
//! live graph ends with every half paired or expired, as replay's does.

use std::path::Path;
use std::time::Duration;

use epicenter::app::replay::{ReplayOptions, replay};
use epicenter::config::{self, Source};
use epicenter::model::Timestamp;
use epicenter::sim::{ScenarioSpec, preset, write_scenario};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::daemon::metrics_text;
use crate::live_alerts::lines;
use crate::support::kafka as k;

const START: Timestamp = Timestamp::from_secs(1_772_442_000);
const DURATION_SECS: u64 = 1_200;
const PARTITIONS: i32 = 3;

fn settings(data_dir: &Path, broker: &str, group: &str, topic: &str) -> config::Settings {
    let yaml = format!(
        r#"
data_dir: "{dir}"
api:
  listen: "127.0.0.1:0"
ingest:
  otlp:
    enabled: false
  kafka:
    brokers: ["{broker}"]
    group_id: "{group}"
    topics: [{{ name: "{topic}", encoding: otlp_json }}]
    auto_offset_reset: earliest
    session_timeout_ms: 6000
    max_event_time_skew_secs: 5
    partition_idle_ms: 3000
graph:
  idle_advance_secs: 0
  snapshot_interval_ms: 50
"#,
        dir = data_dir.display()
    );
    let source = Source {
        file: Some(("test.yaml".into(), yaml)),
        ..Source::default()
    };
    config::load(&source).expect("valid daemon settings")
}

/// One batch with one INTERNAL span of service `flush` ending at `end`.
fn flush_line(partition: i32, end: Timestamp) -> String {
    let span = json!({
        "traceId": format!("{:032x}", 0xf1u128 << 64 | partition as u128),
        "spanId": format!("{:016x}", 0xf100 + partition as u64),
        "name": "flush",
        "kind": 1,
        "startTimeUnixNano": (end.nanos() - 1_000_000).to_string(),
        "endTimeUnixNano": end.nanos().to_string(),
    });
    json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "flush"}}]},
        "scopeSpans": [{"spans": [span]}],
    }]})
    .to_string()
}

/// Produces `(partition, line)` records, all enqueued before any is awaited.
async fn produce(producer: &FutureProducer, topic: &str, records: &[(i32, &str)]) {
    let mut deliveries = Vec::with_capacity(records.len());
    for (partition, line) in records {
        let record = FutureRecord::<[u8], [u8]>::to(topic)
            .partition(*partition)
            .payload(line.as_bytes());
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery report")
            .map_err(|(e, _)| e)
            .expect("produce");
    }
}

/// The comparable part of every edge of a graph JSON, sorted.
fn edges(graph: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            json!([
                e["client"],
                e["server"],
                e["connection_type"],
                e["requests"],
                e["failed"]
            ])
        })
        .collect();
    out.sort_by_key(Value::to_string);
    out
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skewed_backlog_is_consumed_aligned_in_event_time_and_equals_replay() {
    let Some(broker) = k::broker("event_time_alignment") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut p = preset("steady", 0.0).unwrap();
    p.scenario.duration_secs = Some(DURATION_SECS as f64);
    let spec = ScenarioSpec {
        preset: p,
        seed: 99,
        rate_rps: 2.0,
        start: START,
        deployments: None,
        gzip: false,
    };
    let files = write_scenario(&spec, dir.path()).await.unwrap();
    let batches = lines(&files.spans);
    let flush_at = START.plus_nanos((DURATION_SECS + 600) * Timestamp::SECOND);
    let flushes: Vec<String> = (0..PARTITIONS).map(|p| flush_line(p, flush_at)).collect();

    // The backlog, before the daemon starts.
    let topic = k::unique("spans-aligned");
    k::create_topics(&broker, &[&topic], PARTITIONS).await;
    let producer = k::producer(&broker);
    let records: Vec<(i32, &str)> = batches
        .iter()
        .enumerate()
        .map(|(n, line)| (if n % 8 == 0 { 0 } else { 1 }, line.as_str()))
        .collect();
    produce(&producer, &topic, &records).await;
    let last: Vec<(i32, &str)> = (0..PARTITIONS)
        .zip(flushes.iter().map(String::as_str))
        .collect();
    produce(&producer, &topic, &last).await;

    let group = k::unique("g");
    let settings = settings(&dir.path().join("data"), &broker, &group, &topic);
    let running = epicenter::app::start(
        settings.clone(),
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .expect("daemon starts");
    let api = format!("http://{}", running.api_addr);
    let want = files.report.spans as f64 + f64::from(PARTITIONS);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let text = loop {
        let text = metrics_text(&api).await;
        let graph = metric(&text, "epicenter_graph_spans_received_total");
        if graph >= want {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the graph received {graph} of {want} spans"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let late = metric(
        &text,
        "epicenter_graph_spans_discarded_total{reason=\"late\"}",
    );
    let held = metric(
        &text,
        "epicenter_ingest_kafka_event_time_parked_records_total",
    );
    let snapshots = running.snapshots.clone();
    running.stop();
    running.wait().await.expect("clean stop");
    let live = epicenter::api::graph_json(&snapshots.latest());

    // Replay over the same spans, the final records included.
    let all = dir.path().join("all.jsonl");
    std::fs::write(&all, [batches, flushes].concat().join("\n")).unwrap();
    let graph_file = dir.path().join("replay.graph.json");
    replay(
        &settings,
        &ReplayOptions {
            spans: vec![all],
            deployments: Vec::new(),
            incidents: Vec::new(),
            alerts: dir.path().join("replay.alerts.jsonl"),
            graph: Some(graph_file.clone()),
            progress: false,
        },
    )
    .unwrap();
    let replayed: Value =
        serde_json::from_str(&std::fs::read_to_string(graph_file).unwrap()).unwrap();

    assert_eq!(late, 0.0, "spans dropped as late ({held} records parked)");
    assert!(held >= 1.0, "no record was ever held back");
    let (live, replayed) = (edges(&live), edges(&replayed));
    assert!(live.len() >= 5, "too few edges to compare: {live:?}");
    assert_eq!(live, replayed, "the live graph differs from replay's");
}
