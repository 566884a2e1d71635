//! The analysis stage as a task: closed windows and deployment events in,
//! alerts out to the emitter, metrics recorded, the latest releases and
//! alerts published for the API.
//!
//! Deployment events waiting in the channel are always taken before the next
//! window, so an event that arrived before its window closed is applied
//! exactly as replay applies it.
//!
//! Reported incidents are taken like deployment events (the waiting ones
//! before each window); each is answered by the analyzer, published for
//! `GET /api/v1/incidents`, and sent on as a CDEvents `incident.detected`.
//!
//! A checkpoint barrier from the graph stage (crash safety) is sealed after
//! every deployment event and incident queued so far: the journal is added
//! and the barrier goes to the snapshot writer ([`Outputs::checkpoints`]).
//! An alert the emitter's ledger has already seen (derived again after a
//! crash) is not audited or emitted again.
//!
//! Never does: analysis itself (see [`Analyzer`]), or block on a sink: the
//! emitter drops and counts when a sink's queue is full.

use tokio::sync::mpsc;

use super::analyzer::Analyzer;
use super::journal::Journal;
use super::metrics::Metrics;
use crate::emit::Emitter;
use crate::model::{Checkpoint, DeployEvent, GraphOutput, Incident, WindowStats};

/// Where the task reports to.
#[derive(Clone, Debug)]
pub struct Outputs {
    /// Alert delivery.
    pub emitter: Emitter,
    /// The stage's own metrics.
    pub metrics: Metrics,
    /// Release index metrics.
    pub release_metrics: crate::release::Metrics,
    /// Detection metrics.
    pub detect_metrics: crate::detect::metrics::Metrics,
    /// Recent alerts and releases for the API.
    pub published: crate::store::analysis::Published,
    /// The audit log (issue 4): every deployment event received and every
    /// alert emitted is recorded; `None` when `audit.enabled` is false.
    pub audit: Option<crate::audit::Audit>,
    /// The durable history (issue 4): one batch per window and per reported
    /// incident, queued to its writer thread; `None` when `history.enabled`
    /// is false.
    pub history: Option<crate::history::History>,
    /// Where sealed checkpoints go to be written (crash safety); `None`
    /// drops them.
    pub checkpoints: Option<mpsc::Sender<Checkpoint>>,
}

/// Runs until the window, deployment and incident channels all close;
/// returns the analyzer and the journal of its recent input (to be saved).
pub async fn run(
    mut analyzer: Analyzer,
    mut journal: Journal,
    mut windows: mpsc::Receiver<GraphOutput>,
    mut deployments: mpsc::Receiver<DeployEvent>,
    mut incidents: mpsc::Receiver<Incident>,
    outputs: Outputs,
) -> (Analyzer, Journal) {
    let (mut windows_open, mut deployments_open, mut incidents_open) = (true, true, true);
    let mut pacing = Pacing::default();
    // Runs until every input closed: a daemon with no span source still
    // takes deployment events and incidents until it stops.
    while windows_open || deployments_open || incidents_open {
        tokio::select! {
            biased;
            event = deployments.recv(), if deployments_open => match event {
                Some(event) => deploy(&mut analyzer, &mut journal, event, &outputs),
                None => deployments_open = false,
            },
            incident = incidents.recv(), if incidents_open => match incident {
                Some(incident) => reported(&mut analyzer, &mut journal, incident, &outputs),
                None => incidents_open = false,
            },
            window = windows.recv(), if windows_open => match window {
                Some(GraphOutput::Checkpoint(barrier)) => {
                    while let Ok(event) = deployments.try_recv() {
                        deploy(&mut analyzer, &mut journal, event, &outputs);
                    }
                    while let Ok(incident) = incidents.try_recv() {
                        reported(&mut analyzer, &mut journal, incident, &outputs);
                    }
                    seal(barrier, &mut journal, &outputs, &mut pacing).await;
                    footprint(&analyzer, &journal, &outputs);
                }
                Some(GraphOutput::Window(window)) => {
                    while let Ok(event) = deployments.try_recv() {
                        deploy(&mut analyzer, &mut journal, event, &outputs);
                    }
                    while let Ok(incident) = incidents.try_recv() {
                        reported(&mut analyzer, &mut journal, incident, &outputs);
                    }
                    let kept = step(&mut analyzer, &window, &outputs);
                    journal.window(&kept);
                    journal.incidents(&analyzer);
                    footprint(&analyzer, &journal, &outputs);
                }
                None => windows_open = false,
            },
        }
    }
    (analyzer, journal)
}

/// How often the journal may be sealed: encoding it costs time in
/// proportion to its size (a whole 40-minute journal, gigabytes of JSON
/// on a 5,000-service fleet), so after a seal that took `t`, barriers
/// arriving within `SEAL_SPACING × t` are skipped: snapshots then cost at
/// most about 1/SEAL_SPACING of the analysis thread. A skipped barrier's
/// Kafka offsets are committed by the next snapshot (at-least-once holds).
#[derive(Debug, Default)]
struct Pacing {
    not_before: Option<tokio::time::Instant>,
}

/// See [`Pacing`].
const SEAL_SPACING: u32 = 20;

