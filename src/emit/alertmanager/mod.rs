//! The Alertmanager API v2 sink: one lifecycle task that turns alerts into
//! `postableAlert`s and re-sends them every `resend`, and one delivery
//! worker per configured Alertmanager URL (all replicas, no load balancer),
//! each behind a small bounded queue of batches.
//!
//! 2xx is success; 5xx and network errors are retried with exponential
//! backoff up to `max_attempts`; 4xx is logged with its body and dropped
//! (Alertmanager stores the valid alerts of a batch even when it answers
//! 400). A slow or absent Alertmanager only fills its own worker's queue:
//! the lifecycle task never waits on the network, and the caller only ever
//! `try_send`s.
//!
//! Never does: block the caller, or read the wall clock itself (it is injected).

mod lifecycle;
mod payload;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::{self, MissedTickBehavior};

pub use payload::{ALERTNAMES, PostableAlert, alertname};

use super::WallClock;
use super::config::AlertmanagerSettings;
use super::metrics::{Metrics, Reason, Sink};
use super::queue::QueueRx;
use super::retry::Backoff;

use lifecycle::Lifecycle;
use payload::Mapping;

type Batch = Arc<Vec<PostableAlert>>;

/// Runs the lifecycle task until every producer is gone; then lets each
/// worker finish its queue and returns.
pub(crate) async fn run(
    settings: AlertmanagerSettings,
    mut rx: QueueRx,
    clock: WallClock,
    metrics: Metrics,
    client: reqwest::Client,
) {
    let mapping = Mapping {
        public_url: settings.public_url.clone(),
        runbook_base_url: settings.runbook_base_url.clone(),
        source: settings.source.clone(),
    };
    let mut lifecycle = Lifecycle::new(
        mapping,
        settings.resend,
        settings.resolved_resend,
        settings.event_hold,
        settings.max_active,
    );
    let settings = Arc::new(settings);
    let mut workers = Vec::new();
    let mut senders = Vec::new();
    for endpoint in &settings.endpoints {
        let (tx, batches) = mpsc::channel::<Batch>(settings.batches_per_url);
        senders.push(tx);
        workers.push(tokio::spawn(deliver(
            endpoint.clone(),
            settings.clone(),
            batches,
            metrics.clone(),
            client.clone(),
        )));
    }
    let dispatch = |batch: Vec<PostableAlert>| {
        if batch.is_empty() {
            return;
        }
        let batch = Arc::new(batch);
        for tx in &senders {
            match tx.try_send(batch.clone()) {
                Ok(()) => {}
                Err(_) => {
                    metrics.dropped(Sink::Alertmanager, Reason::QueueFull, batch.len() as u64);
                    crate::rate_limited!(
                        warn,
                        alerts = batch.len(),
                        "alertmanager is slow, batch dropped (it is re-sent at the next interval)"
                    );
                }
            }
        }
    };
    let mut resend = time::interval_at(time::Instant::now() + settings.resend, settings.resend);
    resend.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            alert = rx.recv() => {
                let Some(alert) = alert else { break };
                let now = clock();
                // Done once it is in the lifecycle, which re-sends it every
                // `resend` until it resolves (that state is in memory only).
                let mut batch = lifecycle.observe(alert.alert(), now);
                alert.done(Sink::Alertmanager);
                // Coalesce whatever else is already waiting into one request.
                while let Some(more) = rx.try_recv() {
                    batch.extend(lifecycle.observe(more.alert(), now));
                    more.done(Sink::Alertmanager);
                }
                dispatch(batch);
            }
            _ = resend.tick() => {
                dispatch(lifecycle.tick(clock()));
            }
        }
    }
    tracing::debug!(active = lifecycle.len(), "alertmanager sink stopping");
    drop(senders);
    for worker in workers {
        let _joined = worker.await;
    }
}

/// Delivers batches to one Alertmanager until the lifecycle task is gone.
async fn deliver(
    endpoint: String,
    settings: Arc<AlertmanagerSettings>,
    mut batches: mpsc::Receiver<Batch>,
    metrics: Metrics,
    client: reqwest::Client,
) {
    while let Some(batch) = batches.recv().await {
        let n = batch.len() as u64;
        let mut backoff = Backoff::new(settings.backoff_initial, settings.backoff_max);
        let mut attempt = 1;
        loop {
            let mut request = client
                .post(&endpoint)
                .timeout(settings.request_timeout)
                .json(&*batch);
            for (name, value) in &settings.headers {
                request = request.header(name, value);
            }
            let reason = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    metrics.sent(Sink::Alertmanager, n);
                    break;
                }
                Ok(response) if response.status().is_client_error() => {
                    let status = response.status().as_u16();
                    let body = response.text().await.unwrap_or_default();
                    let body: String = body.chars().take(512).collect();
                    metrics.failed(Sink::Alertmanager, Reason::Rejected, n);
                    crate::rate_limited!(warn, %endpoint, status, %body, "alertmanager rejected alerts");
                    break;
                }
                Ok(_) => Reason::ServerError,
                Err(_) => Reason::Network,
            };
            if attempt >= settings.max_attempts {
                metrics.failed(Sink::Alertmanager, reason, n);
                crate::rate_limited!(
                    warn,
                    %endpoint,
                    reason = reason.as_str(),
                    attempt,
                    "alert delivery to alertmanager failed"
                );
                break;
            }
            metrics.retried(Sink::Alertmanager);
            attempt += 1;
            time::sleep(backoff.next()).await;
        }
    }
}

#[cfg(test)]
mod tests;
