//! Writes one release scenario to a directory, ready for `epicenter replay`:
//! the spans as OTLP/JSON lines and, unless the scenario has none, its
//! deployment records in the chosen form. The scenario suite
//! (`tests/it/scenarios.rs`) and the tuning bench (`benches/scenarios.rs`)
//! both start here.
//!
//! Does file I/O through [`run_simulate`] only; never reads a clock (the
//! caller picks the start time).

use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::model::Timestamp;

use super::presets::Preset;
use super::score::AnswerKey;
use super::send::{Pacing, SimTarget, SimulateOptions, SimulateReport, run_simulate};
use super::{BatchOptions, DeployFormat};

/// One scenario run: a preset (possibly adjusted), a seed, a rate and the
/// form of its deployment records.
#[derive(Clone, Debug)]
pub struct ScenarioSpec {
    /// The fleet, timeline and answer key.
    pub preset: Preset,
    /// PRNG seed.
    pub seed: u64,
    /// Root requests per second.
    pub rate_rps: f64,
    /// Event time of the first span.
    pub start: Timestamp,
    /// Form of the deployment records; `None` writes no deployment file at
    /// all (every release must then be found through `service.version`).
    pub deployments: Option<DeployFormat>,
    /// Compress the span file (`spans.jsonl.gz`).
    pub gzip: bool,
}

impl ScenarioSpec {
    /// `deployments` as a short label (`none`, `plain`, `cdevents-0.4`, `cdevents-0.5`).
    pub fn deployments_label(&self) -> &'static str {
        self.deployments.map_or("none", DeployFormat::as_str)
    }

    /// The answer key of this run (exposure times from `start`).
    pub fn answer_key(&self) -> AnswerKey {
        AnswerKey::from_preset(&self.preset, self.start)
    }
}

/// What [`write_scenario`] wrote.
#[derive(Clone, Debug)]
pub struct ScenarioFiles {
    /// The span file.
    pub spans: PathBuf,
    /// The deployment records, when the spec asked for them.
    pub deployments: Option<PathBuf>,
    /// What the simulator did.
    pub report: SimulateReport,
}

/// Simulates `spec` as fast as possible into `dir` (`spans.jsonl[.gz]`,
/// `deployments.jsonl`).
///
/// # Errors
/// An invalid preset or an unwritable directory.
pub async fn write_scenario(spec: &ScenarioSpec, dir: &Path) -> anyhow::Result<ScenarioFiles> {
    let spans = dir.join(if spec.gzip {
        "spans.jsonl.gz"
    } else {
        "spans.jsonl"
    });
    let deployments = spec.deployments.map(|_| dir.join("deployments.jsonl"));
    let options = SimulateOptions {
        target: SimTarget::File {
            path: spans.clone(),
        },
        topology: spec.preset.topology.clone(),
        scenario: spec.preset.scenario.clone(),
        seed: spec.seed,
        rate_rps: spec.rate_rps,
        start: spec.start,
        pacing: Pacing::AsFastAsPossible,
        batch: BatchOptions::default(),
        deployments_out: deployments.clone(),
        deployments_format: spec.deployments.unwrap_or_default(),
    };
    let report = run_simulate(options, CancellationToken::new()).await?;
    Ok(ScenarioFiles {
        spans,
        deployments,
        report,
    })
}
