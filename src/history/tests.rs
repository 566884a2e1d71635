//! Store round trips, ordering, upserts and retention.

use std::sync::Arc;

use super::*;
use crate::model::{
    Alert, AlertType, ConnectionType, LatencySummary, SeriesKey, SeriesStats, Severity, Timestamp,
    Verdict, WindowStats,
};

const DAY: u64 = 86_400;

fn settings() -> Settings {
    Config {
        retention_days: 10,
        window_retention_days: 2,
        prune_every_secs: 3600,
        ..Config::default()
    }
    .validate()
    .unwrap()
}

fn window(start_secs: u64, requests: u64) -> WindowStats {
    let env: Arc<str> = "prod".into();
    let stats = SeriesStats {
        requests,
        errors: requests / 10,
        latency: LatencySummary {
            count: requests,
            sum: 1.0,
            p50: 0.01,
            p95: 0.02,
            p99: 0.03,
            max: 0.1,
        },
        instances: 1,
    };
    WindowStats {
        start: Timestamp::from_secs(start_secs),
        end: Timestamp::from_secs(start_secs + 30),
        series: vec![
            (
                SeriesKey::Service {
                    environment: env.clone(),
                    service: "api".into(),
                },
                stats.clone(),
            ),
            (
                SeriesKey::Edge {
                    environment: env,
                    client: "api".into(),
                    server: "db".into(),
                    connection_type: ConnectionType::Database,
                },
                stats,
            ),
        ],
    }
}

fn release(started_secs: u64, version: &str) -> ReleaseRecord {
    ReleaseRecord {
        service: "api".into(),
        environment: "prod".into(),
        version: version.into(),
        previous_version: None,
        deployment_id: Some(format!("d-{version}")),
        artifact_id: None,
        origin: "plain".into(),
        state: "rolling".into(),
        started_at: Timestamp::from_secs(started_secs),
        exposure_start: None,
        completed_at: None,
        rolled_back_at: None,
        rolled_back_to: None,
        timeline: Vec::new(),
        verdict: None,
    }
}

fn alert(at_secs: u64, id: &str) -> Alert {
    Alert {
        schema: crate::model::ALERT_SCHEMA.into(),
        kind: AlertType::Anomaly,
        id: id.into(),
        detected_at: Timestamp::from_secs(at_secs),
        environment: "prod".into(),
        anomaly: None,
        affected: Vec::new(),
        suspects: Vec::new(),
        recommendation: None,
        summary: String::new(),
        severity: Severity::Warning,
        resolves: None,
        verdict: None,
        topology: None,
        owners: Vec::new(),
        incident: None,
    }
}

#[test]
fn a_batch_round_trips_and_reads_come_back_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &settings()).unwrap();
    // Written out of order, read back in order.
    for start in [1_000_060, 1_000_000, 1_000_030] {
        let batch = Batch {
            watermark: Timestamp::from_secs(start + 30),
            windows: vec![window(start, 10)],
            alerts: vec![alert(start + 30, &format!("a{start}"))],
            ..Batch::default()
        };
        store.write(&batch).unwrap();
    }
    let reader = store.reader();
    let windows = reader
        .windows(
            Timestamp::from_secs(1_000_000),
            Timestamp::from_secs(1_000_060),
        )
        .unwrap();
    assert_eq!(
        windows
            .iter()
            .map(|w| w.start.nanos() / Timestamp::SECOND)
            .collect::<Vec<_>>(),
        vec![1_000_000, 1_000_030],
        "half-open range, oldest first"
    );
    assert_eq!(windows[0], window(1_000_000, 10));
    let alerts = reader
        .alerts(Timestamp::from_secs(0), Timestamp::from_secs(2_000_000))
        .unwrap();
    let ids: Vec<_> = alerts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a1000000", "a1000030", "a1000060"]);
    let edges = reader.edges().unwrap();
    assert_eq!(edges.len(), 1);
    assert_eq!(edges[0].first_seen, Timestamp::from_secs(1_000_000));
    assert_eq!(edges[0].last_seen, Timestamp::from_secs(1_000_090));
    assert_eq!(edges[0].requests, 30);
    assert_eq!(edges[0].connection_type, "database");
    assert_eq!(
        reader.window_span().unwrap(),
        Some((
            Timestamp::from_secs(1_000_000),
            Timestamp::from_secs(1_000_090)
        ))
    );
    assert_eq!(reader.watermark().unwrap(), Timestamp::from_secs(1_000_090));
}

