//! Each evidence kind, positive: bad releases are blamed, for the right reason.

use std::collections::BTreeSet;

use crate::model::{CounterReason, EvidenceDetail, Signal};

use super::*;

#[test]
fn canary_with_worse_new_version_is_the_first_suspect_by_version_split() {
    let a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.05);
    let mut c = candidate("checkout", "2.0.0", "prod", 60);
    // One instance in ten on the new version: 20% errors vs 0.5%.
    c.version_split = windows(60, 6, stats(60, 12, 0.1), stats(540, 3, 0.1));
    let out = run(&a, &world(), &[c]);
    let top = &out.suspects[0];
    assert_eq!(top.release.service, "checkout");
    assert!(top.confidence >= 0.95, "{}", top.confidence);
    let split = top
        .evidence
        .iter()
        .find(|e| e.kind() == "version_split")
        .unwrap();
    assert!(split.llr >= 4.0, "{}", split.llr);
    assert!(matches!(
        split.detail,
        EvidenceDetail::VersionSplit {
            before_after: false,
            ..
        }
    ));
    assert!(kinds(top).contains(&"temporal_fit") && kinds(top).contains(&"topological_fit"));
}

#[test]
fn latency_regression_is_blamed_through_the_p95_split() {
    let a = anomaly("checkout", Signal::LatencyP95, 120, 0.1, 0.3);
    let mut c = candidate("checkout", "2.0.0", "prod", 60);
    c.version_split = windows(60, 6, stats(200, 0, 0.5), stats(200, 0, 0.1));
    let out = run(&a, &world(), &[c]);
    assert_eq!(out.suspects.len(), 1, "{out:?}");
    assert!(out.suspects[0].confidence > 0.9);
}

#[test]
fn full_rollout_is_blamed_before_after_at_half_weight() {
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2),
        &[("checkout", 0.9)],
    );
    let mut c = candidate("checkout", "2.0.0", "prod", 60);
    c.version_split = windows(60, 6, stats(500, 100, 0.1), SeriesStats::default());
    c.baseline = Some(stats(5000, 25, 0.1));
    let out = run(&a, &world(), &[c]);
    let top = &out.suspects[0];
    let split = top
        .evidence
        .iter()
        .find(|e| e.kind() == "version_split")
        .unwrap();
    assert!(matches!(
        split.detail,
        EvidenceDetail::VersionSplit {
            before_after: true,
            ..
        }
    ));
    assert!(split.llr <= 2.5 + 1e-9);
    assert!(top.confidence >= 0.75);
}

