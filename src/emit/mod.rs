//! Alert delivery: the Kafka topic `epicenter.alerts`, Alertmanager API v2
//! (every configured replica) and a JSON-lines file; and answered incidents
//! as CDEvents `incident.detected` ([`cdevents`]: topic
//! `epicenter.cdevents` and/or a file).
//!
//! Input: [`Alert`]s through [`Emitter::emit`], which never waits: each
//! sink has its own bounded queue, and when it is full the newest alert is
//! dropped and counted (`epicenter_emit_alerts_dropped_total{reason="queue_full"}`).
//! Each sink retries with exponential backoff on its own task, so a slow or
//! absent destination never stalls detection or the other sinks.
//!
//! Shutdown: drop every [`Emitter`] clone; each sink drains its queue (the
//! Alertmanager sink sends once more) and its task ends.
//!
//! Never does: decide what to alert on, or read the wall clock itself (the
//! caller injects a [`WallClock`]; only Alertmanager's `endsAt` needs it).

mod alertmanager;
pub mod cdevents;
mod config;
mod file;
mod kafka;
mod metrics;
mod queue;
mod retry;

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::model::{Alert, IncidentAnswer, Timestamp};

pub use alertmanager::{ALERTNAMES, PostableAlert, alertname};
pub use config::{
    AlertmanagerConfig, AlertmanagerSettings, CdEventsConfig, Config, FileConfig, FileSettings,
    KafkaConfig, KafkaSettings, Settings,
};
pub use file::write_alert_line;
pub use metrics::{Metrics, Reason, Sink};

use queue::QueueTx;

/// The wall clock, as event-time-shaped nanoseconds since the epoch.
pub type WallClock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Why the emit stage could not start.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// librdkafka rejected the producer configuration.
    #[error("failed to create the kafka alert producer")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The HTTP client could not be built.
    #[error("failed to build the alertmanager http client")]
    Http(#[from] reqwest::Error),
}

/// A durable record of the alerts each sink has delivered, so that an alert
/// derived again after a crash (from the state of the last snapshot) is not
/// sent twice to a sink that has it, and is sent to one that does not.
///
/// A sink records an alert once it has finished with it (see
/// [`Delivery::done`]), so one still queued in a sink when the process
/// dies is not recorded for that sink, and is sent to it after the restart.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// True when `sink` recorded exactly this alert (id and content). On a
    /// storage failure it returns false: a duplicate is better than a lost
    /// alert.
    fn seen(&self, sink: Sink, alert: &Alert) -> bool;

    /// True when `sink` recorded an alert with this id, with any content
    /// (on a storage failure: true, so nothing is sent twice on a guess).
    fn knows(&self, sink: Sink, id: &str) -> bool;

    /// Records that `sink` delivered `alert` (a newer content replaces an
    /// older one under the same id). Failures are logged, not returned.
    fn record(&self, sink: Sink, alert: &Alert);
}

/// How much of the alerts file's end [`Emitter::reconcile_file`] reads.
pub const RECONCILE_BYTES: u64 = 4 << 20;

/// The handle detection and attribution hand alerts to. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Emitter {
    queues: Vec<QueueTx>,
    cdevents: Option<(cdevents::CdTx, String)>,
    ledger: Option<Arc<dyn Ledger>>,
}

/// One alert on its way to the sinks: each sink that took it calls
/// [`Delivery::done`] once it has delivered it (written and flushed,
/// acknowledged by the broker, handed to the Alertmanager lifecycle; not
/// when it gave up), and the ledger records it for that sink.
#[derive(Debug)]
pub struct Delivery {
    alert: Alert,
    ledger: Option<Arc<dyn Ledger>>,
}

impl Delivery {
    /// The alert.
    pub fn alert(&self) -> &Alert {
        &self.alert
    }

    /// `sink` has delivered the alert.
    pub fn done(&self, sink: Sink) {
        if let Some(ledger) = &self.ledger {
            ledger.record(sink, &self.alert);
        }
    }
}

impl Emitter {
    /// Consults `ledger` before offering an alert to a sink, and records in
    /// it every alert a sink has finished with.
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// True when `alert` should be emitted: some sink has not recorded
    /// exactly it (new, or changed since); always true without a ledger or
    /// without sinks (it is still logged and published).
    pub fn admit(&self, alert: &Alert) -> bool {
        match &self.ledger {
            Some(ledger) if !self.queues.is_empty() => {
                self.queues.iter().any(|q| !ledger.seen(q.sink(), alert))
            }
            _ => true,
        }
    }

    /// True when there is a ledger and some sink has no alert with
    /// `alert`'s id: for alerts derived again while the analyzer is rebuilt
    /// from its journal, which were sent before the stop unless the ledger
    /// says otherwise (without a ledger nothing says otherwise: false). By
    /// id only: a rebuilt analyzer can derive an alert with another content
    /// than the live one sent (it takes all the journal's deployment events
    /// before its windows, the live one took them as they came), and that
    /// alert was sent. See
    /// [`Emitter::emit_unsent`].
    pub fn unsent(&self, alert: &Alert) -> bool {
        self.ledger.as_ref().is_some_and(|ledger| {
            self.queues
                .iter()
                .any(|q| !ledger.knows(q.sink(), &alert.id))
        })
    }

