//! Reported incidents through a real broker, on the whole daemon started
//! the way `epicenter run --config FILE --kafka-brokers LIST` starts it: a
//! bad release (payment 1.5.0) is simulated; its deployment events go to a
//! `cdevents` topic, an incident on checkout (plain JSON) and a poison
//! record to an `incidents` topic, then the spans to an `otlp_json` topic.
//! The answer alert (`incident-…`, attribution, payment 1.5.0 first) comes
//! out on the alerts topic, the CDEvents `incident.detected` event (binary
//! mode, linked to the deployment event) on the cdevents topic, and the
//! poison record lands in `<incidents>.dlq` with its error headers, counted.

use std::time::Duration;

use epicenter::app::cli::{ConfigArgs, RunArgs, load_settings};
use epicenter::ingest::kafka::dlq;
use epicenter::model::{Timestamp, incident_alert_id};
use epicenter::sim::{DeployFormat, ScenarioSpec, preset, write_scenario};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _, TopicPartitionList};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::daemon::metrics_text;
use crate::live_alerts::lines;
use crate::support::kafka::{self as k, PATIENCE, wait_for_committed};

const START: Timestamp = Timestamp::from_secs(1_772_442_000);

/// Produces every value to `topic` at once, then waits for all deliveries.
async fn produce_all(producer: &FutureProducer, topic: &str, values: &[String]) {
    let mut deliveries = Vec::with_capacity(values.len());
    for value in values {
        let record = FutureRecord::<[u8], [u8]>::to(topic).payload(value.as_bytes());
        deliveries.push(
            producer
                .send_result(record)
                .map_err(|(e, _)| e)
                .expect("enqueue"),
        );
    }
    for delivery in deliveries {
        delivery.await.expect("delivered").expect("produced");
    }
}

