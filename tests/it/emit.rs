//! The emit stage over real sockets: a fake Alertmanager (firing, re-send,
//! 5xx retry, 4xx drop, every replica, hanging or absent Alertmanager never
//! blocking the caller), the JSON-lines file, and Kafka when a broker is
//! configured.

use std::sync::Arc;
use std::time::Duration;

use epicenter::emit::{self, Config, Emitter, Metrics, Reason, Sink, WallClock};
use epicenter::model::{
    ALERT_SCHEMA, Alert, AlertAnomaly, AlertType, ReleaseRef, Severity, Suspect, Timestamp,
};
use prometheus_client::registry::Registry;
use tokio::task::JoinHandle;

use crate::support::alertmanager::{Answer, FakeAlertmanager};
use crate::support::otlp::eventually;

const NOW: u64 = 1_800_000_000;

fn clock() -> WallClock {
    Arc::new(|| Timestamp::from_secs(NOW))
}

fn alert(id: &str, service: &str) -> Alert {
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind: AlertType::Attribution,
        id: id.into(),
        detected_at: Timestamp::from_secs(NOW - 20),
        environment: "prod".into(),
        anomaly: Some(AlertAnomaly {
            service: service.into(),
            signal: "error_ratio".into(),
            onset: Timestamp::from_secs(NOW - 80),
            baseline: 0.004,
            observed: 0.27,
            origins: Vec::new(),
            series: format!("service:prod/{service}"),
            significance: 9.0,
            requests: 1000,
            recovered_at: None,
        }),
        affected: vec![service.into()],
        suspects: vec![Suspect {
            release: ReleaseRef {
                service: "payment".into(),
                version: "1.5.0".into(),
                environment: "prod".into(),
                deployment_id: Some("dep-1".into()),
                previous_version: Some("1.4.0".into()),
                started_at: None,
            },
            confidence: 0.93,
            evidence: Vec::new(),
        }],
        recommendation: Some("roll back payment to 1.4.0".into()),
        summary: format!("payment 1.5.0 broke {service}"),
        severity: Severity::Critical,
        resolves: None,
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

fn am_config(urls: &[&str]) -> Config {
    let mut config = Config::default();
    config.alertmanager.urls = urls.iter().map(|u| u.to_string()).collect();
    config.alertmanager.public_url = "http://epicenter.test:9470".into();
    config.alertmanager.backoff_initial_ms = 10;
    config.alertmanager.backoff_max_ms = 40;
    config.alertmanager.request_timeout_ms = 2000;
    config
}

fn start(config: &Config) -> (Emitter, Vec<JoinHandle<()>>, Metrics) {
    let metrics = Metrics::register(&mut Registry::default());
    let settings = config.validate().unwrap();
    let (emitter, tasks) = emit::start(&settings, clock(), metrics.clone()).unwrap();
    (emitter, tasks, metrics)
}

async fn stop(emitter: Emitter, tasks: Vec<JoinHandle<()>>) {
    drop(emitter);
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
}

#[tokio::test]
async fn alertmanager_receives_a_firing_alert_and_its_periodic_resend() {
    let am = FakeAlertmanager::start(&[]).await;
    let mut config = am_config(&[&am.url]);
    config.alertmanager.resend_secs = 1;
    let (emitter, tasks, metrics) = start(&config);
    assert_eq!(emitter.emit(alert("attribution-1", "checkout")), 1);
    eventually(|| am.accepted().len() >= 2).await;
    let posts = am.accepted();
    let first = &posts[0][0];
    assert_eq!(
        first["labels"]["alertname"],
        "ServiceErrorRateRegressionAfterDeploy"
    );
    assert_eq!(first["labels"]["service"], "checkout");
    assert_eq!(first["labels"]["release"], "payment@1.5.0");
    assert_eq!(
        first["annotations"]["summary"],
        "payment 1.5.0 broke checkout"
    );
    assert_eq!(
        first["generatorURL"],
        "http://epicenter.test:9470/api/v1/alerts/attribution-1"
    );
    assert_eq!(first["endsAt"], Timestamp::from_secs(NOW + 4).to_rfc3339());
    // The re-send is the same alert: same labels and startsAt.
    assert_eq!(posts[1][0]["labels"], first["labels"]);
    assert_eq!(posts[1][0]["startsAt"], first["startsAt"]);
    // The fake records a post before the sink has read the response and
    // counted it: wait for the count instead of racing it.
    eventually(|| metrics.sent_count(Sink::Alertmanager) >= 2).await;
    stop(emitter, tasks).await;
}

#[tokio::test]
async fn server_errors_are_retried_until_alertmanager_accepts() {
    let am = FakeAlertmanager::start(&[Answer::Status(500), Answer::Status(503)]).await;
    let (emitter, tasks, metrics) = start(&am_config(&[&am.url]));
    emitter.emit(alert("attribution-1", "checkout"));
    eventually(|| am.accepted().len() == 1).await;
    let statuses: Vec<u16> = am.received().iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [500, 503, 200]);
    assert_eq!(metrics.sent_count(Sink::Alertmanager), 1);
    stop(emitter, tasks).await;
}

