//! The JSON-lines file sink: one alert per line, appended, for replay and
//! audits. Lines are flushed whenever the queue runs empty; only then is
//! each alert done (the ledger records it for this sink), so one written to
//! the buffer but not to the file when the process dies is written after a
//! restart. An alert that could not be written is not recorded.
//!
//! Never does: rotate or truncate the file.

use std::io::{Read as _, Seek as _, Write};
use std::path::Path;

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

/// The last content of each alert id among the lines of the file's last
/// `max_bytes` (a cut first line and lines that are not alerts are
/// skipped), in the order of those last lines.
///
/// # Errors
/// When the file cannot be read (`NotFound` when there is none).
pub(crate) fn tail_alerts(path: &Path, max_bytes: u64) -> std::io::Result<Vec<Alert>> {
    let mut file = std::fs::File::open(path)?;
    let length = file.metadata()?.len();
    let from = length.saturating_sub(max_bytes);
    file.seek(std::io::SeekFrom::Start(from))?;
    let mut text = Vec::new();
    file.read_to_end(&mut text)?;
    let mut lines = text.split(|b| *b == b'\n');
    if from > 0 {
        let _cut = lines.next();
    }
    Ok(Alert::last_of_each_id(
        lines
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect(),
    ))
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
            while rx.recv().await.is_some() {
                metrics.failed(Sink::File, Reason::Io, 1);
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
            continue;
        }
        match file.write_all(&line).await {
            Ok(()) => {
                metrics.sent(Sink::File, 1);
                unflushed.push(alert);
            }
            Err(error) => {
                metrics.failed(Sink::File, Reason::Io, 1);
                crate::rate_limited!(error, path = %settings.path.display(), %error, "alert not written");
            }
        }
        if rx.is_idle() {
            match file.flush().await {
                Ok(()) => unflushed.drain(..).for_each(|alert| alert.done(Sink::File)),
                Err(error) => crate::rate_limited!(error, %error, "alerts file flush failed"),
            }
        }
    }
    match file.flush().await {
        Ok(()) => unflushed.drain(..).for_each(|alert| alert.done(Sink::File)),
        Err(error) => tracing::error!(%error, "alerts file flush failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_skips_its_cut_first_line_and_keeps_each_ids_last_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.jsonl");
        let alert = |id: &str, summary: &str| Alert {
            id: id.into(),
            summary: summary.into(),
            ..crate::model::alert::tests::example()
        };
        let mut bytes = Vec::new();
        for a in [
            alert("a", "1"),
            alert("b", "1"),
            alert("a", "2"),
            alert("c", "1"),
        ] {
            write_alert_line(&mut bytes, &a).unwrap();
        }
        std::fs::write(&path, &bytes).unwrap();
        let summaries = |alerts: Vec<Alert>| -> Vec<(String, String)> {
            alerts.into_iter().map(|a| (a.id, a.summary)).collect()
        };
        let pair = |id: &str, s: &str| (id.to_string(), s.to_string());
        assert_eq!(
            summaries(tail_alerts(&path, u64::MAX).unwrap()),
            [pair("b", "1"), pair("a", "2"), pair("c", "1")]
        );
        // The last two lines and a bit of the one before: that one is cut.
        let line = bytes.len() / 4;
        assert_eq!(
            summaries(tail_alerts(&path, (line * 2 + 10) as u64).unwrap()),
            [pair("a", "2"), pair("c", "1")]
        );
        assert!(tail_alerts(&dir.path().join("none"), 10).is_err());
    }
}
