//! The release scenario suite at realistic size, for tuning detection and
//! attribution: every preset (and two releases on a generated fleet) with
//! 15 minutes of clean history and several hundred thousand spans, over
//! several seeds, replayed by the `epicenter` binary. Prints the score table
//! (tests/it/support/scenario_run.rs does the work) and each replay's wall
//! time; the target is under 30 s per scenario.
//!
//! `cargo bench --bench scenarios`. Environment knobs:
//! `EPICENTER_SCENARIO_SEEDS` (seed rounds, default 3),
//! `EPICENTER_SCENARIO_RATE` (root requests/s, default 15: ≈350,000 spans
//! on the default fleet; the generated fleet, whose traces are longer, runs
//! at 60% of it),
//! `EPICENTER_SCENARIO_WARMUP` (seconds, default 900),
//! `EPICENTER_SCENARIO_ONLY` (comma-separated scenario names),
//! `EPICENTER_SCENARIO_THREADS` (parallel scenarios, default 1 so replay
//! times are not inflated by each other).

// Printing the table is this bench's output.
#![allow(clippy::print_stdout, clippy::unwrap_used, unreachable_pub, dead_code)]

#[path = "../tests/it/support/scenario_run.rs"]
mod scenario_run;

use std::path::Path;

use epicenter::sim::score::{Criteria, check, render_table};
use epicenter::sim::{GENERATED_PRESET_NAMES, ScenarioSpec, generated_preset};

fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: the suite
    // already runs at test size in `tests/it/scenarios.rs`, so do nothing.
    if !std::env::args().any(|a| a == "--bench") {
        println!("scenarios: skipped (run with `cargo bench --bench scenarios`)");
        return;
    }
    let seeds: u64 = knob("EPICENTER_SCENARIO_SEEDS", 3);
    let rate: f64 = knob("EPICENTER_SCENARIO_RATE", 15.0);
    let warmup: f64 = knob("EPICENTER_SCENARIO_WARMUP", 900.0);
    let threads: usize = knob("EPICENTER_SCENARIO_THREADS", 1);
    let only: Vec<String> = std::env::var("EPICENTER_SCENARIO_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let seed_list: Vec<u64> = (1..=seeds).collect();
    let mut specs = scenario_run::suite(warmup, rate, &seed_list, None);
    for (round, &seed) in seed_list.iter().enumerate() {
        for (n, name) in GENERATED_PRESET_NAMES.iter().enumerate() {
            // 60 services, a different fleet per seed.
            if let Some(p) = generated_preset(name, 60, seed, warmup) {
                specs.push(ScenarioSpec {
                    preset: p,
                    seed: seed * 1000 + 100 + n as u64,
                    rate_rps: rate * 0.6,
                    start: scenario_run::START,
                    deployments: scenario_run::FORMATS[(n + round) % 4],
                    gzip: false,
                });
            }
        }
    }
    specs.retain(|s| only.is_empty() || only.iter().any(|o| o == s.preset.name));
    let exe = Path::new(env!("CARGO_BIN_EXE_epicenter"));
    println!(
        "{} scenarios: warmup {warmup} s, {rate} root requests/s, seeds 1..={seeds}, {threads} at a time",
        specs.len()
    );
    let results = scenario_run::run_all(&specs, exe, threads);
    let mut scores = Vec::new();
    for (spec, result) in specs.iter().zip(results) {
        match result {
            Ok(s) => scores.push(s),
            Err(e) => {
                println!("{} (seed {}): {e:#}", spec.preset.name, spec.seed);
            }
        }
    }
    print!("{}", render_table(&scores));
    let slowest = scores
        .iter()
        .filter_map(|s| s.run.as_ref())
        .map(|r| r.replay_secs)
        .fold(0.0, f64::max);
    println!("slowest replay: {slowest:.1} s (target < 30 s)");
    let failures = check(&scores, &Criteria::default());
    if failures.is_empty() {
        println!("PASS: every criterion of issue 3 met");
    } else {
        println!("FAIL ({} problems):", failures.len());
        for f in failures {
            println!("  {f}");
        }
    }
}
