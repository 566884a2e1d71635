//! Real-Kafka test helpers: the broker address, unique topics and groups, a
//! producer that writes records the way the Collector's `kafkaexporter`
//! does, a raw reader for dead-letter topics, a consumer task handle, and
//! metric and committed-offset probes.
//!
//! The broker is the one `scripts/test.sh` starts (`scripts/kafka.sh`), at
//! `EPICENTER_TEST_KAFKA`. Without it a test prints a skip message and
//! returns, except in CI (`CI=true`), where a missing broker fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use epicenter::ingest::kafka::{
    Config, KafkaError, Metrics, OffsetReset, Settings, TopicConfig, run_consumer,
};
use epicenter::model::{DeployEvent, SpanBatch};
use prometheus_client::registry::Registry;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The test broker, or `None` (after printing why) when the test should skip.
///
/// # Panics
/// In CI (`CI` set to anything but `false`/`0`), when no broker is configured.
pub(crate) fn broker(test: &str) -> Option<String> {
    match std::env::var("EPICENTER_TEST_KAFKA") {
        Ok(broker) if !broker.trim().is_empty() => Some(broker),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{test}: EPICENTER_TEST_KAFKA is not set in CI; run ./scripts/test.sh"
            );
            eprintln!(
                "skipping {test}: EPICENTER_TEST_KAFKA is not set (./scripts/test.sh starts a broker)"
            );
            None
        }
    }
}

/// A topic (or group) name no other test or earlier run has used.
pub(crate) fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per process: different across runs.
    let run = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish() as u32;
    format!(
        "{prefix}-{run:08x}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates topics with `partitions` partitions each.
pub(crate) async fn create_topics(broker: &str, names: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .create()
        .expect("admin client");
    let topics: Vec<_> = names
        .iter()
        .map(|name| NewTopic::new(name, partitions, TopicReplication::Fixed(1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(20)));
    for result in admin
        .create_topics(&topics, &options)
        .await
        .expect("create topics")
    {
        result.unwrap_or_else(|(topic, error)| panic!("creating {topic}: {error}"));
    }
}

/// A producer configured like the Collector's exporter defaults (acks=1, no
/// compression, small linger).
pub(crate) fn producer(broker: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("acks", "1")
        .set("linger.ms", "10")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("producer")
}

/// Produces one record; returns its (partition, offset).
pub(crate) async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: Option<&[u8]>,
    value: &[u8],
    headers: &[(&str, &[u8])],
) -> (i32, i64) {
    let mut owned = OwnedHeaders::new();
    for (key, value) in headers {
        owned = owned.insert(Header {
            key,
            value: Some(*value),
        });
    }
    let mut record = FutureRecord::<[u8], [u8]>::to(topic)
        .payload(value)
        .headers(owned);
    if let Some(key) = key {
        record = record.key(key);
    }
    let delivery = producer
        .send(record, Duration::from_secs(20))
        .await
        .map_err(|(e, _)| e)
        .expect("produce");
    (delivery.partition, delivery.offset)
}

/// Consumer settings for a test: earliest offsets, fast commits and stats.
pub(crate) fn settings(broker: &str, group: &str, topics: &[(&str, &str)]) -> Settings {
    config(broker, group, topics)
        .validate()
        .expect("valid test settings")
}

/// The configuration behind [`settings`], to adjust before validating.
pub(crate) fn config(broker: &str, group: &str, topics: &[(&str, &str)]) -> Config {
    let topics = topics
        .iter()
        .map(|(name, encoding)| TopicConfig {
            name: (*name).to_owned(),
            encoding: serde_json::from_value(serde_json::json!(encoding)).expect("encoding name"),
        })
        .collect();
    Config {
        brokers: vec![broker.to_owned()],
        group_id: group.to_owned(),
        topics,
        auto_offset_reset: OffsetReset::Earliest,
        auto_commit_interval_ms: 200,
        session_timeout_ms: 6_000,
        stats_interval_ms: 500,
        // One batch per record: the tests assert what each record became.
        max_merged_spans: 1,
        ..Config::default()
    }
}

/// Reads `count` records of `topic`, all partitions, from the beginning.
pub(crate) async fn read_topic(broker: &str, topic: &str, count: usize) -> Vec<OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(20))
        .expect("metadata");
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len());
    assert!(partitions > 0, "{topic} does not exist");
    let mut tpl = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        tpl.add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
            .expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while out.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("{topic}: only {} of {count} records after 30 s", out.len()))
            .expect("read");
        out.push(message.detach());
    }
    out
}

/// The value of header `key`, as UTF-8.
pub(crate) fn header<'a>(message: &'a OwnedMessage, key: &str) -> Option<&'a str> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| std::str::from_utf8(h.value?).ok())
}

