//! Records in, span batches out; poison records to the dead-letter topic.

use std::collections::{BTreeSet, HashMap};

use epicenter::ingest::kafka::dlq;
use prost::Message as _;
use rdkafka::Message as _;
use tokio::sync::mpsc;

use crate::support::collector::{self, GenSpan};
use crate::support::kafka::{
    self as k, PATIENCE, Running, committed, registry_and_metrics, sample, services, sorted,
    wait_for_committed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_batches_with_many_services_and_partial_traces_arrive_whole() {
    let Some(broker) = k::broker("collector_batches") else {
        return;
    };
    let topic = k::unique("spans");
    k::create_topics(&broker, &[&topic], 3).await;

    // 12 five-span traces in exporter batches of 13 spans: every record holds
    // several services, and traces are cut across records.
    let spans: Vec<GenSpan> = (0..12).flat_map(|n| collector::trace(1, n)).collect();
    let producer = k::producer(&broker);
    let mut expected = BTreeSet::new();
    let mut used_partitions = BTreeSet::new();
    for chunk in spans.chunks(13) {
        let value = collector::request(chunk).encode_to_vec();
        let (partition, _) = k::produce(&producer, &topic, None, &value, &[]).await;
        used_partitions.insert(partition);
        let names: BTreeSet<String> = chunk.iter().map(|s| s.service.to_owned()).collect();
        expected.insert((chunk.len(), names));
    }

    let (tx, mut rx) = mpsc::channel(16);
    let (registry, metrics) = registry_and_metrics();
    let group = k::unique("g");
    let consumer = Running::spawn(
        k::settings(&broker, &group, &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    let batches = k::receive_spans(&mut rx, spans.len(), PATIENCE).await;
    // Stored offsets are auto-committed while the consumer runs, and the
    // lag gauge (from librdkafka statistics) drops to zero on every partition
    // with records (lag is undefined, so not exported, before a first commit).
    wait_for_committed(&broker, &group, &topic, 3, 5).await;
    for partition in used_partitions {
        let lag = format!(
            "epicenter_ingest_kafka_consumer_lag{{topic=\"{topic}\",partition=\"{partition}\"}}"
        );
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !k::exposition(&registry).contains(&format!("{lag} 0")) {
            assert!(tokio::time::Instant::now() < deadline, "no zero {lag}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    consumer.stop().await;

    assert_eq!(batches.len(), 5, "one batch per record");
    let got: BTreeSet<_> = batches.iter().map(|b| (b.len(), services(b))).collect();
    assert_eq!(got, expected);
    assert!(
        got.iter().any(|(_, s)| s.len() == 3),
        "a record spans frontend, checkout and payment"
    );
    assert_eq!(
        sorted(k::span_ids(&batches)),
        sorted(collector::gen_ids(&spans))
    );
    assert!(rx.try_recv().is_err(), "nothing beyond the produced spans");
    let received = format!("epicenter_ingest_kafka_spans_received_total{{topic=\"{topic}\"}}");
    assert_eq!(sample(&registry, &received), 60.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_keyed_by_trace_id_keep_each_trace_in_order_on_one_partition() {
    let Some(broker) = k::broker("keyed_by_trace_id") else {
        return;
    };
    let topic = k::unique("spans-keyed");
    k::create_topics(&broker, &[&topic], 6).await;

    // partition_traces_by_id: one record per trace per batch, keyed by the
    // 32-hex trace id; each trace arrives in two exporter batches (3 + 2 spans).
    let producer = k::producer(&broker);
    let mut all = Vec::new();
    for part in [0..3, 3..5] {
        for n in 0..8 {
            let spans = &collector::trace(2, n)[part.clone()];
            let key: String = spans[0]
                .span
                .trace_id
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(key.len(), 32);
            k::produce(
                &producer,
                &topic,
                Some(key.as_bytes()),
                &collector::request(spans).encode_to_vec(),
                &[],
            )
            .await;
            all.extend_from_slice(spans);
        }
    }

    let (tx, mut rx) = mpsc::channel(64);
    let (_registry, metrics) = registry_and_metrics();
    let consumer = Running::spawn(
        k::settings(&broker, &k::unique("g"), &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    let batches = k::receive_spans(&mut rx, all.len(), PATIENCE).await;
    consumer.stop().await;

    assert_eq!(batches.len(), 16);
    let mut sizes_by_trace: HashMap<String, Vec<usize>> = HashMap::new();
    for batch in &batches {
        let traces: BTreeSet<_> = batch.spans.iter().map(|s| s.trace_id.to_hex()).collect();
        assert_eq!(traces.len(), 1, "one trace per keyed record");
        sizes_by_trace
            .entry(traces.into_iter().next().unwrap())
            .or_default()
            .push(batch.len());
    }
    assert_eq!(sizes_by_trace.len(), 8);
    for (trace, sizes) in &sizes_by_trace {
        assert_eq!(
            sizes,
            &[3, 2],
            "trace {trace}: same key, same partition, produce order"
        );
    }
    assert_eq!(
        sorted(k::span_ids(&batches)),
        sorted(collector::gen_ids(&all))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_topic_is_decoded_with_its_own_encoding() {
    let Some(broker) = k::broker("per_topic_encoding") else {
        return;
    };
    let json_topic = k::unique("spans-json");
    let proto_topic = k::unique("spans-proto");
    k::create_topics(&broker, &[&json_topic, &proto_topic], 2).await;

    let producer = k::producer(&broker);
    let json_spans: Vec<GenSpan> = (0..4).flat_map(|n| collector::trace(3, n)).collect();
    for chunk in json_spans.chunks(7) {
        k::produce(
            &producer,
            &json_topic,
            None,
            &collector::request_json(chunk),
            &[],
        )
        .await;
    }
    // One span of the protobuf record ends before it starts: it alone is
    // dropped (and counted); the rest of the record is handed off.
    let proto_spans = collector::trace(4, 0);
    let mut broken = proto_spans[4].clone();
    broken.span.span_id = vec![4, 0xee, 0, 0, 0, 0, 0, 1];
    broken.span.end_time_unix_nano = broken.span.start_time_unix_nano - 1;
    let mut record = proto_spans.clone();
    record.push(broken);
    k::produce(
        &producer,
        &proto_topic,
        None,
        &collector::request(&record).encode_to_vec(),
        &[],
    )
    .await;

    let (tx, mut rx) = mpsc::channel(16);
    let (registry, metrics) = registry_and_metrics();
    let settings = k::settings(
        &broker,
        &k::unique("g"),
        &[(&json_topic, "otlp_json"), (&proto_topic, "otlp_proto")],
    );
    let consumer = Running::spawn(settings, tx, metrics);
    let batches = k::receive_spans(&mut rx, json_spans.len() + proto_spans.len(), PATIENCE).await;
    consumer.stop().await;

    let mut want = collector::gen_ids(&json_spans);
    want.extend(collector::gen_ids(&proto_spans));
    assert_eq!(sorted(k::span_ids(&batches)), sorted(want));
    let all_services: BTreeSet<String> = batches.iter().flat_map(services).collect();
    assert_eq!(
        all_services,
        BTreeSet::from(["checkout".into(), "frontend".into(), "payment".into()])
    );
    assert_eq!(
        sample(&registry, "epicenter_ingest_kafka_consumer_errors_total"),
        0.0
    );
    let dlq = format!(
        "epicenter_ingest_kafka_dlq_records_total{{topic=\"{json_topic}\",reason=\"decode_error\"}}"
    );
    assert_eq!(
        sample(&registry, &dlq),
        0.0,
        "valid JSON is not dead-lettered"
    );
    let rejected = format!(
        "epicenter_ingest_kafka_spans_rejected_total{{topic=\"{proto_topic}\",reason=\"end_before_start\"}}"
    );
    assert_eq!(sample(&registry, &rejected), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_goes_to_the_dlq_with_its_headers_and_the_consumer_moves_on() {
    let Some(broker) = k::broker("poison_to_dlq") else {
        return;
    };
    let topic = k::unique("spans-poison");
    k::create_topics(&broker, &[&topic], 1).await;
    let group = k::unique("g");

    let producer = k::producer(&broker);
    let first = collector::trace(5, 0);
    let last = collector::trace(5, 1);
    let poison: &[u8] = b"\x0a\xff\xff\xff\xff this is not protobuf";
    k::produce(
        &producer,
        &topic,
        None,
        &collector::request(&first).encode_to_vec(),
        &[],
    )
    .await;
    let (_, poison_offset) = k::produce(
        &producer,
        &topic,
        Some(b"poison-key"),
        poison,
        &[("tenant", b"acme")],
    )
    .await;
    k::produce(&producer, &topic, Some(b"tombstone"), b"", &[]).await;
    k::produce(
        &producer,
        &topic,
        None,
        &collector::request(&last).encode_to_vec(),
        &[],
    )
    .await;

    let (tx, mut rx) = mpsc::channel(16);
    let (registry, metrics) = registry_and_metrics();
    let consumer = Running::spawn(
        k::settings(&broker, &group, &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    let batches = k::receive_spans(&mut rx, 10, PATIENCE).await;
    consumer.stop().await;
    assert_eq!(
        batches.len(),
        2,
        "the records around the poison one are delivered"
    );

    let dlq_topic = dlq::topic_for(&topic, ".dlq");
    let dead = k::read_topic(&broker, &dlq_topic, 1).await;
    let record = &dead[0];
    assert_eq!(record.key(), Some(&b"poison-key"[..]));
    assert_eq!(record.payload(), Some(poison));
    assert_eq!(
        k::header(record, "tenant"),
        Some("acme"),
        "original headers are kept"
    );
    assert_eq!(
        k::header(record, dlq::HEADER_ORIGINAL_TOPIC),
        Some(topic.as_str())
    );
    assert_eq!(k::header(record, dlq::HEADER_ORIGINAL_PARTITION), Some("0"));
    assert_eq!(
        k::header(record, dlq::HEADER_ORIGINAL_OFFSET),
        Some(poison_offset.to_string().as_str())
    );
    let timestamp: i64 = k::header(record, dlq::HEADER_ORIGINAL_TIMESTAMP)
        .unwrap()
        .parse()
        .unwrap();
    assert!(timestamp > 1_600_000_000_000);
    assert_eq!(
        k::header(record, dlq::HEADER_ERROR_CLASS),
        Some("decode_error.protobuf")
    );
    assert!(
        k::header(record, dlq::HEADER_ERROR_MESSAGE)
            .unwrap()
            .contains("invalid protobuf")
    );
    assert_eq!(
        k::header(record, dlq::HEADER_CONSUMER_GROUP),
        Some(group.as_str())
    );

    let series = |name: &str, labels: &str| {
        format!("epicenter_ingest_kafka_{name}_total{{topic=\"{topic}\",{labels}}}")
    };
    assert_eq!(
        sample(&registry, &series("dlq_records", "reason=\"decode_error\"")),
        1.0
    );
    assert_eq!(
        sample(&registry, &series("records", "result=\"dead_lettered\"")),
        1.0
    );
    assert_eq!(
        sample(&registry, &series("records", "result=\"empty\"")),
        1.0,
        "the tombstone is skipped"
    );
    assert_eq!(
        sample(&registry, &series("records", "result=\"handed_off\"")),
        2.0
    );

    // Every record, the poison and the tombstone included, was committed.
    assert_eq!(committed(&broker, &group, &topic, 1).await, [4]);
}