/// Adds the journal's changes (its head, and the windows closed since the
/// last seal, which the writer encodes) to a barrier and hands it to the
/// snapshot writer;
/// when the writer is busy, or the last seal was too recent (see
/// [`Pacing`]), this barrier is skipped (the next one covers more); the
/// last barrier (a clean stop) always waits for room.
async fn seal(
    mut barrier: Checkpoint,
    journal: &mut Journal,
    outputs: &Outputs,
    pacing: &mut Pacing,
) {
    let Some(writer) = &outputs.checkpoints else {
        return;
    };
    let started = tokio::time::Instant::now();
    if !barrier.last && pacing.not_before.is_some_and(|t| started < t) {
        tracing::debug!("snapshot skipped: the last one was recent for its cost");
        return;
    }
    match journal.snapshot() {
        Ok(snapshot) => barrier.analysis = Some(snapshot),
        Err(error) => tracing::error!(%error, "analysis journal could not be encoded"),
    }
    pacing.not_before = Some(started + started.elapsed() * SEAL_SPACING);
    let carries_journal = barrier.analysis.is_some();
    let sent = if barrier.last {
        writer.send(barrier).await.is_ok()
    } else {
        let sent = writer.try_send(barrier).is_ok();
        if !sent {
            tracing::debug!("snapshot writer busy; checkpoint skipped");
        }
        sent
    };
    if sent && carries_journal {
        journal.mark_sealed();
    }
}

/// What the history and the journal hold, for the gauges.
fn footprint(analyzer: &Analyzer, journal: &Journal, outputs: &Outputs) {
    let metrics = &outputs.metrics;
    metrics.footprint(analyzer.history_footprint(), journal.unstored());
}

/// A deployment event received: audited (issue 4), then applied.
fn deploy(analyzer: &mut Analyzer, journal: &mut Journal, event: DeployEvent, outputs: &Outputs) {
    journal.event(&event);
    if let Some(audit) = &outputs.audit {
        audit.release_event(&event);
    }
    analyzer.on_deploy(event);
}

/// A reported incident received: audited, published as pending, then
/// answered now (its due time has passed) or queued for its window; the
/// journal remembers it either way (a restart keeps it pending, or ignores
/// it when re-sent).
fn reported(analyzer: &mut Analyzer, journal: &mut Journal, incident: Incident, outputs: &Outputs) {
    if let Some(audit) = &outputs.audit {
        audit.incident(&incident);
    }
    outputs.published.incident_received(&incident);
    let outcome = analyzer.on_incident(incident.clone());
    if let Some(history) = &outputs.history {
        history.write(super::record::incident_batch(&incident, &outcome));
    }
    journal.incidents(analyzer);
    outputs.metrics.record_alerts(&outcome);
    deliver(&outcome, outputs);
}

/// Alerts to the audit log, the API and the sinks; answered incidents to
/// the API and, as CDEvents `incident.detected`, to the CDEvents sinks.
fn deliver(outcome: &crate::analyze::Outcome, outputs: &Outputs) {
    for alert in &outcome.alerts {
        if !outputs.emitter.admit(alert) {
            // Emitted before a crash and derived again from the snapshot.
            outputs.published.alert(alert.clone());
            continue;
        }
        tracing::info!(
            r#type = alert.kind.as_str(),
            id = %alert.id,
            environment = %alert.environment,
            summary = %alert.summary,
            "alert"
        );
        // Audit (issue 4): `verdict` for release verdicts, `alert` otherwise.
        if let Some(audit) = &outputs.audit {
            audit.alert(alert);
        }
        outputs.published.alert(alert.clone());
        outputs.emitter.emit(alert.clone());
    }
    for answer in &outcome.incidents {
        outputs.published.incident_answered(answer.clone());
        outputs.emitter.incident_detected(answer);
    }
}

/// Alerts the analyzer derived again while it was rebuilt from its journal
/// that some sink never recorded: still queued in it (or written but not
/// flushed) when the process stopped. They are published and sent now to
/// those sinks only (not audited again: the audit log took each when it
/// was first derived); the others were sent before the stop and are
/// dropped. Returns how many were sent.
pub fn send_unsent(alerts: Vec<crate::model::Alert>, outputs: &Outputs) -> usize {
    let mut sent = 0;
    for alert in alerts {
        if !outputs.emitter.unsent(&alert) {
            continue;
        }
        tracing::info!(
            r#type = alert.kind.as_str(),
            id = %alert.id,
            "alert derived from the journal was not delivered before the stop; sending it now"
        );
        outputs.metrics.resent();
        outputs.published.alert(alert.clone());
        outputs.emitter.emit_unsent(alert);
        sent += 1;
    }
    sent
}

/// One window through the analyzer; returns it as kept (for the journal).
fn step(
    analyzer: &mut Analyzer,
    window: &WindowStats,
    outputs: &Outputs,
) -> std::sync::Arc<super::KeptWindow> {
    let (outcome, kept) = analyzer.on_window_kept(window);
    if let Some(history) = &outputs.history {
        history.write(super::record::history_batch(analyzer, window, &outcome));
    }
    for event in &outcome.events {
        outputs.release_metrics.event(event);
    }
    outputs.release_metrics.changes(&outcome.changes);
    outputs.release_metrics.sizes(analyzer.releases());
    if let Some(detected) = &outcome.detect {
        outputs.detect_metrics.observed(detected);
    }
    outputs.metrics.record(&outcome);
    deliver(&outcome, outputs);
    if !outcome.changes.is_empty() || !outcome.events.is_empty() {
        outputs.published.releases(
            analyzer
                .releases()
                .releases_since(crate::model::Timestamp::default())
                .into_iter()
                .cloned()
                .collect(),
        );
    }
    kept
}