    /// Records in the ledger, for the file sink, the alerts the file holds
    /// that the ledger lacks: written, then a `kill -9` before the record
    /// (milliseconds; longer while a snapshot holds the store), so an alert
    /// derived again is not written twice. Reads the file's last
    /// [`RECONCILE_BYTES`]; for each id the last content written. Returns
    /// how many it recorded (none without a ledger or a file sink).
    pub fn reconcile_file(&self, settings: &Settings) -> usize {
        let (Some(ledger), Some(file)) = (&self.ledger, &settings.file) else {
            return 0;
        };
        let alerts = match file::tail_alerts(&file.path, RECONCILE_BYTES) {
            Ok(alerts) => alerts,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(error) => {
                tracing::warn!(path = %file.path.display(), %error, "cannot read the alerts file to reconcile the emitted-alert ledger");
                return 0;
            }
        };
        let mut recorded = 0;
        for alert in alerts.iter().filter(|a| !ledger.seen(Sink::File, a)) {
            ledger.record(Sink::File, alert);
            recorded += 1;
        }
        if recorded > 0 {
            tracing::info!(
                recorded,
                "alerts in the alerts file but not in the ledger (written just before a crash): recorded, not written again"
            );
        }
        recorded
    }

    /// Offers `alert` to every sink that has not recorded exactly it (every
    /// sink without a ledger), without waiting; returns how many accepted
    /// it (the rest were full and counted the drop).
    pub fn emit(&self, alert: Alert) -> usize {
        self.offer(alert, |ledger, sink, alert| !ledger.seen(sink, alert))
    }

    /// Offers `alert` to every sink that has recorded no alert of its id
    /// (see [`Emitter::unsent`]); returns how many accepted it.
    pub fn emit_unsent(&self, alert: Alert) -> usize {
        self.offer(alert, |ledger, sink, alert| !ledger.knows(sink, &alert.id))
    }

    fn offer(&self, alert: Alert, wanted: impl Fn(&dyn Ledger, Sink, &Alert) -> bool) -> usize {
        let delivery = Arc::new(Delivery {
            alert,
            ledger: self.ledger.clone(),
        });
        self.queues
            .iter()
            .filter(|q| {
                self.ledger
                    .as_deref()
                    .is_none_or(|ledger| wanted(ledger, q.sink(), &delivery.alert))
            })
            .filter(|q| q.offer(delivery.clone()))
            .count()
    }

    /// Offers the CDEvents `incident.detected` event of an answered
    /// incident to the CDEvents output, without waiting; `false` when it is
    /// off or its queue was full (counted).
    pub fn incident_detected(&self, answer: &IncidentAnswer) -> bool {
        match &self.cdevents {
            Some((tx, source)) => tx.offer(cdevents::incident_detected(answer, source)),
            None => false,
        }
    }

    /// Number of sinks configured.
    pub fn sinks(&self) -> usize {
        self.queues.len()
    }
}

/// Starts one task per configured sink. Must run inside a tokio runtime.
///
/// # Errors
/// When the Kafka producer or the HTTP client cannot be created.
pub fn start(
    settings: &Settings,
    clock: WallClock,
    metrics: Metrics,
) -> Result<(Emitter, Vec<JoinHandle<()>>), EmitError> {
    let mut queues = Vec::new();
    let mut tasks = Vec::new();
    if let Some(k) = &settings.kafka {
        let producer = kafka::producer(k)?;
        let (tx, rx) = queue::queue(Sink::Kafka, k.queue_capacity, metrics.clone());
        queues.push(tx);
        tasks.push(tokio::spawn(kafka::run(
            k.clone(),
            producer,
            rx,
            metrics.clone(),
        )));
    }
    if let Some(a) = &settings.alertmanager {
        let client = reqwest::Client::builder()
            .connect_timeout(a.request_timeout)
            .build()?;
        let (tx, rx) = queue::queue(Sink::Alertmanager, a.queue_capacity, metrics.clone());
        queues.push(tx);
        tasks.push(tokio::spawn(alertmanager::run(
            a.clone(),
            rx,
            clock,
            metrics.clone(),
            client,
        )));
    }
    if let Some(f) = &settings.file {
        let (tx, rx) = queue::queue(Sink::File, f.queue_capacity, metrics.clone());
        queues.push(tx);
        tasks.push(tokio::spawn(file::run(f.clone(), rx, metrics.clone())));
    }
    let cdevents = match &settings.cdevents {
        Some(c) => {
            let (tx, task) = cdevents::start(c, metrics.clone())?;
            tasks.push(task);
            Some((tx, c.source.clone()))
        }
        None => None,
    };
    Ok((
        Emitter {
            queues,
            cdevents,
            ledger: None,
        },
        tasks,
    ))
}
