//! The release scenario suite (issue 3, "Scenarios and how this is judged"):
//! every preset is simulated, replayed by the real `epicenter replay` binary
//! and scored. Every bad release must be the first suspect of an
//! `attribution` alert within 5 minutes of its exposure, the median under 2
//! minutes, and no other release may ever be the first suspect ("steady" and
//! "rollout" have no bad release: they only check for false blames).
//!
//! Sized for a debug build: 10 minutes of clean history (the baselines'
//! minimum) at a low rate and a shortened aftermath; `cargo bench --bench
//! scenarios` runs the realistic sizes. Also: every deployment record the
//! simulator writes decodes with the daemon's decoder to the same release.

use std::path::Path;

use epicenter::ingest::deploy::decode_deploy_event;
use epicenter::model::ReleaseOrigin;
use epicenter::sim::score::{Criteria, check, render_table};
use epicenter::sim::{DeployFormat, PRESET_NAMES, Simulator, preset};

use crate::support::scenario_run::{START, run_all, suite};

/// Clean history before the first release, seconds (baselines need 600).
const WARMUP_SECS: f64 = 660.0;
/// Root requests per second.
const RATE_RPS: f64 = 15.0;
/// Simulated time after each scenario's last event, seconds.
const AFTERMATH_SECS: f64 = 600.0;

#[test]
fn release_scenarios_blame_bad_releases_fast_and_never_an_innocent_one() {
    let specs = suite(WARMUP_SECS, RATE_RPS, &[7], Some(AFTERMATH_SECS));
    let exe = Path::new(env!("CARGO_BIN_EXE_epicenter"));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let results = run_all(&specs, exe, threads);
    let mut scores = Vec::new();
    let mut errors = Vec::new();
    for (spec, result) in specs.iter().zip(results) {
        match result {
            Ok(s) => scores.push(s),
            Err(e) => errors.push(format!("{}: {e:#}", spec.preset.name)),
        }
    }
    assert!(
        errors.is_empty(),
        "scenarios could not run:\n{}",
        errors.join("\n")
    );
    let table = render_table(&scores);
    println!("{table}");
    let failures = check(&scores, &Criteria::default());
    assert!(
        failures.is_empty(),
        "release attribution misses the criteria:\n{table}\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_deployment_record_decodes_to_the_same_release_in_every_form() {
    let forms = [
        DeployFormat::Plain,
        DeployFormat::CdEventsV04,
        DeployFormat::CdEventsV05,
    ];
    let mut checked = 0;
    for name in PRESET_NAMES {
        let p = preset(name, 600.0).unwrap();
        let sim = Simulator::new(p.topology, p.scenario, 1, START, 1.0).unwrap();
        for record in sim.deploy_events() {
            for form in forms {
                let line = record.encode(form);
                let event = decode_deploy_event(line.as_bytes(), &[])
                    .unwrap_or_else(|e| panic!("{form:?} {line}: {e}"))
                    .unwrap_or_else(|| panic!("{form:?} skipped as unknown: {line}"));
                let what = format!("{form:?} {line}");
                assert_eq!(&*event.service, record.service, "{what}");
                assert_eq!(event.version.as_deref(), Some(&*record.version), "{what}");
                assert_eq!(&*event.environment, record.environment, "{what}");
                assert_eq!(event.kind.as_str(), record.kind.as_str(), "{what}");
                assert_eq!(event.id, record.id, "{what}");
                match form {
                    DeployFormat::Plain => {
                        assert_eq!(event.at, record.started_at, "{what}");
                        assert_eq!(event.finished_at, Some(record.finished_at), "{what}");
                    }
                    DeployFormat::CdEventsV04 => {
                        assert_eq!(event.at, record.finished_at, "{what}");
                        assert_eq!(event.origin, ReleaseOrigin::CdEvent, "{what}");
                    }
                    DeployFormat::CdEventsV05 => {
                        assert_eq!(event.at, record.started_at, "{what}");
                        assert_eq!(event.origin, ReleaseOrigin::CdEvent, "{what}");
                        assert_eq!(
                            event.artifact_id.as_deref(),
                            Some(record.artifact_purl().as_str()),
                            "{what}"
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    // 12 announced rollouts and notices across the presets, three forms each.
    assert!(checked >= 30, "only {checked} records checked");
}