#[tokio::test]
async fn client_errors_are_dropped_without_retry() {
    let am = FakeAlertmanager::start(&[Answer::Status(400)]).await;
    let (emitter, tasks, metrics) = start(&am_config(&[&am.url]));
    emitter.emit(alert("attribution-1", "checkout"));
    eventually(|| metrics.failed_count(Sink::Alertmanager, Reason::Rejected) == 1).await;
    emitter.emit(alert("attribution-2", "cart"));
    eventually(|| am.accepted().len() == 1).await;
    // The rejected batch was not retried: the second request carries the new alert.
    let received = am.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[1].0[0]["labels"]["service"], "cart");
    stop(emitter, tasks).await;
}

#[tokio::test]
async fn every_alertmanager_replica_receives_every_alert() {
    let a = FakeAlertmanager::start(&[]).await;
    let b = FakeAlertmanager::start(&[Answer::Status(502)]).await;
    let (emitter, tasks, _metrics) = start(&am_config(&[&a.url, &b.url]));
    emitter.emit(alert("attribution-1", "checkout"));
    eventually(|| a.accepted().len() == 1 && b.accepted().len() == 1).await;
    stop(emitter, tasks).await;
}

#[tokio::test]
async fn a_hanging_alertmanager_never_blocks_the_caller_and_overflow_is_counted() {
    let am = FakeAlertmanager::start(&[Answer::Hang; 64]).await;
    let mut config = am_config(&[&am.url]);
    config.alertmanager.queue_capacity = 4;
    config.alertmanager.batches_per_url = 1;
    config.alertmanager.request_timeout_ms = 60_000;
    let (emitter, tasks, metrics) = start(&config);
    // 500 offers return at once although the Alertmanager never answers.
    let offered = tokio::time::timeout(Duration::from_secs(10), async {
        for i in 0..500 {
            emitter.emit(alert(&format!("attribution-{i}"), "checkout"));
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(offered.is_ok(), "emit blocked on a hanging alertmanager");
    eventually(|| !am.received().is_empty()).await;
    let dropped = metrics.dropped_count(Sink::Alertmanager, Reason::QueueFull);
    assert!(dropped > 0, "nothing was counted as dropped");
    for task in tasks {
        task.abort();
    }
}

#[tokio::test]
async fn an_absent_alertmanager_fails_after_retries_and_is_counted() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = am_config(&[&format!("http://127.0.0.1:{port}")]);
    config.alertmanager.max_attempts = 3;
    let (emitter, tasks, metrics) = start(&config);
    assert_eq!(emitter.emit(alert("attribution-1", "checkout")), 1);
    eventually(|| metrics.failed_count(Sink::Alertmanager, Reason::Network) == 1).await;
    stop(emitter, tasks).await;
}

#[tokio::test]
async fn file_sink_writes_one_json_line_per_alert() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut config = Config::default();
    config.file.path = Some(path.clone());
    let (emitter, tasks, metrics) = start(&config);
    for i in 0..3 {
        emitter.emit(alert(&format!("attribution-{i}"), "checkout"));
    }
    stop(emitter, tasks).await;
    let text = std::fs::read_to_string(&path).unwrap();
    let alerts: Vec<Alert> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(alerts.len(), 3);
    assert_eq!(alerts[2].id, "attribution-2");
    assert_eq!(metrics.sent_count(Sink::File), 3);
}

/// A ledger that notes, when it records an alert for the file sink,
/// whether the alerts file already holds its line.
#[derive(Debug)]
struct FileCheckingLedger {
    path: std::path::PathBuf,
    /// (sink, id, whether the file held it when recorded).
    recorded: std::sync::Mutex<Vec<(Sink, String, bool)>>,
    /// (sink, the alert as JSON).
    contents: std::sync::Mutex<Vec<(Sink, String)>>,
}

impl FileCheckingLedger {
    fn new(path: std::path::PathBuf) -> Arc<Self> {
        Arc::new(Self {
            path,
            recorded: Default::default(),
            contents: Default::default(),
        })
    }
}

impl emit::Ledger for FileCheckingLedger {
    fn seen(&self, sink: Sink, alert: &Alert) -> bool {
        let json = serde_json::to_string(alert).unwrap();
        self.contents
            .lock()
            .unwrap()
            .iter()
            .any(|(s, c)| *s == sink && *c == json)
    }

    fn knows(&self, sink: Sink, id: &str) -> bool {
        self.recorded
            .lock()
            .unwrap()
            .iter()
            .any(|(s, known, _)| *s == sink && known == id)
    }

    fn record(&self, sink: Sink, alert: &Alert) {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let in_file = text
            .lines()
            .any(|l| serde_json::from_str::<Alert>(l).is_ok_and(|a| a.id == alert.id));
        self.recorded
            .lock()
            .unwrap()
            .push((sink, alert.id.clone(), in_file));
        self.contents
            .lock()
            .unwrap()
            .push((sink, serde_json::to_string(alert).unwrap()));
    }
}

#[tokio::test]
async fn the_ledger_records_an_alert_only_once_the_file_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut config = Config::default();
    config.file.path = Some(path.clone());
    let (emitter, tasks, _) = start(&config);
    let ledger = FileCheckingLedger::new(path);
    let emitter = emitter.with_ledger(ledger.clone());
    for i in 0..20 {
        let alert = alert(&format!("attribution-{i}"), "checkout");
        assert!(emitter.admit(&alert));
        emitter.emit(alert);
    }
    let first = alert("attribution-0", "checkout");
    eventually(|| !emitter.admit(&first)).await;
    stop(emitter, tasks).await;
    let recorded = ledger.recorded.lock().unwrap().clone();
    assert_eq!(recorded.len(), 20, "every alert recorded once");
    assert!(
        recorded
            .iter()
            .all(|(sink, _, in_file)| *sink == Sink::File && *in_file),
        "recorded before its line was in the file: {recorded:?}"
    );
}

