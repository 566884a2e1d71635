//! Scenario effects: rollouts, faults, overload, consumers, environments, ramps.

use std::collections::{BTreeMap, BTreeSet};

use super::*;

const SEC: u64 = Timestamp::SECOND;

/// Distinct instance ids per version of `service` among server spans starting in [from, to) s.
fn instances(
    flat: &[Flat],
    service: &str,
    from: u64,
    to: u64,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in flat
        .iter()
        .filter(|f| f.res("service.name") == service && f.span.kind == 2)
    {
        let t = f.span.start_time_unix_nano - START.nanos();
        if t >= from * SEC && t < to * SEC {
            out.entry(f.res("service.version").to_owned())
                .or_default()
                .insert(f.res("service.instance.id").to_owned());
        }
    }
    out
}

fn count(map: &BTreeMap<String, BTreeSet<String>>, version: &str) -> usize {
    map.get(version).map_or(0, BTreeSet::len)
}

#[test]
fn a_gradual_rollout_moves_instances_step_by_step_with_new_pods() {
    // checkout has 3 instances: steps at 60 s (1/3), 120 s (2/3), 180 s (3/3).
    let scenario = Scenario::steady(Some(240.0)).at(
        60.0,
        ScenarioEvent::Rollout(Rollout::gradual("checkout", "1.4.1", 3, 120.0)),
    );
    let mut s = sim(Topology::default_fleet(), scenario, 4, 60.0);
    let flat = flatten(&run(&mut s));
    let before = instances(&flat, "checkout", 0, 59);
    assert_eq!((count(&before, "1.4.0"), count(&before, "1.4.1")), (3, 0));
    for (from, to, new) in [(62, 118, 1), (122, 178, 2), (182, 240, 3)] {
        let window = instances(&flat, "checkout", from, to);
        assert_eq!(
            count(&window, "1.4.1"),
            new,
            "window {from}-{to}: {window:?}"
        );
        assert_eq!(
            count(&window, "1.4.0"),
            3 - new,
            "window {from}-{to}: {window:?}"
        );
    }
    // New pods: no instance id serves both versions.
    let all = instances(&flat, "checkout", 0, 240);
    assert!(all["1.4.0"].is_disjoint(&all["1.4.1"]));
    let d = s.deploy_events();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].kind, d[0].previous_version.as_deref()),
        (DeployKind::Upgraded, Some("1.4.0"))
    );
    assert_eq!(d[0].started_at, START.plus_nanos(60 * SEC));
    assert_eq!(d[0].finished_at, START.plus_nanos(180 * SEC));
}

#[test]
fn in_place_canary_keeps_the_instance_id_and_rollback_restores_every_instance() {
    let scenario = Scenario::steady(Some(180.0))
        .at(
            30.0,
            ScenarioEvent::Rollout(Rollout::canary("cart", "1.7.0").in_place()),
        )
        .at(
            120.0,
            ScenarioEvent::Rollout(Rollout::rollback("cart", "1.6.0").in_place()),
        );
    let mut s = sim(Topology::default_fleet(), scenario, 4, 60.0);
    let flat = flatten(&run(&mut s));
    let canary = instances(&flat, "cart", 32, 118);
    assert_eq!((count(&canary, "1.7.0"), count(&canary, "1.6.0")), (1, 2));
    let all = instances(&flat, "cart", 0, 180);
    assert!(all["1.7.0"].is_subset(&all["1.6.0"]), "in-place keeps ids");
    let after = instances(&flat, "cart", 122, 180);
    assert_eq!((count(&after, "1.7.0"), count(&after, "1.6.0")), (0, 3));
    let kinds: Vec<_> = s
        .deploy_events()
        .iter()
        .map(|d| (d.kind, d.version.as_str(), d.previous_version.as_deref()))
        .collect();
    assert_eq!(
        kinds,
        [
            (DeployKind::Upgraded, "1.7.0", Some("1.6.0")),
            (DeployKind::RolledBack, "1.6.0", Some("1.7.0"))
        ]
    );
}

