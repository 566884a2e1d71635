//! The whole daemon (`app::start`) with Kafka as its only source: the live
//! graph is built from Collector-style records, and a stop and restart in the
//! middle of the stream (one trace cut across it) neither loses nor
//! double-counts a request.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use epicenter::config::{self, Source};
use epicenter::model::GraphSnapshot;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

use crate::support::collector::{self, GenSpan};
use crate::support::kafka::{self as k, PATIENCE, wait_for_committed};

/// Daemon settings: Kafka only, API on an ephemeral port, the graph's
/// wall-clock watermark advance off (the spans are from 2023).
fn settings(data_dir: &Path, broker: &str, group: &str, topic: &str) -> config::Settings {
    let yaml = format!(
        r#"
data_dir: "{dir}"
api:
  listen: "127.0.0.1:0"
ingest:
  queue_batches: 4
  otlp:
    enabled: false
  kafka:
    brokers: ["{broker}"]
    group_id: "{group}"
    topics: [{{ name: "{topic}" }}]
    auto_offset_reset: earliest
    auto_commit_interval_ms: 200
    session_timeout_ms: 6000
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

/// Requests on the edge `client → server` in `snapshot` (0 when absent).
fn requests(snapshot: &GraphSnapshot, client: &str, server: &str) -> u64 {
    snapshot
        .edges
        .iter()
        .filter(|e| &*e.client == client && &*e.server == server)
        .map(|e| e.requests)
        .sum()
}

/// Waits until both edges show the expected request counts.
async fn wait_for_edges(
    daemon: &epicenter::app::Running,
    front_checkout: u64,
    checkout_payment: u64,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let snapshot: Arc<GraphSnapshot> = daemon.snapshots.latest();
        let got = (
            requests(&snapshot, "frontend", "checkout"),
            requests(&snapshot, "checkout", "payment"),
        );
        if got == (front_checkout, checkout_payment) {
            return;
        }
        assert!(
            got.0 <= front_checkout && got.1 <= checkout_payment,
            "counted more requests than were sent: {got:?}"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "edges at {got:?}, want ({front_checkout}, {checkout_payment})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn produce_batches(broker: &str, topic: &str, spans: &[GenSpan]) -> usize {
    let producer = k::producer(broker);
    let mut records = 0;
    for chunk in spans.chunks(13) {
        let value = collector::request(chunk).encode_to_vec();
        k::produce(&producer, topic, None, &value, &[]).await;
        records += 1;
    }
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_restarted_mid_stream_neither_loses_nor_double_counts_requests() {
    let Some(broker) = k::broker("daemon_restart") else {
        return;
    };
    let topic = k::unique("spans-daemon");
    k::create_topics(&broker, &[&topic], 3).await;
    let group = k::unique("g");
    let data_dir = tempfile::tempdir().unwrap();

    // Traces 0..20 before the stop; trace 19 is cut after the checkout
    // client span, so its checkout → payment pair completes only after the
    // restart, from the persisted pending half.
    let traces: Vec<Vec<GenSpan>> = (0..40).map(|n| collector::trace(10, n)).collect();
    let mut before: Vec<GenSpan> = traces[..19].concat();
    before.extend_from_slice(&traces[19][..4]);
    let mut after: Vec<GenSpan> = vec![traces[19][4].clone()];
    after.extend(traces[20..].concat());

    let mut records = produce_batches(&broker, &topic, &before).await;
    let first = epicenter::app::start(
        settings(data_dir.path(), &broker, &group, &topic),
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .expect("daemon starts");
    wait_for_edges(&first, 20, 19).await;
    wait_for_committed(&broker, &group, &topic, 3, records as i64).await;
    first.stop();
    first.wait().await.expect("clean stop");

    // The stream goes on while the daemon is down.
    records += produce_batches(&broker, &topic, &after).await;
    let second = epicenter::app::start(
        settings(data_dir.path(), &broker, &group, &topic),
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .expect("daemon restarts");
    wait_for_edges(&second, 40, 40).await;
    wait_for_committed(&broker, &group, &topic, 3, records as i64).await;
    // Consuming means partitions are assigned: /readyz says so.
    let readyz = format!("http://{}/readyz", second.api_addr);
    let mut ready = (0, String::new());
    for _ in 0..40 {
        let response = reqwest::get(&readyz).await.expect("readyz answers");
        ready = (
            response.status().as_u16(),
            response.text().await.unwrap_or_default(),
        );
        if ready.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(ready.0, 200, "not ready while consuming: {}", ready.1);
    // Everything is consumed and committed: the counts are final.
    let snapshots = second.snapshots.clone();
    second.stop();
    second.wait().await.expect("clean stop");
    let last = snapshots.latest();
    assert_eq!(requests(&last, "frontend", "checkout"), 40);
    assert_eq!(requests(&last, "checkout", "payment"), 40);
}