#[tokio::test]
async fn an_alert_goes_only_to_the_sinks_that_have_not_recorded_it() {
    let am = FakeAlertmanager::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let mut config = am_config(&[&am.url]);
    config.file.path = Some(path.clone());
    let (emitter, tasks, _) = start(&config);
    let ledger = FileCheckingLedger::new(path.clone());
    let emitter = emitter.with_ledger(ledger.clone());
    let sent = alert("attribution-1", "checkout");
    // The file had it before a crash; Alertmanager had not.
    emit::Ledger::record(&*ledger, Sink::File, &sent);
    assert!(emitter.admit(&sent));
    assert!(emitter.unsent(&sent));
    assert_eq!(emitter.emit(sent.clone()), 1, "to Alertmanager only");
    eventually(|| am.accepted().len() == 1).await;
    eventually(|| !emitter.admit(&sent)).await;
    assert!(!emitter.unsent(&sent));
    // Another content under a recorded id: an update to admit live, but
    // not unsent (a rebuild may derive it differently from what was sent).
    let changed = alert("attribution-1", "cart");
    assert!(emitter.admit(&changed));
    assert!(!emitter.unsent(&changed));
    stop(emitter, tasks).await;
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        "",
        "the file was not written again"
    );
}

#[tokio::test]
async fn without_sinks_every_alert_is_admitted_and_none_is_unsent() {
    let emitter = Emitter::default().with_ledger(FileCheckingLedger::new("/nonexistent".into()));
    assert_eq!(emitter.emit(alert("attribution-1", "checkout")), 0);
    assert!(emitter.admit(&alert("attribution-1", "checkout")));
    assert!(!emitter.unsent(&alert("attribution-1", "checkout")));
    // Without a ledger nothing is known to be unsent.
    assert!(!Emitter::default().unsent(&alert("attribution-2", "checkout")));
}