/// Receives batches until `spans` spans arrived; panics after `patience`.
pub(crate) async fn receive_spans(
    rx: &mut mpsc::Receiver<SpanBatch>,
    spans: usize,
    patience: Duration,
) -> Vec<SpanBatch> {
    let mut batches = Vec::new();
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + patience;
    while seen < spans {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(batch)) => {
                seen += batch.len();
                batches.push(batch);
            }
            Ok(None) => panic!("channel closed after {seen} of {spans} spans"),
            Err(_) => panic!("only {seen} of {spans} spans after {patience:?}"),
        }
    }
    batches
}

/// Span ids (hex) of every batch, with multiplicity.
pub(crate) fn span_ids(batches: &[SpanBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| b.spans.iter().map(|s| s.span_id.to_hex()))
        .collect()
}

pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A consumer running in a task.
pub(crate) struct Running {
    pub(crate) handle: JoinHandle<Result<(), KafkaError>>,
    pub(crate) shutdown: CancellationToken,
    /// The deployment queue's receiver when the test did not ask for it
    /// (kept open so a `cdevents` record never fails the consumer).
    _deployments: Option<mpsc::Receiver<DeployEvent>>,
    /// The incident queue's receiver (kept open, unread).
    _incidents: mpsc::Receiver<epicenter::model::Incident>,
}

impl Running {
    /// A consumer of span topics (deployment events are kept, unread).
    pub(crate) fn spawn(
        settings: Settings,
        output: mpsc::Sender<SpanBatch>,
        metrics: Metrics,
    ) -> Self {
        let (tx, rx) = mpsc::channel(16);
        let mut running = Self::spawn_with_deployments(settings, output, tx, metrics);
        running._deployments = Some(rx);
        running
    }

    /// A consumer handing deployment events to `deployments`.
    pub(crate) fn spawn_with_deployments(
        settings: Settings,
        output: mpsc::Sender<SpanBatch>,
        deployments: mpsc::Sender<DeployEvent>,
        metrics: Metrics,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let (incidents, incidents_rx) = mpsc::channel(16);
        let handle = tokio::spawn(run_consumer(
            settings,
            output,
            deployments,
            incidents,
            metrics,
            shutdown.clone(),
        ));
        Self {
            handle,
            shutdown,
            _deployments: None,
            _incidents: incidents_rx,
        }
    }

    /// Cancels and waits for the consumer's clean return.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("consumer stops within 30 s")
            .expect("consumer task did not panic");
        result.expect("consumer returned cleanly");
    }
}

pub(crate) fn registry_and_metrics() -> (Registry, Metrics) {
    let mut registry = epicenter::telemetry::new_registry();
    let ingest = registry.sub_registry_with_prefix("ingest");
    let deploy = epicenter::ingest::deploy::Metrics::register(ingest);
    let metrics = Metrics::register(ingest).with_deploy(deploy);
    (registry, metrics)
}

pub(crate) fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).expect("encode metrics");
    text
}

/// The value of one series in the exposition, 0 when absent.
pub(crate) fn sample(registry: &Registry, series: &str) -> f64 {
    exposition(registry)
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

pub(crate) fn services(batch: &SpanBatch) -> BTreeSet<String> {
    batch
        .spans
        .iter()
        .map(|s| batch.resource_of(s).service.to_string())
        .collect()
}

pub(crate) fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// Waits until the group's committed offsets of `topic` add up to `total`.
pub(crate) async fn wait_for_committed(
    broker: &str,
    group: &str,
    topic: &str,
    partitions: i32,
    total: i64,
) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let sum: i64 = committed(broker, group, topic, partitions)
            .await
            .iter()
            .sum();
        if sum == total {
            return;
        }
        assert!(
            sum < total,
            "committed {sum}, more than the {total} handed off"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "committed {sum} of {total}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The group's committed next-offset of each partition of `topic`.
pub(crate) async fn committed(broker: &str, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", group)
        .create()
        .expect("offset reader");
    let mut tpl = TopicPartitionList::new();
    for partition in 0..partitions {
        tpl.add_partition(topic, partition);
    }
    // The group coordinator answers with transient errors (loading, moved)
    // right after a broker start or a member's kill: ask again.
    let consumer = std::sync::Arc::new(consumer);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let committed = loop {
        let (consumer, tpl) = (consumer.clone(), tpl.clone());
        let answer = tokio::task::spawn_blocking(move || {
            consumer.committed_offsets(tpl, Duration::from_secs(20))
        })
        .await
        .expect("offset reader task");
        match answer {
            Ok(committed) => break committed,
            Err(error) if tokio::time::Instant::now() < deadline => {
                eprintln!("committed offsets of {group}: {error}; asking again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => panic!("committed offsets of {group}: {error}"),
        }
    };
    let by_partition: BTreeMap<i32, i64> = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(n) => (e.partition(), n),
            _ => (e.partition(), 0),
        })
        .collect();
    by_partition.into_values().collect()
}
