//! A `cdevents` topic: deployment events in every Kafka form (v0.4 bare,
//! v0.5 structured, `ce_*` binary mode, the plain form) reach the release
//! stage's queue in order, an unsupported type is skipped, a poison record
//! goes to `<topic>.dlq` with its headers while the next good one still
//! arrives, and a full queue pauses consumption instead of dropping; a
//! missing deployments topic (it is in the default subscription) does not
//! stop span consumption.

use std::path::Path;

use epicenter::ingest::kafka::dlq;
use epicenter::model::{DeployEvent, DeployKind};
use rdkafka::Message as _;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::kafka::{
    self as k, PATIENCE, Running, committed, registry_and_metrics, sample, wait_for_committed,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/deploy")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A v0.5 CDEvent of `ty` for `checkout-api` at `tag`.
fn cdevent_v05(id: &str, ty: &str, tag: &str) -> Value {
    json!({
        "context": {
            "specversion": "0.5.1",
            "id": id,
            "source": "/argocd/prod-eu-1",
            "type": ty,
            "timestamp": "2026-08-20T14:27:05.315384Z"
        },
        "subject": {
            "id": "shop/checkout-api",
            "content": {
                "environment": {"id": "production"},
                "artifactId": format!("pkg:oci/checkout-api@sha256%3Aabc?tag={tag}")
            }
        }
    })
}

async fn receive(rx: &mut mpsc::Receiver<DeployEvent>) -> DeployEvent {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a deployment event within the patience")
        .expect("queue open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_events_in_every_form_arrive_and_poison_goes_to_the_dlq() {
    let Some(broker) = k::broker("deployments") else {
        return;
    };
    let topic = k::unique("deployments");
    k::create_topics(&broker, &[&topic], 1).await;
    let group = k::unique("g");
    let producer = k::producer(&broker);

    // 0: v0.4 bare CDEvent.
    k::produce(
        &producer,
        &topic,
        None,
        &fixture("service_deployed_v04.json"),
        &[],
    )
    .await;
    // 1: v0.5 structured CloudEvent, announced by its content type.
    let data = cdevent_v05("e-1", "dev.cdevents.service.deployed.0.3.0", "v2.4.1");
    let structured = json!({
        "specversion": "1.0", "id": "e-1", "source": "/argocd/prod-eu-1",
        "type": "dev.cdevents.service.deployed.0.3.0", "data": data,
    });
    k::produce(
        &producer,
        &topic,
        Some(b"checkout-api"),
        &serde_json::to_vec(&structured).unwrap(),
        &[("content-type", b"application/cloudevents+json")],
    )
    .await;
    // 2: Kafka binary mode: ce_* headers, the value is the CDEvent.
    let binary = cdevent_v05("e-2", "dev.cdevents.service.upgraded.0.3.0", "v2.5.0");
    k::produce(
        &producer,
        &topic,
        None,
        &serde_json::to_vec(&binary).unwrap(),
        &[
            ("ce_specversion", b"1.0"),
            ("ce_id", b"e-2"),
            ("ce_source", b"/argocd/prod-eu-1"),
            ("ce_type", b"dev.cdevents.service.upgraded.0.3.0"),
            ("content-type", b"application/json"),
        ],
    )
    .await;
    // 3: poison, with a header of its own.
    let poison: &[u8] = b"{\"context\": not json";
    let (_, poison_offset) = k::produce(
        &producer,
        &topic,
        Some(b"poison-key"),
        poison,
        &[("tenant", b"acme")],
    )
    .await;
    // 4: a type we do not handle.
    k::produce(
        &producer,
        &topic,
        None,
        &fixture("pipelinerun_started_v05.json"),
        &[],
    )
    .await;
    // 5: the plain form, after the poison one.
    k::produce(&producer, &topic, None, &fixture("plain_deploy.json"), &[]).await;

    let (span_tx, _span_rx) = mpsc::channel(4);
    // Room for one event: the second waits with consumption paused.
    let (tx, mut rx) = mpsc::channel(1);
    let (registry, metrics) = registry_and_metrics();
    let consumer = Running::spawn_with_deployments(
        k::settings(&broker, &group, &[(&topic, "cdevents")]),
        span_tx,
        tx,
        metrics,
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while sample(&registry, "epicenter_ingest_kafka_paused") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a full deployment queue pauses consumption"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mut events = Vec::new();
    for _ in 0..4 {
        events.push(receive(&mut rx).await);
    }
    wait_for_committed(&broker, &group, &topic, 1, 6).await;
    let dead = k::read_topic(&broker, &dlq::topic_for(&topic, ".dlq"), 1).await;
    consumer.stop().await;
    assert!(rx.try_recv().is_err(), "nothing beyond the four events");

    let got: Vec<(DeployKind, &str, &str, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind, &*e.service, &*e.environment, e.version.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (DeployKind::Deployed, "payment", "staging", Some("1.5.0")),
            (
                DeployKind::Deployed,
                "checkout-api",
                "production",
                Some("v2.4.1")
            ),
            (
                DeployKind::Upgraded,
                "checkout-api",
                "production",
                Some("v2.5.0")
            ),
            (
                DeployKind::Deployed,
                "checkout-api",
                "production",
                Some("v2.5.0")
            ),
        ]
    );
    assert_eq!(
        (events[1].source.as_str(), events[1].id.as_str()),
        ("/argocd/prod-eu-1", "e-1")
    );
    assert_eq!(events[2].id, "e-2");

    let record = &dead[0];
    assert_eq!(record.key(), Some(&b"poison-key"[..]));
    assert_eq!(record.payload(), Some(poison));
    assert_eq!(k::header(record, "tenant"), Some("acme"));
    assert_eq!(
        k::header(record, dlq::HEADER_ORIGINAL_TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(
        k::header(record, dlq::HEADER_ORIGINAL_OFFSET),
        Some(poison_offset.to_string().as_str())
    );
    assert_eq!(
        k::header(record, dlq::HEADER_ERROR_CLASS),
        Some("decode_error.cdevents")
    );
    let message = k::header(record, dlq::HEADER_ERROR_MESSAGE).unwrap();
    assert!(message.starts_with("invalid json"), "{message}");

    let deploy = |outcome: &str| {
        sample(
            &registry,
            &format!(
                "epicenter_ingest_deploy_events_total{{source=\"kafka\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(deploy("accepted"), 4.0);
    assert_eq!(deploy("unsupported"), 1.0);
    assert_eq!(deploy("invalid"), 1.0);
    let records = |result: &str| {
        sample(
            &registry,
            &format!(
                "epicenter_ingest_kafka_records_total{{topic=\"{topic}\",result=\"{result}\"}}"
            ),
        )
    };
    assert_eq!(records("handed_off"), 4.0);
    assert_eq!(records("unsupported"), 1.0);
    assert_eq!(records("dead_lettered"), 1.0);
    assert!(sample(&registry, "epicenter_ingest_kafka_pauses_total") >= 1.0);
    assert_eq!(committed(&broker, &group, &topic, 1).await, [6]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_deployments_topic_does_not_stop_span_consumption() {
    let Some(broker) = k::broker("missing_deployments_topic") else {
        return;
    };
    // The default subscription names `deployments`; a cluster without it
    // must still deliver spans.
    let spans_topic = k::unique("spans");
    let missing = k::unique("deployments-missing");
    k::create_topics(&broker, &[&spans_topic], 1).await;
    let producer = k::producer(&broker);
    let trace = crate::support::collector::trace(7, 0);
    k::produce(
        &producer,
        &spans_topic,
        None,
        &prost::Message::encode_to_vec(&crate::support::collector::request(&trace)),
        &[],
    )
    .await;

    let (span_tx, mut span_rx) = mpsc::channel(4);
    let (tx, _rx) = mpsc::channel(4);
    let (registry, metrics) = registry_and_metrics();
    let consumer = Running::spawn_with_deployments(
        k::settings(
            &broker,
            &k::unique("g"),
            &[(&spans_topic, "otlp_proto"), (&missing, "cdevents")],
        ),
        span_tx,
        tx,
        metrics,
    );
    let batches = k::receive_spans(&mut span_rx, trace.len(), PATIENCE).await;
    consumer.stop().await;
    assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), trace.len());
    // librdkafka reports the unknown topic as a (non-fatal) consumer error.
    assert!(sample(&registry, "epicenter_ingest_kafka_consumer_errors_total") >= 1.0);
}
