//! CDEvents output: every answered incident as a CDEvents v0.5.1
//! `dev.cdevents.incident.detected.0.3.0` event (CONVENTIONS.md §4: we emit
//! v0.5.1, `specversion: "0.5.1"`, no `subject.type`), linked to the culprit
//! deployment's event, on a Kafka topic (CloudEvents binary mode: the
//! CDEvent is the value, `ce_*` headers, key = `subject.id`) and/or as a
//! JSON line in a file.
//!
//! The event: `context.id` is derived from the answer alert's id (a re-sent
//! answer keeps it), `context.timestamp` is the answer's event time,
//! `subject.id` the reported incident's id, `subject.content` holds
//! `description` (the title), `environment.id`, `service.id` and, when a
//! release is blamed and its deployment event carried one, `artifactId`
//! (the purl). `context.links` holds one `RELATION` link (`linkKind`
//! `CAUSE`) whose `target.contextId` is the culprit deployment event's id;
//! `customData` carries the answer alert's id, the blamed release and its
//! confidence.
//!
//! Metrics: the queue counts under sink `cdevents` (pushed, popped, depth,
//! dropped); delivery counts per destination, `cdevents_kafka` and
//! `cdevents_file` (sent, failed, retries), so an event sent to both is
//! counted once for each.
//!
//! Never does: block the caller (bounded queue, newest dropped and counted),
//! or decide anything.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::model::{IncidentAnswer, alert::ALERT_SCHEMA};

use super::config::KafkaSettings;
use super::metrics::{Metrics, Reason, Sink};
use super::retry::Backoff;

/// The CDEvents type emitted.
pub const INCIDENT_DETECTED: &str = "dev.cdevents.incident.detected.0.3.0";

/// The CDEvents spec version emitted.
pub const SPEC_VERSION: &str = "0.5.1";

/// One CDEvent ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct CdEvent {
    /// `context.id`.
    pub id: String,
    /// `context.source`.
    pub source: String,
    /// `context.type`.
    pub ty: String,
    /// `subject.id` (the Kafka key, CloudEvents `subject`).
    pub subject: String,
    /// `context.timestamp`, RFC 3339.
    pub time: String,
    /// The whole CDEvent.
    pub body: Value,
}

/// The `incident.detected` event for an answered incident.
pub fn incident_detected(answer: &IncidentAnswer, source: &str) -> CdEvent {
    let incident = &answer.incident;
    let environment = if answer.environment.is_empty() {
        "unknown"
    } else {
        answer.environment.as_str()
    };
    let id = format!("{}-detected", answer.alert.id);
    let time = answer.alert.detected_at.to_rfc3339();
    let mut content = json!({
        "description": if incident.title.is_empty() { &answer.alert.summary } else { &incident.title },
        "environment": {"id": environment},
        "service": {"id": &*incident.service},
    });
    let mut context = json!({
        "specversion": SPEC_VERSION,
        "id": id,
        "source": source,
        "type": INCIDENT_DETECTED,
        "timestamp": time,
    });
    let mut custom = json!({
        "schema": ALERT_SCHEMA,
        "alert_id": answer.alert.id,
        "alert_type": answer.alert.kind.as_str(),
        "incident_source": incident.source.as_str(),
        "started_at": incident.started_at.to_rfc3339(),
    });
    if let Some(culprit) = &answer.culprit {
        if let Some(purl) = &culprit.artifact_id {
            content["artifactId"] = Value::from(purl.as_str());
        }
        if let Some(deployment) = &culprit.release.deployment_id {
            context["links"] = json!([{
                "linkType": "RELATION",
                "linkKind": "CAUSE",
                "target": {"contextId": deployment},
            }]);
            custom["deployment_id"] = Value::from(deployment.as_str());
        }
        custom["release"] = serde_json::to_value(&culprit.release).unwrap_or(Value::Null);
        custom["confidence"] = answer
            .alert
            .suspects
            .first()
            .map_or(Value::Null, |s| Value::from(s.confidence));
    }
    let body = json!({
        "context": context,
        "subject": {"id": incident.id, "source": source, "content": content},
        "customData": {"epicenter": custom},
        "customDataContentType": "application/json",
    });
    CdEvent {
        id,
        source: source.to_owned(),
        ty: INCIDENT_DETECTED.to_owned(),
        subject: incident.id.clone(),
        time,
        body,
    }
}

/// Validated `emit.cdevents` settings.
#[derive(Clone, Debug, PartialEq)]
pub struct CdEventsSettings {
    /// `context.source` of emitted events.
    pub source: String,
    /// Kafka (brokers of `emit.kafka`, topic `emit.cdevents.topic`), when on.
    pub kafka: Option<KafkaSettings>,
    /// JSON-lines file, when set.
    pub path: Option<PathBuf>,
    /// Events waiting; when full, the newest is dropped and counted.
    pub queue_capacity: usize,
}