#[test]
fn alerts_in_the_file_but_not_in_the_ledger_are_recorded_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.jsonl");
    let first = alert("attribution-1", "checkout");
    let updated = alert("attribution-1", "cart");
    let other = alert("attribution-2", "checkout");
    let text = String::from("{\"cut\": \"a line an older crash left half written\n");
    let mut bytes = text.into_bytes();
    for a in [&first, &other, &updated] {
        emit::write_alert_line(&mut bytes, a).unwrap();
    }
    std::fs::write(&path, &bytes).unwrap();
    let mut config = Config::default();
    config.file.path = Some(path.clone());
    let settings = config.validate().unwrap();
    let ledger = FileCheckingLedger::new(path.clone());
    let emitter = Emitter::default().with_ledger(ledger.clone());
    // The last content of each id: `updated` and `other`.
    assert_eq!(emitter.reconcile_file(&settings), 2);
    let seen = |a: &Alert| emit::Ledger::seen(&*ledger, Sink::File, a);
    assert!(seen(&updated) && seen(&other));
    assert!(!seen(&first), "an older content is not the recorded one");
    assert!(!emit::Ledger::knows(&*ledger, Sink::Kafka, &other.id));
    assert_eq!(
        emitter.reconcile_file(&settings),
        0,
        "nothing left to record"
    );
    let fresh = Emitter::default().with_ledger(FileCheckingLedger::new(path.clone()));
    // No file yet: nothing to do.
    config.file.path = Some(dir.path().join("absent.jsonl"));
    assert_eq!(fresh.reconcile_file(&config.validate().unwrap()), 0);
}

#[tokio::test]
async fn kafka_sink_writes_alerts_keyed_by_service() {
    let Some(broker) = crate::support::kafka::broker("kafka_sink_writes_alerts_keyed_by_service")
    else {
        return;
    };
    let topic = crate::support::kafka::unique("alerts");
    crate::support::kafka::create_topics(&broker, &[&topic], 3).await;
    let mut config = Config::default();
    config.kafka.brokers = broker.clone();
    config.kafka.topic = topic.clone();
    let (emitter, tasks, metrics) = start(&config);
    emitter.emit(alert("attribution-1", "checkout"));
    emitter.emit(alert("attribution-2", "cart"));
    let messages = crate::support::kafka::read_topic(&broker, &topic, 2).await;
    use rdkafka::Message;
    let mut seen: Vec<(String, String)> = messages
        .iter()
        .map(|m| {
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let alert: Alert = serde_json::from_slice(m.payload().unwrap()).unwrap();
            assert_eq!(
                crate::support::kafka::header(m, "schema"),
                Some(ALERT_SCHEMA)
            );
            (key, alert.id)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("cart".to_string(), "attribution-2".to_string()),
            ("checkout".into(), "attribution-1".into())
        ]
    );
    eventually(|| metrics.sent_count(Sink::Kafka) == 2).await;
    stop(emitter, tasks).await;
}