#[test]
fn a_window_written_again_after_a_crash_replaces_its_row_and_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &settings()).unwrap();
    let batch = |start: u64| Batch {
        watermark: Timestamp::from_secs(start + 30),
        windows: vec![window(start, 10)],
        ..Batch::default()
    };
    store.write(&batch(1_000_000)).unwrap();
    store.write(&batch(1_000_030)).unwrap();
    // A restart from a snapshot taken before 1_000_030 re-processes it.
    store.write(&batch(1_000_030)).unwrap();
    let reader = store.reader();
    let windows = reader
        .windows(Timestamp::from_secs(0), Timestamp::from_secs(2_000_000))
        .unwrap();
    assert_eq!(windows.len(), 2);
    let edges = reader.edges().unwrap();
    assert_eq!(edges[0].requests, 20, "each window's requests counted once");
    assert_eq!(edges[0].last_seen, Timestamp::from_secs(1_000_060));
}

#[test]
fn a_release_whose_start_moves_is_stored_once_with_its_latest_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &settings()).unwrap();
    let mut first = release(1_000, "2.0");
    store
        .write(&Batch {
            releases: vec![first.clone()],
            ..Batch::default()
        })
        .unwrap();
    first.started_at = Timestamp::from_secs(990);
    first.state = "complete".into();
    first.verdict = Some(Verdict::Failing);
    store
        .write(&Batch {
            releases: vec![first.clone(), release(2_000, "2.1")],
            ..Batch::default()
        })
        .unwrap();
    let all = store
        .reader()
        .releases(Timestamp::from_secs(0), Timestamp::from_secs(10_000))
        .unwrap();
    assert_eq!(all.len(), 2, "{all:#?}");
    assert_eq!(all[0], first);
    assert_eq!(all[0].to_release().state.as_str(), "complete");
    assert_eq!(all[1].version, "2.1");
}

#[test]
fn retention_prunes_windows_and_records_by_event_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &settings()).unwrap();
    let day0 = 100 * DAY;
    store
        .write(&Batch {
            watermark: Timestamp::from_secs(day0 + 30),
            windows: vec![window(day0, 5)],
            releases: vec![release(day0, "1.0")],
            alerts: vec![alert(day0 + 30, "old")],
            ..Batch::default()
        })
        .unwrap();
    // Three days later: windows (2-day retention) go, records (10 days) stay.
    let report = store
        .write(&Batch {
            watermark: Timestamp::from_secs(day0 + 3 * DAY),
            windows: vec![window(day0 + 3 * DAY - 30, 5)],
            ..Batch::default()
        })
        .unwrap();
    assert_eq!(report.pruned, 1);
    let reader = store.reader();
    let all = |r: &HistoryReader| {
        (
            r.windows(Timestamp(0), Timestamp(u64::MAX)).unwrap().len(),
            r.releases(Timestamp(0), Timestamp(u64::MAX)).unwrap().len(),
            r.alerts(Timestamp(0), Timestamp(u64::MAX)).unwrap().len(),
            r.edges().unwrap().len(),
        )
    };
    assert_eq!(all(&reader), (1, 1, 1, 1));
    // Eleven days later everything from day 0 is gone; the edge seen on day 3 too.
    let removed = store.prune(Timestamp::from_secs(day0 + 14 * DAY)).unwrap();
    assert_eq!(all(&reader), (0, 0, 0, 0));
    assert_eq!(removed, 4);
    // A release pruned and written again is found again (its index went too).
    store
        .write(&Batch {
            releases: vec![release(day0 + 14 * DAY, "1.0")],
            ..Batch::default()
        })
        .unwrap();
    assert_eq!(all(&reader).1, 1);
}

#[test]
fn a_second_writer_and_a_read_only_open_while_written_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        HistoryReader::open_read_only(dir.path()),
        Err(HistoryError::Missing(_))
    ));
    let store = HistoryStore::open(dir.path(), &settings()).unwrap();
    let locked = HistoryReader::open_read_only(dir.path()).unwrap_err();
    assert!(matches!(locked, HistoryError::Locked(_)), "{locked}");
    assert!(locked.to_string().contains("--server"));
    assert!(matches!(
        HistoryStore::open(dir.path(), &settings()),
        Err(HistoryError::Locked(_))
    ));
    store
        .write(&Batch {
            windows: vec![window(60, 3)],
            ..Batch::default()
        })
        .unwrap();
    drop(store);
    let reader = HistoryReader::open_read_only(dir.path()).unwrap();
    assert_eq!(
        reader
            .windows(Timestamp(0), Timestamp(u64::MAX))
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn the_writer_thread_writes_every_queued_batch_before_closing() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(dir.path(), &settings()).unwrap();
    let reader = store.reader();
    let metrics = Metrics::default();
    let (history, writer) = start(store, 8, metrics.clone()).unwrap();
    for i in 0..5 {
        history.write(Batch {
            windows: vec![window(30 * i, 1)],
            ..Batch::default()
        });
    }
    writer.close().await;
    assert_eq!(metrics.batch_count() + metrics.dropped_count(), 5);
    assert_eq!(
        reader
            .windows(Timestamp(0), Timestamp(u64::MAX))
            .unwrap()
            .len() as u64,
        metrics.batch_count()
    );
    assert_eq!(metrics.write_error_count(), 0);
}
