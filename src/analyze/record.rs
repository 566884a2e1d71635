//! The durable history's [`Batch`] for one analysis step: the detection
//! windows it completed, the releases it changed (as they now stand, with
//! any verdict reached), the anomalies detection opened, updated or closed,
//! and the alerts it emitted.
//!
//! The daemon's analysis task and `epicenter replay` both build batches
//! with this one function from the same [`Outcome`], so both fill the
//! history identically.
//!
//! Never does: I/O (the caller hands the batch to the writer).

use std::collections::BTreeMap;

use super::analyzer::{Analyzer, Outcome};
use crate::history::{AnomalyRecord, Batch, ReleaseRecord};
use crate::model::{ReleaseKey, Verdict, WindowStats};
use crate::release::EventOutcome;

/// What `window`'s step (`outcome`, from `analyzer`) adds to the history.
pub fn history_batch(analyzer: &Analyzer, window: &WindowStats, outcome: &Outcome) -> Batch {
    let mut changed: BTreeMap<ReleaseKey, Option<Verdict>> = BTreeMap::new();
    for change in &outcome.changes {
        changed.entry(change.key.clone()).or_default();
    }
    for event in &outcome.events {
        if let EventOutcome::Applied(changes) = event {
            for change in changes {
                changed.entry(change.key.clone()).or_default();
            }
        }
    }
    for (key, verdict) in &outcome.verdicts {
        changed.insert(key.clone(), Some(*verdict));
    }
    let releases = changed
        .into_iter()
        .filter_map(|(key, verdict)| {
            let release = analyzer.releases().release(&key)?;
            Some(ReleaseRecord::from_release(release, verdict))
        })
        .collect();
    let anomalies = outcome
        .detect
        .iter()
        .flat_map(|d| {
            d.opened
                .iter()
                .chain(&d.updated)
                .chain(&d.recovered)
                .chain(&d.expired)
        })
        .map(AnomalyRecord::from_anomaly)
        .collect();
    Batch {
        watermark: window.end,
        windows: outcome.windows.clone(),
        releases,
        anomalies,
        alerts: outcome.alerts.clone(),
        incidents: Vec::new(),
    }
}