#[test]
fn dependency_release_that_fails_is_blamed_for_its_callers_anomaly() {
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2),
        &[("payment", 0.8)],
    );
    let mut c = candidate("payment", "1.5.0", "prod", 60);
    c.version_split = windows(60, 6, stats(100, 30, 0.1), stats(100, 0, 0.1));
    let out = run(&a, &world(), &[c]);
    let top = &out.suspects[0];
    assert_eq!(top.release.service, "payment");
    let topo = top
        .evidence
        .iter()
        .find(|e| e.kind() == "topological_fit")
        .unwrap();
    match &topo.detail {
        EvidenceDetail::TopologicalFit {
            path,
            relation,
            origin_score,
            ..
        } => {
            assert_eq!(path, &["checkout", "payment"]);
            assert_eq!(relation, "downstream");
            assert!((origin_score - 0.8).abs() < 1e-9);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn producer_release_breaking_its_consumer_is_blamed_by_edge_split_though_itself_healthy() {
    let a = anomaly("billing", Signal::ErrorRatio, 120, 0.001, 0.15);
    let mut c = candidate("orders", "3.1.0", "prod", 60);
    // The producer itself is fine...
    c.version_split = windows(60, 6, stats(300, 0, 0.05), stats(300, 0, 0.05));
    // ...but messages from its new version fail in the consumer.
    c.edge_splits = vec![EdgeSplitInput {
        server: "billing".into(),
        windows: windows(60, 6, stats(300, 90, 0.05), stats(300, 0, 0.05)),
    }];
    let out = run(&a, &world(), &[c]);
    let top = &out.suspects[0];
    assert_eq!(top.release.service, "orders");
    assert!(kinds(top).contains(&"edge_split"));
    assert!(
        !has_counter(top, CounterReason::ReleasedServiceHealthy),
        "{top:?}"
    );
    assert!(top.confidence > 0.9);
}

#[test]
fn release_that_multiplies_its_calls_into_the_overloaded_callee_is_blamed() {
    let a = with_origins(
        anomaly("payment", Signal::LatencyP95, 120, 0.1, 0.8),
        &[("payment", 0.9)],
    );
    let mut c = candidate("checkout", "4.0.0", "prod", 60);
    c.version_split = windows(60, 6, stats(300, 0, 0.1), stats(300, 0, 0.1));
    c.traffic = vec![TrafficInput {
        server: "payment".into(),
        rate_before: 10.0,
        rate_after: 30.0,
        inbound_before: 10.0,
        inbound_after: 10.0,
        new_edge: false,
    }];
    let g = world();
    let mut ctx = AnomalyContext::new(&a, &g, a.detected_at);
    ctx.anomalous_nodes = BTreeSet::from(["payment".into()]);
    let out = attribute(&Settings::default(), &ctx, &[c]);
    let top = &out.suspects[0];
    assert!(kinds(top).contains(&"traffic_change"), "{top:?}");
    let topo = top
        .evidence
        .iter()
        .find(|e| e.kind() == "topological_fit")
        .unwrap();
    assert!(
        matches!(&topo.detail, EvidenceDetail::TopologicalFit { relation, .. } if relation == "upstream")
    );
}

#[test]
fn dose_response_with_the_rollout_share_adds_evidence() {
    let a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.1);
    let mut c = candidate("checkout", "2.0.0", "prod", 100);
    c.candidate.timeline = [(100, 0.1), (130, 0.3), (160, 0.6), (190, 1.0)]
        .iter()
        .map(|(t, s)| SharePoint {
            at: at(*t),
            traffic_share: *s,
            instance_share: *s,
        })
        .collect();
    let g = world();
    let mut ctx = AnomalyContext::new(&a, &g, at(250));
    ctx.timeline = [
        (70, 0.005),
        (100, 0.012),
        (130, 0.031),
        (160, 0.06),
        (190, 0.1),
    ]
    .iter()
    .map(|(t, v)| (at(*t), *v))
    .collect();
    let out = attribute(&Settings::default(), &ctx, &[c]);
    let all: Vec<_> = out.suspects.iter().chain(&out.rejected).collect();
    let dose = all[0]
        .evidence
        .iter()
        .find(|e| e.kind() == "dose_response")
        .unwrap();
    assert!(dose.llr > 0.0);
    match dose.detail {
        EvidenceDetail::DoseResponse {
            correlation,
            windows,
        } => {
            assert!(
                correlation > 0.95 && windows == 5,
                "{correlation} {windows}"
            );
        }
        _ => unreachable!(),
    }
    // Dose-response is direct evidence: with timing and topology it blames.
    assert_eq!(out.suspects.len(), 1, "{out:?}");
}

#[test]
fn recovery_after_rollback_is_credited_and_persistence_counts_against() {
    let mut a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.1);
    a.recovered_at = Some(at(400));
    let mut c = candidate("checkout", "2.0.0", "prod", 60);
    c.candidate.rolled_back_at = Some(at(360));
    let out = run(&a, &world(), &[c.clone()]);
    let all: Vec<_> = out.suspects.iter().chain(&out.rejected).collect();
    assert!(kinds(all[0]).contains(&"rollback_recovery"), "{all:?}");

    let mut still = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.1);
    still.recovered_at = None;
    let g = world();
    let ctx = AnomalyContext::new(&still, &g, at(360 + 1200));
    let out = attribute(&Settings::default(), &ctx, &[c]);
    let all: Vec<_> = out.suspects.iter().chain(&out.rejected).collect();
    assert!(has_counter(all[0], CounterReason::PersistsAfterRollback));
}

#[test]
fn two_bad_releases_are_both_suspects_ranked_by_confidence() {
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.3),
        &[("payment", 0.7)],
    );
    let mut strong = candidate("payment", "1.5.0", "prod", 60);
    strong.version_split = windows(60, 6, stats(300, 120, 0.1), stats(300, 0, 0.1));
    let mut weaker = candidate("checkout", "2.0.0", "prod", 90);
    weaker.version_split = windows(90, 3, stats(100, 8, 0.1), stats(300, 2, 0.1));
    let out = run(&a, &world(), &[weaker, strong]);
    assert_eq!(out.suspects.len(), 2, "{out:?}");
    assert_eq!(out.suspects[0].release.service, "payment");
    assert!(out.suspects[0].confidence >= out.suspects[1].confidence);
}

#[test]
fn releases_in_progress_stay_candidates_beyond_the_lookback() {
    let settings = Settings::default();
    let onset = at(3000);
    let mut old_done = candidate("checkout", "2.0.0", "prod", 0);
    old_done.candidate.finished_at = Some(at(100));
    assert!(!is_candidate(&settings, "prod", onset, &old_done));
    let old_rolling = candidate("checkout", "2.0.0", "prod", 0);
    assert!(is_candidate(&settings, "prod", onset, &old_rolling));
    let mut recent = candidate("checkout", "2.0.0", "prod", 1500);
    recent.candidate.finished_at = Some(at(1600));
    assert!(is_candidate(&settings, "prod", onset, &recent));
}