#[test]
fn a_version_fault_raises_errors_on_that_version_only_and_propagates_to_callers() {
    let p = preset("bad-release", 60.0).unwrap();
    let scenario = Scenario {
        duration_secs: Some(240.0),
        ..p.scenario
    };
    let mut s = sim(p.topology, scenario, 6, 60.0);
    let flat = flatten(&run(&mut s));
    let by_version = served(&flat);
    let ratio = |svc: &str, v: &str| {
        let (r, e) = by_version[&(svc.to_owned(), v.to_owned())];
        e as f64 / r as f64
    };
    assert!(
        ratio("payment", "1.5.0") > 0.18,
        "bad version {}",
        ratio("payment", "1.5.0")
    );
    assert!(
        ratio("payment", "1.4.0") < 0.03,
        "old version {}",
        ratio("payment", "1.4.0")
    );
    assert!(ratio("cart", "1.6.0") < 0.01);
    // checkout fails when payment fails: its error ratio rises after the rollout.
    let checkout_errors = |from: u64, to: u64| {
        let spans: Vec<_> = flat
            .iter()
            .filter(|f| f.res("service.name") == "checkout" && f.span.kind == 2)
            .filter(|f| {
                (from * SEC..to * SEC).contains(&(f.span.start_time_unix_nano - START.nanos()))
            })
            .collect();
        spans.iter().filter(|f| f.is_error()).count() as f64 / spans.len() as f64
    };
    assert!(checkout_errors(0, 60) < 0.03 && checkout_errors(190, 240) > 0.15);
    assert_eq!(
        s.truth().version("payment", "1.5.0").map(|c| c.requests),
        Some(by_version[&("payment".into(), "1.5.0".into())].0)
    );
    assert_eq!(
        p.bad_releases,
        [("payment".into(), "1.5.0".into(), "production".into())]
    );
}

#[test]
fn a_latency_fault_stretches_the_service_and_its_callers() {
    let fault = Fault::latency(FaultTarget::service("fraud-check"), 5.0).lasting(60.0);
    let scenario = Scenario::steady(Some(180.0)).at(60.0, ScenarioEvent::Fault(fault));
    let mut s = sim(Topology::default_fleet(), scenario, 8, 60.0);
    let flat = flatten(&run(&mut s));
    let median = |from: u64, to: u64| {
        let mut d: Vec<u64> = flat
            .iter()
            .filter(|f| f.res("service.name") == "fraud-check" && f.span.kind == 2)
            .filter(|f| {
                (from * SEC..to * SEC).contains(&(f.span.start_time_unix_nano - START.nanos()))
            })
            .map(|f| f.span.end_time_unix_nano - f.span.start_time_unix_nano)
            .collect();
        d.sort_unstable();
        d[d.len() / 2] as f64
    };
    let (before, during, after) = (median(0, 60), median(61, 119), median(121, 180));
    assert!(
        during > 3.5 * before && after < 1.5 * before,
        "{before} {during} {after}"
    );
}

#[test]
fn a_caller_version_fault_breaks_consumers_only_for_messages_from_the_new_producer() {
    let p = preset("consumer-break", 30.0).unwrap();
    let mut s = sim(
        p.topology,
        Scenario {
            duration_secs: Some(240.0),
            ..p.scenario
        },
        2,
        60.0,
    );
    let flat = flatten(&run(&mut s));
    let producers: BTreeMap<(Vec<u8>, Vec<u8>), String> = flat
        .iter()
        .filter(|f| f.span.kind == 4)
        .map(|f| {
            (
                (f.span.trace_id.clone(), f.span.span_id.clone()),
                f.res("service.version").to_owned(),
            )
        })
        .collect();
    let mut by_producer: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in flat.iter().filter(|f| f.span.kind == 5) {
        let l = &c.span.links[0];
        let v = producers[&(l.trace_id.clone(), l.span_id.clone())].clone();
        let e = by_producer.entry(v).or_default();
        e.0 += 1;
        e.1 += u64::from(c.is_error());
    }
    let (new, old) = (by_producer["1.5.0"], by_producer["1.4.0"]);
    assert!(new.1 as f64 / new.0 as f64 > 0.45, "{new:?}");
    assert!((old.1 as f64 / old.0 as f64) < 0.02, "{old:?}");
    // The producer itself stays healthy.
    let served = served(&flat);
    let (r, e) = served[&("checkout".to_owned(), "1.5.0".to_owned())];
    assert!((e as f64 / r as f64) < 0.05);
}

