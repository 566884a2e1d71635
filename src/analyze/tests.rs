//! Analyzer behaviour on hand-made windows: deployment events applied in
//! event time, topology changes naming the coinciding release, verdicts
//! after the soak window, and an attribution for a release whose new version
//! fails while the old one does not.

use super::tests_support::{Fleet, T0, deploy};
use super::*;
use crate::model::{AlertType, DeployEvent, Timestamp, Verdict};

fn run(fleet: &Fleet, windows: u64, events: &[DeployEvent]) -> Vec<crate::model::Alert> {
    let mut analyzer = Analyzer::new(Settings::default());
    for e in events {
        analyzer.on_deploy(e.clone());
    }
    (0..windows)
        .flat_map(|i| analyzer.on_window(&fleet.window(i)).alerts)
        .collect()
}

#[test]
fn a_failing_canary_is_blamed_and_judged_failing() {
    let fleet = Fleet {
        new_from: Some(120),
        new_errors: 6,
        extra_from: None,
    };
    let alerts = run(&fleet, 200, &[deploy(119)]);
    let attribution = alerts
        .iter()
        .find(|a| a.kind == AlertType::Attribution)
        .unwrap_or_else(|| panic!("no attribution: {alerts:#?}"));
    let top = &attribution.suspects[0].release;
    assert_eq!(
        (top.service.as_str(), top.version.as_str()),
        ("pay", "2.0.0")
    );
    assert_eq!(top.deployment_id.as_deref(), Some("d-1"));
    let delay = attribution.detected_at.nanos() - Timestamp::from_secs(T0 + 1200).nanos();
    assert!(
        delay <= 180 * Timestamp::SECOND,
        "attributed after {delay} ns"
    );
    let verdict = alerts
        .iter()
        .find_map(|a| a.verdict.as_ref())
        .unwrap_or_else(|| panic!("no verdict: {alerts:#?}"));
    assert_eq!(verdict.verdict, Verdict::Failing);
}

#[test]
fn a_healthy_release_is_not_blamed_and_judged_healthy() {
    let fleet = Fleet {
        new_from: Some(120),
        new_errors: 0,
        extra_from: None,
    };
    let alerts = run(&fleet, 200, &[deploy(119)]);
    assert!(
        alerts.iter().all(|a| a.suspects.is_empty()),
        "an innocent release was blamed: {alerts:#?}"
    );
    let verdict = alerts.iter().find_map(|a| a.verdict.as_ref()).unwrap();
    assert_eq!(verdict.verdict, Verdict::Healthy);
}

#[test]
fn an_event_that_arrives_after_its_window_is_applied_before_the_next_one() {
    let fleet = Fleet {
        new_from: Some(120),
        new_errors: 6,
        extra_from: None,
    };
    // Replay order: the event is known up front.
    let upfront = run(&fleet, 200, &[deploy(119)]);
    // Live order: the event arrives while window 119 is being closed.
    let mut analyzer = Analyzer::new(Settings::default());
    let mut late = Vec::new();
    for i in 0..200 {
        if i == 119 {
            analyzer.on_deploy(deploy(119));
        }
        late.extend(analyzer.on_window(&fleet.window(i)).alerts);
    }
    assert_eq!(upfront, late);
}

#[test]
fn a_new_edge_is_reported_with_the_release_that_coincides() {
    let fleet = Fleet {
        new_from: Some(120),
        new_errors: 0,
        extra_from: Some(121),
    };
    let alerts = run(&fleet, 140, &[deploy(119)]);
    let change = alerts
        .iter()
        .find(|a| a.kind == AlertType::TopologyChange)
        .unwrap_or_else(|| panic!("no topology change: {alerts:#?}"));
    let topology = change.topology.as_ref().unwrap();
    assert_eq!(topology.added.len(), 1);
    assert_eq!(topology.added[0].server, "fraud");
    let release = topology.release.as_ref().unwrap();
    assert_eq!(
        (release.service.as_str(), release.version.as_str()),
        ("pay", "2.0.0")
    );
}

#[test]
fn edges_seen_while_the_graph_settles_are_not_changes() {
    let fleet = Fleet {
        new_from: None,
        new_errors: 0,
        extra_from: Some(30),
    };
    let alerts = run(&fleet, 120, &[]);
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[test]
fn alerts_name_the_owners_of_their_service_and_release() {
    let fleet = Fleet {
        new_from: Some(120),
        new_errors: 6,
        extra_from: None,
    };
    let settings = Settings {
        owners: Owners::parse("pay:\n  team: payments\n  tier: 1\n").unwrap(),
        ..Settings::default()
    };
    let mut analyzer = Analyzer::new(settings);
    analyzer.on_deploy(deploy(119));
    let alerts: Vec<_> = (0..200)
        .flat_map(|i| analyzer.on_window(&fleet.window(i)).alerts)
        .collect();
    let attribution = alerts
        .iter()
        .find(|a| a.kind == AlertType::Attribution)
        .unwrap();
    assert_eq!(attribution.owners.len(), 1, "{:?}", attribution.owners);
    assert_eq!(attribution.owners[0].team, "payments");
    assert!(
        alerts
            .iter()
            .all(|a| a.owners.iter().all(|o| o.service == "pay"))
    );
}
