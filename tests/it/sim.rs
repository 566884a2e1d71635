//! `epicenter simulate` end to end: files (gzip JSON lines), OTLP/HTTP to a
//! fake receiver, Kafka when a broker is available, pacing and cancellation.

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use epicenter::model::Timestamp;
use epicenter::sim::send::{Pacing, SimTarget, SimulateOptions, run_simulate};
use epicenter::sim::{BatchOptions, Scenario, Topology, preset};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use tokio_util::sync::CancellationToken;

const START: Timestamp = Timestamp::from_secs(1_772_442_000);

fn options(target: SimTarget, duration_secs: Option<f64>, pacing: Pacing) -> SimulateOptions {
    SimulateOptions {
        target,
        topology: Topology::default_fleet(),
        scenario: Scenario::steady(duration_secs),
        seed: 1,
        rate_rps: 20.0,
        start: START,
        pacing,
        batch: BatchOptions::default(),
        deployments_out: None,
        deployments_format: epicenter::sim::DeployFormat::Plain,
    }
}

#[tokio::test]
async fn file_output_is_gzipped_otlp_json_lines_with_deployment_records() {
    let dir = tempfile::tempdir().unwrap();
    let spans_path = dir.path().join("spans.jsonl.gz");
    let deploys_path = dir.path().join("deploys.jsonl");
    let p = preset("rollback", 20.0).unwrap();
    let mut opts = options(
        SimTarget::File {
            path: spans_path.clone(),
        },
        None,
        Pacing::AsFastAsPossible,
    );
    opts.topology = p.topology;
    opts.scenario = Scenario {
        duration_secs: Some(40.0),
        ..p.scenario
    };
    opts.deployments_out = Some(deploys_path.clone());
    let report = run_simulate(opts, CancellationToken::new()).await.unwrap();
    assert!(
        report.spans > 1_000 && report.failed == 0 && !report.cancelled,
        "{report:?}"
    );

    let reader = BufReader::new(flate2::read::GzDecoder::new(
        std::fs::File::open(&spans_path).unwrap(),
    ));
    let (mut lines, mut spans) = (0u64, 0u64);
    for line in reader.lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        for rs in v["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                spans += ss["spans"].as_array().unwrap().len() as u64;
            }
        }
        lines += 1;
    }
    assert_eq!((lines, spans), (report.sent, report.spans));

    // rollback at 20 s (1.5.0) and again at 20 + 420 s: only the first is within 40 s.
    let deploys = std::fs::read_to_string(&deploys_path).unwrap();
    let records: Vec<serde_json::Value> = deploys
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as u64, report.deploy_events);
    assert_eq!(records[0]["service"], "payment");
    assert_eq!(records[0]["version"], "1.5.0");
    assert_eq!(records[0]["started_at"], "2026-03-02T09:00:20Z");
}

#[tokio::test]
async fn otlp_http_posts_protobuf_to_v1_traces_and_retries_a_503() {
    let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let calls = Arc::new(Mutex::new(0u32));
    let app = {
        let (received, calls) = (received.clone(), calls.clone());
        axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let (received, calls) = (received.clone(), calls.clone());
                async move {
                    let first = {
                        let mut c = calls.lock().unwrap();
                        *c += 1;
                        *c == 1
                    };
                    if first {
                        return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "0")]);
                    }
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    received.lock().unwrap().push((ct, body));
                    (StatusCode::OK, [("retry-after", "0")])
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://{addr}");
    let report = run_simulate(
        options(
            SimTarget::OtlpHttp { url },
            Some(10.0),
            Pacing::AsFastAsPossible,
        ),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    server.abort();
    assert_eq!((report.failed, report.retries), (0, 1), "{report:?}");
    let received = received.lock().unwrap();
    assert_eq!(received.len() as u64, report.sent);
    let mut spans = 0u64;
    for (ct, body) in received.iter() {
        assert_eq!(ct, "application/x-protobuf");
        let req = ExportTraceServiceRequest::decode(body.as_ref()).unwrap();
        spans += req
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len() as u64)
            .sum::<u64>();
    }
    assert_eq!(spans, report.spans);
}

#[tokio::test(start_paused = true)]
async fn real_time_pacing_follows_event_time_and_stops_on_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("paced.jsonl");
    let began = tokio::time::Instant::now();
    let report = run_simulate(
        options(
            SimTarget::File { path: path.clone() },
            Some(6.0),
            Pacing::RealTime { speed: 2.0 },
        ),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    // 6 s of event time (plus the tail of in-flight spans) at speed 2: about 3 s of (virtual) wall time.
    let elapsed = began.elapsed();
    let expected = Duration::from_secs_f64(report.simulated_secs / 2.0);
    assert!(
        elapsed >= expected && elapsed < expected + Duration::from_millis(100),
        "{elapsed:?} vs {expected:?}"
    );

    // Endless at real speed: cancel after 10 virtual seconds.
    let token = CancellationToken::new();
    let run = tokio::spawn(run_simulate(
        options(
            SimTarget::File { path },
            None,
            Pacing::RealTime { speed: 1.0 },
        ),
        token.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(10)).await;
    token.cancel();
    let report = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.cancelled);
    assert!(
        (9.0..=11.0).contains(&report.simulated_secs),
        "{}",
        report.simulated_secs
    );
}

/// Against the broker in `EPICENTER_TEST_KAFKA` (the test script starts a
/// real one), else librdkafka's in-process mock cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_records_are_keyed_by_trace_id_when_asked() {
    use rdkafka::Message as _;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let mock;
    let brokers = match std::env::var("EPICENTER_TEST_KAFKA") {
        Ok(b) => b,
        Err(_) => {
            mock = rdkafka::mocking::MockCluster::new(1).unwrap();
            mock.bootstrap_servers()
        }
    };
    let topic = format!("sim_test_{}", std::process::id());
    let target = SimTarget::Kafka {
        brokers: brokers.clone(),
        topic: topic.clone(),
        key_by_trace_id: true,
    };
    let report = run_simulate(
        options(target, Some(5.0), Pacing::AsFastAsPossible),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(report.sent > 0 && report.failed == 0, "{report:?}");
    let consumer: StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", &topic)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut seen = 0u64;
    while seen < report.sent {
        let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap()
            .unwrap();
        let req = ExportTraceServiceRequest::decode(msg.payload().unwrap()).unwrap();
        let key = std::str::from_utf8(msg.key().unwrap()).unwrap();
        let trace = &req.resource_spans[0].scope_spans[0].spans[0].trace_id;
        assert_eq!(
            key,
            epicenter::model::TraceId::from_slice(trace)
                .unwrap()
                .to_hex()
        );
        seen += 1;
    }
}
