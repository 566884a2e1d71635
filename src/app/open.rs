//! Opening the daemon's optional durable stores at start: the audit log
//! (which records the configuration it started with) and the durable
//! history with its writer thread and a reader for the API.
//!
//! Never does: decide whether a store is wanted (the settings do), or write
//! anything but the audit log's first record.

use std::sync::Arc;

use anyhow::Context as _;

use super::wall_clock_now;
use crate::config::Settings;

/// Opens the audit log and records the configuration, unless disabled.
pub(super) fn open_audit(
    settings: &Settings,
    registry: &mut prometheus_client::registry::Registry,
) -> anyhow::Result<(Option<crate::audit::Audit>, Option<crate::audit::Writer>)> {
    if !settings.audit.enabled {
        return Ok((None, None));
    }
    let metrics = crate::audit::Metrics::register(registry.sub_registry_with_prefix("audit"));
    let (audit, writer) = crate::audit::start(
        &settings.data_dir,
        &settings.audit,
        Arc::new(wall_clock_now),
        metrics,
    )
    .context("opening the audit log")?;
    // Secrets serialize masked (`***`); the log holds only the hash of this.
    let config = serde_json::to_value(&settings.raw).unwrap_or_default();
    let summary = serde_json::json!({
        "data_dir": settings.data_dir.display().to_string(),
        "otlp": settings.otlp.enabled,
        "kafka": settings.kafka.is_some(),
        "graph_window_secs": settings.raw.graph.window_secs,
        "audit_segment_bytes": settings.audit.segment_bytes,
        "audit_retain_segments": settings.audit.retain_segments,
    });
    audit.config_loaded(&config, summary);
    Ok((Some(audit), Some(writer)))
}

/// Opens the durable history and starts its writer, unless disabled.
#[allow(clippy::type_complexity)]
pub(super) fn open_history(
    settings: &Settings,
    registry: &mut prometheus_client::registry::Registry,
) -> anyhow::Result<(
    Option<crate::history::History>,
    Option<crate::history::Writer>,
    Option<crate::history::HistoryReader>,
)> {
    if !settings.history.enabled {
        return Ok((None, None, None));
    }
    let store = crate::history::HistoryStore::open(&settings.data_dir, &settings.history)
        .context("opening the history store")?;
    let reader = store.reader();
    let metrics = crate::history::Metrics::register(registry.sub_registry_with_prefix("history"));
    let (history, writer) = crate::history::start(store, settings.history.queue_batches, metrics)
        .context("starting the history writer")?;
    Ok((Some(history), Some(writer), Some(reader)))
}