#[test]
fn an_overload_release_makes_the_callee_fail_not_the_releasing_service() {
    let p = preset("overload", 60.0).unwrap();
    let mut s = sim(
        p.topology,
        Scenario {
            duration_secs: Some(300.0),
            ..p.scenario
        },
        5,
        60.0,
    );
    let flat = flatten(&run(&mut s));
    let inventory = |from: u64, to: u64| {
        let spans: Vec<_> = flat
            .iter()
            .filter(|f| f.res("service.name") == "inventory" && f.span.kind == 2)
            .filter(|f| {
                (from * SEC..to * SEC).contains(&(f.span.start_time_unix_nano - START.nanos()))
            })
            .collect();
        (
            spans.len(),
            spans.iter().filter(|f| f.is_error()).count() as f64 / spans.len() as f64,
        )
    };
    let (n_before, e_before) = inventory(0, 60);
    let (n_after, e_after) = inventory(240, 300);
    assert!(n_after > 2 * n_before, "calls {n_before} -> {n_after}");
    assert!(
        e_before < 0.01 && e_after > 0.1,
        "errors {e_before} -> {e_after}"
    );
}

#[test]
fn staging_traffic_and_releases_stay_in_their_environment() {
    let p = preset("staging-deploy", 30.0).unwrap();
    let mut s = sim(
        p.topology,
        Scenario {
            duration_secs: Some(150.0),
            ..p.scenario
        },
        3,
        60.0,
    );
    let flat = flatten(&run(&mut s));
    let env_of = |f: &Flat| {
        f.res("deployment.environment.name").to_owned() + f.res("deployment.environment")
    };
    let staging: Vec<_> = flat.iter().filter(|f| env_of(f) == "staging").collect();
    assert!(!staging.is_empty() && staging.len() * 10 < flat.len());
    // Spans of one trace share the environment.
    let mut env_of_trace: BTreeMap<Vec<u8>, BTreeSet<String>> = BTreeMap::new();
    for f in &flat {
        env_of_trace
            .entry(f.span.trace_id.clone())
            .or_default()
            .insert(env_of(f));
    }
    assert!(env_of_trace.values().all(|e| e.len() == 1));
    assert!(
        flat.iter()
            .all(|f| f.res("service.version") != "2.0.0" || env_of(f) == "staging")
    );
    let d = &s.deploy_events()[0];
    assert_eq!(
        (d.environment.as_str(), d.version.as_str()),
        ("staging", "2.0.0")
    );
}

#[test]
fn implicit_releases_emit_no_record_and_ramps_raise_traffic() {
    let p = preset("implicit-release", 10.0).unwrap();
    let s = sim(p.topology, p.scenario, 1, 10.0);
    assert!(s.deploy_events().is_empty());
    let scenario = Scenario::steady(Some(120.0)).at(
        40.0,
        ScenarioEvent::TrafficRamp {
            multiplier: 3.0,
            over_secs: 20.0,
        },
    );
    let mut s = sim(Topology::default_fleet(), scenario, 1, 30.0);
    let flat = flatten(&run(&mut s));
    let roots = |from: u64, to: u64| {
        flat.iter()
            .filter(|f| f.span.parent_span_id.is_empty() && f.span.kind == 2)
            .filter(|f| {
                (from * SEC..to * SEC).contains(&(f.span.start_time_unix_nano - START.nanos()))
            })
            .count() as f64
            / (to - from) as f64
    };
    let (before, after) = (roots(0, 40), roots(60, 120));
    assert!(
        (25.0..35.0).contains(&before) && (80.0..100.0).contains(&after),
        "{before} {after}"
    );
}

#[test]
fn every_preset_builds_and_names_are_consistent() {
    for name in PRESET_NAMES {
        let p = preset(name, 60.0).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(p.name, name);
        let mut s = Simulator::new(p.topology, p.scenario, 1, START, 5.0)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(s.next_batch().is_some());
    }
    assert!(preset("nope", 0.0).is_none());
    let json = preset("rollback", 60.0)
        .map(|p| sim(p.topology, p.scenario, 1, 1.0).deploy_events()[1].to_json())
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "rolledback");
    assert_eq!(v["previous_version"], "1.5.0");
    assert_eq!(v["started_at"], "2026-03-02T09:08:00Z");
}
