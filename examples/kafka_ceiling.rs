//! The ceiling for Kafka ingest: a do-nothing rdkafka consumer that reads a
//! topic from the start and only counts records and bytes, configured like
//! Epicenter's own consumer (consumer group, `read_committed`, auto-commit).
//! `scripts/bench-kafka.sh` runs it against the same topic as the daemon.
//!
//! Never decodes a record or stores anything. It reads every partition's high
//! watermark first and stops once it has consumed up to them.
//!
//! Usage (`cargo run --release --example kafka_ceiling -- ...`):
//!
//! * `consume BROKERS TOPIC [GROUP]` prints one line of `key=value` pairs:
//!   records, bytes, the wall seconds from the first record to the last,
//!   on-CPU seconds of the whole process (utime + stime of every thread, from
//!   `/proc/self/stat`) and peak RSS (`VmHWM`).
//! * `create BROKERS TOPIC PARTITIONS` and `delete BROKERS TOPIC` manage the
//!   bench topic with the admin API (the broker jars that `scripts/kafka.sh`
//!   fetches do not include Kafka's command-line tools).

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, bail};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer as _};

/// Linux clock ticks per second (`getconf CLK_TCK`; 100 on every common target).
const CLK_TCK: f64 = 100.0;
/// Give up when no record arrives for this long.
const IDLE_LIMIT: Duration = Duration::from_secs(60);

const USAGE: &str = "usage: kafka_ceiling consume BROKERS TOPIC [GROUP] | \
                     create BROKERS TOPIC PARTITIONS | delete BROKERS TOPIC";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["consume", brokers, topic] => run_consume(brokers, topic, "kafka-ceiling"),
        ["consume", brokers, topic, group] => run_consume(brokers, topic, group),
        ["create", brokers, topic, partitions] => admin(brokers, topic, Some(partitions.parse()?)),
        ["delete", brokers, topic] => admin(brokers, topic, None),
        _ => bail!(USAGE),
    }
}

/// Creates the topic with `partitions` partitions (replication 1), or deletes
/// it when `partitions` is `None`.
fn admin(brokers: &str, topic: &str, partitions: Option<i32>) -> anyhow::Result<()> {
    let client: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .context("creating the admin client")?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let results = runtime.block_on(async {
        match partitions {
            Some(n) => {
                let new = NewTopic::new(topic, n, TopicReplication::Fixed(1));
                client.create_topics([&new], &options).await
            }
            None => client.delete_topics(&[topic], &options).await,
        }
    })?;
    for result in results {
        if let Err((name, code)) = result {
            bail!("topic {name}: {code}");
        }
    }
    Ok(())
}

fn run_consume(brokers: &str, topic: &str, group: &str) -> anyhow::Result<()> {
    let (brokers, topic) = (brokers.to_owned(), topic.to_owned());

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", group)
        .set("client.id", "kafka-ceiling")
        .set("enable.auto.commit", "true")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .create()
        .context("creating the consumer")?;

    let timeout = Duration::from_secs(10);
    let metadata = consumer
        .fetch_metadata(Some(&topic), timeout)
        .context("fetching metadata")?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions");
    }
    let mut expected: i64 = 0;
    for &partition in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, timeout)
            .context("fetching watermarks")?;
        expected += high - low;
    }
    consumer.subscribe(&[&topic]).context("subscribing")?;

    let (records, bytes, seconds) = consume(&consumer, expected)?;
    let cpu = cpu_seconds()?;
    let hwm = status_kib("VmHWM")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "records={records} bytes={bytes} seconds={seconds:.3} cpu_seconds={cpu:.2} \
         vmhwm_kib={hwm} partitions={}",
        partitions.len()
    )?;
    Ok(())
}

/// Polls until `expected` records were seen; returns records, value bytes and
/// the wall seconds from the first record to the last.
#[expect(
    clippy::disallowed_types,
    reason = "a benchmark measures wall time; no tokio runtime here"
)]
fn consume(consumer: &BaseConsumer, expected: i64) -> anyhow::Result<(i64, u64, f64)> {
    let mut records: i64 = 0;
    let mut bytes: u64 = 0;
    let mut first: Option<std::time::Instant> = None;
    let mut last_seen = std::time::Instant::now();
    while records < expected {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                first.get_or_insert_with(std::time::Instant::now);
                last_seen = std::time::Instant::now();
                records += 1;
                bytes += message.payload_len() as u64;
            }
            Some(Err(error)) => eprintln!("kafka_ceiling: consumer error: {error}"),
            None if last_seen.elapsed() > IDLE_LIMIT => {
                bail!("no record for {IDLE_LIMIT:?} after {records} of {expected}")
            }
            None => {}
        }
    }
    let seconds = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    Ok((records, bytes, seconds))
}

/// utime + stime of the whole process, seconds.
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line, i.e. the 12th and 13th after it.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("parsing /proc/self/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(i)
            .context("short /proc/self/stat")?
            .parse::<f64>()?)
    };
    Ok((ticks(11)? + ticks(12)?) / CLK_TCK)
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("{field} missing from /proc/self/status"))
}
