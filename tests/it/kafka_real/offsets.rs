//! Offsets: committed only after hand-off, exactly once across a restart and
//! a rebalance, and backpressure that pauses instead of dropping.

use epicenter::ingest::kafka::KafkaError;
use std::time::Duration;

use prost::Message as _;
use tokio::sync::mpsc;

use crate::support::collector::{self, GenSpan};
use crate::support::kafka::{
    self as k, PATIENCE, Running, committed, registry_and_metrics, sample, sorted,
    wait_for_committed,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_neither_loses_nor_repeats_spans() {
    let Some(broker) = k::broker("restart_exactly_once") else {
        return;
    };
    let topic = k::unique("spans-restart");
    k::create_topics(&broker, &[&topic], 3).await;
    let group = k::unique("g");

    let producer = k::producer(&broker);
    let mut spans = Vec::new();
    for n in 0..60 {
        let trace = collector::trace(6, n);
        k::produce(
            &producer,
            &topic,
            None,
            &collector::request(&trace).encode_to_vec(),
            &[],
        )
        .await;
        spans.extend(trace);
    }

    // First run: a small queue, stopped a third of the way through.
    let (tx, mut rx) = mpsc::channel(2);
    let (_registry, metrics) = registry_and_metrics();
    let first = Running::spawn(
        k::settings(&broker, &group, &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    let mut batches = k::receive_spans(&mut rx, 100, PATIENCE).await;
    first.stop().await;
    while let Ok(batch) = rx.try_recv() {
        batches.push(batch); // handed off before the stop: delivered
    }
    let first_run = k::span_ids(&batches).len();
    assert!(
        first_run < spans.len(),
        "stopped mid-stream ({first_run} of {})",
        spans.len()
    );

    // Second run, same group: continues from the committed offsets.
    let (tx, mut rx) = mpsc::channel(2);
    let (_registry, metrics) = registry_and_metrics();
    let second = Running::spawn(
        k::settings(&broker, &group, &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    batches.extend(k::receive_spans(&mut rx, spans.len() - first_run, PATIENCE).await);
    second.stop().await;
    while let Ok(batch) = rx.try_recv() {
        batches.push(batch);
    }

    assert_eq!(
        sorted(k::span_ids(&batches)),
        sorted(collector::gen_ids(&spans)),
        "every span exactly once"
    );
    assert_eq!(
        committed(&broker, &group, &topic, 3)
            .await
            .iter()
            .sum::<i64>(),
        60
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_graph_queue_pauses_consumption_without_dropping() {
    let Some(broker) = k::broker("backpressure_pause") else {
        return;
    };
    let topic = k::unique("spans-backpressure");
    k::create_topics(&broker, &[&topic], 2).await;

    let producer = k::producer(&broker);
    let mut spans = Vec::new();
    for n in 0..40 {
        let trace = collector::trace(7, n);
        k::produce(
            &producer,
            &topic,
            None,
            &collector::request(&trace).encode_to_vec(),
            &[],
        )
        .await;
        spans.extend(trace);
    }

    let (tx, mut rx) = mpsc::channel(1);
    let (registry, metrics) = registry_and_metrics();
    let consumer = Running::spawn(
        k::settings(&broker, &k::unique("g"), &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    // Do not read until the consumer reports it paused on the full queue.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while sample(&registry, "epicenter_ingest_kafka_paused") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the consumer never paused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut batches = Vec::new();
    while k::span_ids(&batches).len() < spans.len() {
        let batch = tokio::time::timeout(PATIENCE, rx.recv())
            .await
            .expect("progress")
            .expect("open");
        batches.push(batch);
        // A slow graph stage: the queue fills up again after every batch.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    consumer.stop().await;

    assert_eq!(
        sorted(k::span_ids(&batches)),
        sorted(collector::gen_ids(&spans)),
        "nothing dropped or repeated"
    );
    assert!(sample(&registry, "epicenter_ingest_kafka_pauses_total") >= 1.0);
    assert_eq!(sample(&registry, "epicenter_ingest_kafka_paused"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_member_takes_over_partitions_without_loss_or_duplicates() {
    let Some(broker) = k::broker("rebalance_exactly_once") else {
        return;
    };
    let topic = k::unique("spans-rebalance");
    k::create_topics(&broker, &[&topic], 6).await;
    let group = k::unique("g");
    let producer = k::producer(&broker);
    let mut spans = Vec::new();
    let produce_traces = async |range: std::ops::Range<u32>, spans: &mut Vec<GenSpan>| {
        for n in range {
            let trace = collector::trace(8, n);
            k::produce(
                &producer,
                &topic,
                None,
                &collector::request(&trace).encode_to_vec(),
                &[],
            )
            .await;
            spans.extend(trace);
        }
    };
    produce_traces(0..30, &mut spans).await;

    // Both members feed one queue, like two pipelines feeding one assertion.
    let (tx, mut rx) = mpsc::channel(4);
    let (first_registry, metrics) = registry_and_metrics();
    // Records merged into larger batches: a rebalance must cut the revoked
    // partitions' records out of a batch not yet handed off.
    let merged = || {
        let mut config = k::config(&broker, &group, &[(&topic, "otlp_proto")]);
        config.max_merged_spans = 512;
        config.validate().expect("valid test settings")
    };
    let first = Running::spawn(merged(), tx.clone(), metrics);
    let mut batches = k::receive_spans(&mut rx, 50, PATIENCE).await;
    let (second_registry, metrics) = registry_and_metrics();
    let second = Running::spawn(merged(), tx, metrics);
    // Keep producing while the group rebalances onto two members.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut next = 30;
    while sample(
        &second_registry,
        "epicenter_ingest_kafka_assigned_partitions",
    ) < 1.0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second member never got partitions"
        );
        produce_traces(next..next + 2, &mut spans).await;
        next += 2;
        while let Ok(batch) = rx.try_recv() {
            batches.push(batch);
        }
    }
    produce_traces(next..next + 20, &mut spans).await;
    let have = k::span_ids(&batches).len();
    batches.extend(k::receive_spans(&mut rx, spans.len() - have, PATIENCE).await);
    first.stop().await;
    second.stop().await;
    while let Ok(batch) = rx.try_recv() {
        batches.push(batch);
    }

    assert_eq!(
        sorted(k::span_ids(&batches)),
        sorted(collector::gen_ids(&spans)),
        "every span exactly once"
    );
    let revokes = sample(
        &first_registry,
        "epicenter_ingest_kafka_rebalances_total{event=\"revoke\"}",
    );
    assert!(revokes >= 1.0, "the first member gave partitions up");
    let failures: f64 = ["revoke", "shutdown"]
        .iter()
        .map(|t| {
            sample(
                &first_registry,
                &format!("epicenter_ingest_kafka_commit_failures_total{{trigger=\"{t}\"}}"),
            )
        })
        .sum();
    assert_eq!(failures, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_handed_off_records_are_committed() {
    let Some(broker) = k::broker("commit_after_hand_off") else {
        return;
    };
    let topic = k::unique("spans-held");
    k::create_topics(&broker, &[&topic], 1).await;
    let group = k::unique("g");
    let producer = k::producer(&broker);
    let mut spans = Vec::new();
    for n in 0..5 {
        let trace = collector::trace(9, n);
        k::produce(
            &producer,
            &topic,
            None,
            &collector::request(&trace).encode_to_vec(),
            &[],
        )
        .await;
        spans.extend(trace);
    }

    // A graph stage that takes one batch and then stalls: the first record
    // is handed off (and committed while running), the second is held.
    let (tx, rx) = mpsc::channel(1);
    let (registry, metrics) = registry_and_metrics();
    let consumer = Running::spawn(
        k::settings(&broker, &group, &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while sample(&registry, "epicenter_ingest_kafka_paused") < 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the consumer never paused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_for_committed(&broker, &group, &topic, 1, 1).await;

    // The graph stage dies (with the batch it had accepted): the consumer
    // stops with an error and the held record stays uncommitted, whatever
    // the auto-commit did meanwhile.
    drop(rx);
    let result = tokio::time::timeout(Duration::from_secs(30), consumer.handle)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(result, Err(KafkaError::OutputClosed)),
        "{result:?}"
    );
    assert_eq!(committed(&broker, &group, &topic, 1).await, [1]);

    // A new member of the group starts at the held record.
    let (tx, mut rx) = mpsc::channel(8);
    let (_registry, metrics) = registry_and_metrics();
    let second = Running::spawn(
        k::settings(&broker, &group, &[(&topic, "otlp_proto")]),
        tx,
        metrics,
    );
    let batches = k::receive_spans(&mut rx, spans.len() - 5, PATIENCE).await;
    second.stop().await;
    assert_eq!(
        sorted(k::span_ids(&batches)),
        sorted(collector::gen_ids(&spans[5..])),
        "every record after the handed-off one, exactly once"
    );
}
