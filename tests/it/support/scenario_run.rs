//! Runs release scenarios end to end: simulate into a temporary directory
//! (`epicenter::sim::write_scenario`), replay with the real `epicenter`
//! binary, parse the alerts and score them against the answer key.
//!
//! Shared by the scenario suite (`tests/it/scenarios.rs`) and the tuning
//! bench (`benches/scenarios.rs`, which includes this file by path), so it
//! uses nothing else from `support`.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use epicenter::model::Timestamp;
use epicenter::sim::score::{RunInfo, ScenarioScore, parse_alerts, score};
use epicenter::sim::{DeployFormat, PRESET_NAMES, ScenarioSpec, preset, write_scenario};

/// Event time of every scenario's first span (a Monday, 09:00 UTC).
pub const START: Timestamp = Timestamp::from_secs(1_772_442_000);

/// Deployment forms, rotated across the suite so each appears several times.
pub const FORMATS: [Option<DeployFormat>; 4] = [
    Some(DeployFormat::CdEventsV05),
    Some(DeployFormat::CdEventsV04),
    None,
    Some(DeployFormat::Plain),
];

/// Every preset once per seed, with `warmup_secs` of clean history at
/// `rate_rps`; seeds and deployment forms vary with the position. When
/// `aftermath_secs` is set, each run ends that long after its last event
/// instead of the preset's 20 minutes ("steady" runs as long as the others).
pub fn suite(
    warmup_secs: f64,
    rate_rps: f64,
    seeds: &[u64],
    aftermath_secs: Option<f64>,
) -> Vec<ScenarioSpec> {
    let mut out = Vec::new();
    for (round, &seed) in seeds.iter().enumerate() {
        for (n, name) in PRESET_NAMES.iter().enumerate() {
            let Some(mut p) = preset(name, warmup_secs) else {
                continue;
            };
            let last = p
                .scenario
                .events
                .iter()
                .map(|e| e.at_secs)
                .fold(warmup_secs, f64::max);
            p.scenario.duration_secs = Some(match aftermath_secs {
                Some(tail) => last + tail,
                None => p.scenario.duration_secs.unwrap_or(warmup_secs + 1200.0),
            });
            out.push(ScenarioSpec {
                preset: p,
                seed: seed.wrapping_mul(1000).wrapping_add(n as u64),
                rate_rps,
                start: START,
                deployments: FORMATS[(n + round) % FORMATS.len()],
                gzip: (n + round) % 3 == 0,
            });
        }
    }
    out
}

/// Simulates `spec` into `dir`, replays it with `exe` and scores the alerts.
pub fn run_one(spec: &ScenarioSpec, exe: &Path, dir: &Path) -> anyhow::Result<ScenarioScore> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let files = runtime
        .block_on(write_scenario(spec, dir))
        .with_context(|| format!("simulating {}", spec.preset.name))?;
    let alerts_path = dir.join("alerts.jsonl");
    let mut cmd = Command::new(exe);
    cmd.arg("replay")
        .arg("--spans")
        .arg(&files.spans)
        .arg("--alerts")
        .arg(&alerts_path)
        .env_remove("EPICENTER_CONFIG")
        .env("RUST_LOG", "error");
    if let Some(d) = &files.deployments {
        cmd.arg("--deployments").arg(d);
    }
    let began = tokio::time::Instant::now();
    let output = cmd.output().context("starting epicenter replay")?;
    let replay_secs = began.elapsed().as_secs_f64();
    anyhow::ensure!(
        output.status.success(),
        "epicenter replay failed on {} ({}): {}",
        spec.preset.name,
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&alerts_path)
        .with_context(|| format!("reading {}", alerts_path.display()))?;
    let alerts = parse_alerts(&text)?;
    let mut scored = score(&spec.answer_key(), &alerts);
    scored.run = Some(RunInfo {
        seed: spec.seed,
        deployments: spec.deployments_label().to_owned(),
        spans: files.report.spans,
        replay_secs,
    });
    Ok(scored)
}

/// Runs every spec on `threads` worker threads (each in its own temporary
/// directory), results in spec order.
pub fn run_all(
    specs: &[ScenarioSpec],
    exe: &Path,
    threads: usize,
) -> Vec<anyhow::Result<ScenarioScore>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<anyhow::Result<ScenarioScore>>>> =
        Mutex::new((0..specs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(spec) = specs.get(i) else { break };
                    let result = tempfile::tempdir()
                        .map_err(anyhow::Error::from)
                        .and_then(|dir| run_one(spec, exe, dir.path()));
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("worker panicked"))))
        .collect()
}