/// Reads `topic` (one partition) from the beginning until a record's JSON
/// value satisfies `wanted`; panics after `patience`.
async fn find(
    broker: &str,
    topic: &str,
    patience: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> (OwnedMessage, Value) {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", k::unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, rdkafka::Offset::Beginning)
        .expect("tpl");
    consumer.assign(&tpl).expect("assign");
    let deadline = tokio::time::Instant::now() + patience;
    let mut seen = 0;
    loop {
        let message = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{topic}: nothing wanted in {seen} records"))
            .expect("read")
            .detach();
        seen += 1;
        let value: Value = serde_json::from_slice(message.payload().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{topic}: a record that is not JSON: {e}"));
        if wanted(&value) {
            return (message, value);
        }
    }
}

/// Waits until `/metrics` has `series` (with its value).
async fn wait_for_series(api: &str, series: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let text = metrics_text(api).await;
        if text.lines().any(|l| l == series) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/metrics never had {series}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_on_kafka_is_answered_on_the_alerts_and_cdevents_topics() {
    let Some(broker) = k::broker("incidents") else {
        return;
    };
    let [
        spans_topic,
        deploy_topic,
        incident_topic,
        alerts_topic,
        cdevents_topic,
    ] = ["spans", "deployments", "incidents", "alerts", "cdevents"].map(k::unique);
    k::create_topics(
        &broker,
        &[
            &spans_topic,
            &deploy_topic,
            &incident_topic,
            &alerts_topic,
            &cdevents_topic,
        ],
        1,
    )
    .await;
    let group = k::unique("g");
    let dir = tempfile::tempdir().unwrap();

    let mut p = preset("bad-release", 660.0).unwrap();
    p.scenario.duration_secs = Some(660.0 + 120.0 + 600.0);
    let spec = ScenarioSpec {
        preset: p,
        seed: 4243,
        rate_rps: 10.0,
        start: START,
        deployments: Some(DeployFormat::CdEventsV05),
        gzip: false,
    };
    let files = write_scenario(&spec, dir.path()).await.unwrap();
    let deployments = lines(files.deployments.as_ref().unwrap());
    let deployment: Value = serde_json::from_str(&deployments[0]).unwrap();
    let deployment_id = deployment["context"]["id"].as_str().unwrap().to_owned();

    // Deployment events and the incident first, the spans once they are in.
    let producer = k::producer(&broker);
    produce_all(&producer, &deploy_topic, &deployments).await;
    let started = START.plus_nanos(780 * Timestamp::SECOND).to_rfc3339();
    let incident = json!({"id": "INC-kafka", "service": "checkout", "started_at": started,
                          "title": "checkout errors"});
    k::produce(
        &producer,
        &incident_topic,
        Some(b"INC-kafka"),
        incident.to_string().as_bytes(),
        &[],
    )
    .await;
    let poison: &[u8] = b"{\"id\": \"INC-poison\", not json";
    let (_, poison_offset) = k::produce(
        &producer,
        &incident_topic,
        Some(b"poison-key"),
        poison,
        &[("tenant", b"acme")],
    )
    .await;

    let config = dir.path().join("epicenter.yaml");
    std::fs::write(
        &config,
        format!(
            r#"
data_dir: "{data}"
api:
  listen: "127.0.0.1:0"
ingest:
  otlp:
    enabled: false
  kafka:
    group_id: "{group}"
    topics:
      - {{ name: "{spans_topic}", encoding: otlp_json }}
      - {{ name: "{deploy_topic}", encoding: cdevents }}
      - {{ name: "{incident_topic}", encoding: incidents }}
    auto_offset_reset: earliest
    auto_commit_interval_ms: 200
    session_timeout_ms: 6000
graph:
  idle_advance_secs: 0
emit:
  kafka:
    topic: "{alerts_topic}"
    message_timeout_ms: 10000
  cdevents:
    topic: "{cdevents_topic}"
"#,
            data = dir.path().join("data").display(),
        ),
    )
    .unwrap();
    // What `epicenter run --config FILE --kafka-brokers LIST` loads.
    let settings = load_settings(
        &ConfigArgs {
            config: Some(config),
            data_dir: None,
        },
        Some(&RunArgs {
            kafka_brokers: Some(broker.clone()),
            ..RunArgs::default()
        }),
    )
    .expect("valid settings");
    let running = epicenter::app::start(
        settings,
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .expect("daemon starts");
    let api = format!("http://{}", running.api_addr);
    wait_for_committed(&broker, &group, &deploy_topic, 1, deployments.len() as i64).await;
    // The incident handed off and the poison one acknowledged by the DLQ.
    wait_for_committed(&broker, &group, &incident_topic, 1, 2).await;
    produce_all(&producer, &spans_topic, &lines(&files.spans)).await;

    // The answer on the alerts topic.
    let alert_id = incident_alert_id("INC-kafka");
    let (_, alert) = find(&broker, &alerts_topic, PATIENCE * 3, |a| {
        a["id"] == alert_id.as_str()
    })
    .await;
    assert_eq!(alert["type"], "attribution", "{alert:#}");
    assert_eq!(alert["suspects"][0]["release"]["service"], "payment");
    assert_eq!(alert["suspects"][0]["release"]["version"], "1.5.0");
    assert_eq!(
        alert["suspects"][0]["release"]["deployment_id"],
        deployment_id.as_str()
    );
    assert_eq!(alert["incident"]["id"], "INC-kafka");
    assert_eq!(alert["incident"]["service"], "checkout");
    assert_eq!(alert["incident"]["source"], "plain");

    // The CDEvent, in CloudEvents binary mode, linked to the deployment.
    let (record, event) = find(&broker, &cdevents_topic, PATIENCE, |e| {
        e["subject"]["id"] == "INC-kafka"
    })
    .await;
    let context = &event["context"];
    assert_eq!(context["type"], "dev.cdevents.incident.detected.0.3.0");
    assert_eq!(context["specversion"], "0.5.1");
    assert_eq!(
        context["links"][0]["target"]["contextId"],
        deployment_id.as_str()
    );
    assert_eq!(context["links"][0]["linkKind"], "CAUSE");
    assert_eq!(event["subject"]["content"]["service"]["id"], "checkout");
    assert_eq!(
        event["customData"]["epicenter"]["alert_id"],
        alert_id.as_str()
    );
    let expected_id = format!("{alert_id}-detected");
    for (header, value) in [
        ("ce_specversion", "1.0"),
        ("ce_id", expected_id.as_str()),
        ("ce_source", "/epicenter"),
        ("ce_type", "dev.cdevents.incident.detected.0.3.0"),
        ("ce_subject", "INC-kafka"),
        ("content-type", "application/json"),
    ] {
        assert_eq!(k::header(&record, header), Some(value), "header {header}");
    }
    assert_eq!(context["id"], expected_id.as_str());
    assert_eq!(record.key(), Some(&b"INC-kafka"[..]));

    // The poison record, dead-lettered with its headers and counted.
    let dead = k::read_topic(&broker, &dlq::topic_for(&incident_topic, ".dlq"), 1).await;
    let record = &dead[0];
    assert_eq!(record.key(), Some(&b"poison-key"[..]));
    assert_eq!(record.payload(), Some(poison));
    assert_eq!(k::header(record, "tenant"), Some("acme"));
    assert_eq!(
        k::header(record, dlq::HEADER_ORIGINAL_TOPIC),
        Some(incident_topic.as_str())
    );
    assert_eq!(
        k::header(record, dlq::HEADER_ORIGINAL_OFFSET),
        Some(poison_offset.to_string().as_str())
    );
    assert_eq!(
        k::header(record, dlq::HEADER_ERROR_CLASS),
        Some("decode_error.incidents")
    );
    assert!(k::header(record, dlq::HEADER_ERROR_MESSAGE).is_some_and(|m| !m.is_empty()));

    for series in [
        "epicenter_ingest_incidents_total{transport=\"kafka\",format=\"plain\",outcome=\"accepted\"} 1".to_owned(),
        "epicenter_ingest_incidents_total{transport=\"kafka\",format=\"unknown\",outcome=\"invalid\"} 1".to_owned(),
        format!("epicenter_ingest_kafka_records_total{{topic=\"{incident_topic}\",result=\"dead_lettered\"}} 1"),
        "epicenter_analysis_incidents_answered_total{type=\"attribution\"} 1".to_owned(),
        // One event, one Kafka delivery; no file configured.
        "epicenter_emit_alerts_sent_total{sink=\"cdevents_kafka\"} 1".to_owned(),
    ] {
        wait_for_series(&api, &series).await;
    }
    let text = metrics_text(&api).await;
    assert!(
        !text.contains("sink=\"cdevents_file\""),
        "no cdevents file is configured:\n{text}"
    );
    running.stop();
    running.wait().await.expect("clean stop");
}
