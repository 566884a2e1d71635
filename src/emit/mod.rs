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
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A durable record of the alerts already emitted, so that an alert derived
/// again after a crash (from the state of the last snapshot) is not sent twice.
///
/// An alert is recorded only once every sink that took it has finished with
/// it (see [`Delivery::done`]), so one still queued in a sink when the
/// process dies is not recorded, and is sent after the restart.
pub trait Ledger: Send + Sync + std::fmt::Debug {
    /// True when exactly this alert (id and content) was recorded. On a
    /// storage failure it returns false: a duplicate is better than a lost
    /// alert.
    fn seen(&self, alert: &Alert) -> bool;

    /// Records `alert` as emitted (a newer content replaces an older one
    /// under the same id). Failures are logged, not returned.
    fn record(&self, alert: &Alert);
}

/// The handle detection and attribution hand alerts to. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Emitter {
    queues: Vec<QueueTx>,
    cdevents: Option<(cdevents::CdTx, String)>,
    ledger: Option<Arc<dyn Ledger>>,
}

/// One alert on its way to the sinks: each sink that took it calls
/// [`Delivery::done`] once when it has finished with it (written and
/// flushed, acknowledged by the broker, handed to the Alertmanager
/// lifecycle, or given up); after the last one the ledger records it.
#[derive(Debug)]
pub struct Delivery {
    alert: Alert,
    /// Sinks still holding the alert, plus one for the emitter while it offers.
    left: AtomicUsize,
    ledger: Option<Arc<dyn Ledger>>,
}

impl Delivery {
    /// The alert.
    pub fn alert(&self) -> &Alert {
        &self.alert
    }

    /// A sink has finished with the alert (call exactly once per sink).
    pub fn done(&self) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(ledger) = &self.ledger
        {
            ledger.record(&self.alert);
        }
    }
}

impl Emitter {
    /// Consults `ledger` in [`Emitter::admit`] and records in it every
    /// alert the sinks have finished with.
    #[must_use]
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// True when `alert` should be emitted: new, or changed since it was
    /// recorded with its id (always true without a ledger).
    pub fn admit(&self, alert: &Alert) -> bool {
        self.ledger
            .as_ref()
            .is_none_or(|ledger| !ledger.seen(alert))
    }

    /// True when there is a ledger and it has not recorded exactly `alert`:
    /// for alerts derived again while the analyzer is rebuilt from its
    /// journal, which were sent before the stop unless the ledger says
    /// otherwise (without a ledger nothing says otherwise: false).
    pub fn unsent(&self, alert: &Alert) -> bool {
        self.ledger
            .as_ref()
            .is_some_and(|ledger| !ledger.seen(alert))
    }

    /// Offers `alert` to every sink without waiting; returns how many sinks
    /// accepted it (the rest were full and counted the drop). The ledger
    /// records it once every sink that accepted it is done with it (at once
    /// when none did).
    pub fn emit(&self, alert: Alert) -> usize {
        let delivery = Arc::new(Delivery {
            alert,
            left: AtomicUsize::new(self.queues.len() + 1),
            ledger: self.ledger.clone(),
        });
        let mut accepted = 0;
        for queue in &self.queues {
            if queue.offer(delivery.clone()) {
                accepted += 1;
            } else {
                delivery.done();
            }
        }
        delivery.done();
        accepted
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
