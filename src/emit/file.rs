//! The JSON-lines file sink: one alert per line, appended, for replay and
//! audits. Lines are flushed whenever the queue runs empty; only then is
//! each alert done (the ledger records it), so one written to the buffer
//! but not to the file when the process dies is sent again after a restart.
//!
//! Never does: rotate or truncate the file.

use std::io::Write;

use tokio::io::AsyncWriteExt;

use crate::model::Alert;

use super::config::FileSettings;
use super::metrics::{Metrics, Reason, Sink};
use super::queue::QueueRx;

/// Writes one alert as a JSON line (used by the sink and by `replay`, which
/// writes synchronously to a file or stdout).
///
/// # Errors
/// When the writer fails.
pub fn write_alert_line(out: &mut impl Write, alert: &Alert) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(alert)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// Appends every queued alert to the file until the queue closes.
pub(crate) async fn run(settings: FileSettings, mut rx: QueueRx, metrics: Metrics) {
    let opened = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&settings.path)
        .await;
    let mut file = match opened {
        Ok(file) => tokio::io::BufWriter::new(file),
        Err(error) => {
            tracing::error!(path = %settings.path.display(), %error, "cannot open the alerts file; alerts to it are lost");
            while let Some(alert) = rx.recv().await {
                metrics.failed(Sink::File, Reason::Io, 1);
                alert.done();
            }
            return;
        }
    };
    // Written to the buffer, done once flushed.
    let mut unflushed = Vec::new();
    while let Some(alert) = rx.recv().await {
        let mut line = Vec::new();
        if write_alert_line(&mut line, alert.alert()).is_err() {
            metrics.failed(Sink::File, Reason::Encode, 1);
            alert.done();
            continue;
        }
        match file.write_all(&line).await {
            Ok(()) => metrics.sent(Sink::File, 1),
            Err(error) => {
                metrics.failed(Sink::File, Reason::Io, 1);
                crate::rate_limited!(error, path = %settings.path.display(), %error, "alert not written");
            }
        }
        unflushed.push(alert);
        if rx.is_idle() {
            if let Err(error) = file.flush().await {
                crate::rate_limited!(error, %error, "alerts file flush failed");
            }
            unflushed.drain(..).for_each(|alert| alert.done());
        }
    }
    if let Err(error) = file.flush().await {
        tracing::error!(%error, "alerts file flush failed");
    }
    unflushed.drain(..).for_each(|alert| alert.done());
}