/// The producing end, in the [`super::Emitter`].
#[derive(Clone, Debug)]
pub(crate) struct CdTx {
    tx: mpsc::Sender<Arc<CdEvent>>,
    metrics: Metrics,
}

impl CdTx {
    /// Enqueues without waiting; `false` when dropped.
    pub(crate) fn offer(&self, event: CdEvent) -> bool {
        match self.tx.try_send(Arc::new(event)) {
            Ok(()) => {
                self.metrics.pushed(Sink::Cdevents);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped(Sink::Cdevents, Reason::QueueFull, 1);
                crate::rate_limited!(warn, "cdevents queue full, newest event dropped");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.dropped(Sink::Cdevents, Reason::Closed, 1);
                false
            }
        }
    }
}

/// Creates the queue and the task that drains it into Kafka and the file.
///
/// # Errors
/// When librdkafka rejects the producer configuration.
pub(crate) fn start(
    settings: &CdEventsSettings,
    metrics: Metrics,
) -> Result<(CdTx, tokio::task::JoinHandle<()>), rdkafka::error::KafkaError> {
    let producer = match &settings.kafka {
        Some(k) => Some((super::kafka::producer(k)?, k.clone())),
        None => None,
    };
    let (tx, rx) = mpsc::channel(settings.queue_capacity.max(1));
    let task = tokio::spawn(run(settings.path.clone(), producer, rx, metrics.clone()));
    Ok((CdTx { tx, metrics }, task))
}

async fn run(
    path: Option<PathBuf>,
    producer: Option<(FutureProducer, KafkaSettings)>,
    mut rx: mpsc::Receiver<Arc<CdEvent>>,
    metrics: Metrics,
) {
    let mut file = match &path {
        Some(path) => match tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
        {
            Ok(file) => Some(file),
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot open the cdevents file; events to it are lost");
                None
            }
        },
        None => None,
    };
    while let Some(event) = rx.recv().await {
        metrics.popped(Sink::Cdevents);
        let payload = match serde_json::to_vec(&event.body) {
            Ok(payload) => payload,
            Err(_) => {
                for sink in [
                    file.is_some().then_some(Sink::CdeventsFile),
                    producer.is_some().then_some(Sink::CdeventsKafka),
                ]
                .into_iter()
                .flatten()
                {
                    metrics.failed(sink, Reason::Encode, 1);
                }
                continue;
            }
        };
        if let Some(file) = file.as_mut() {
            let mut line = payload.clone();
            line.push(b'\n');
            let written = match file.write_all(&line).await {
                Ok(()) => file.flush().await,
                Err(error) => Err(error),
            };
            match written {
                Ok(()) => metrics.sent(Sink::CdeventsFile, 1),
                Err(error) => {
                    metrics.failed(Sink::CdeventsFile, Reason::Io, 1);
                    crate::rate_limited!(error, %error, "cdevent not written to the file");
                }
            }
        }
        if let Some((producer, settings)) = &producer {
            produce(producer, settings, &event, &payload, &metrics).await;
        }
    }
}

/// One record in CloudEvents binary mode, retried with backoff.
async fn produce(
    producer: &FutureProducer,
    settings: &KafkaSettings,
    event: &CdEvent,
    payload: &[u8],
    metrics: &Metrics,
) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
    let mut attempt = 1;
    loop {
        let mut headers = OwnedHeaders::new();
        for (key, value) in [
            ("ce_specversion", "1.0"),
            ("ce_id", event.id.as_str()),
            ("ce_source", event.source.as_str()),
            ("ce_type", event.ty.as_str()),
            ("ce_subject", event.subject.as_str()),
            ("ce_time", event.time.as_str()),
            ("content-type", "application/json"),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let record = FutureRecord::to(&settings.topic)
            .key(&event.subject)
            .payload(payload)
            .headers(headers);
        match producer
            .send(record, Timeout::After(settings.message_timeout))
            .await
        {
            Ok(_) => {
                metrics.sent(Sink::CdeventsKafka, 1);
                return;
            }
            Err((error, _)) if attempt >= settings.max_attempts => {
                metrics.failed(Sink::CdeventsKafka, Reason::Producer, 1);
                crate::rate_limited!(warn, %error, attempt, "cdevent delivery to kafka failed");
                return;
            }
            Err(_) => {
                metrics.retried(Sink::CdeventsKafka);
                attempt += 1;
                tokio::time::sleep(backoff.next()).await;
            }
        }
    }
}

#[cfg(test)]
#[path = "cdevents_tests.rs"]
mod tests;
