//! Innocent releases must never be blamed: blaming an innocent release is
//! worse than saying nothing.

use crate::model::{CounterReason, Signal};

use super::*;

#[test]
fn staging_deploy_is_never_a_candidate_for_a_production_anomaly() {
    let a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2);
    let mut c = candidate("checkout", "2.0.0", "staging", 60);
    // Even with damning data (that belongs to staging).
    c.version_split = windows(60, 6, stats(300, 120, 0.1), stats(300, 0, 0.1));
    let out = run(&a, &world(), &[c]);
    assert!(out.suspects.is_empty() && out.rejected.is_empty());
    assert_eq!(out.excluded, 1);
}

#[test]
fn empty_environment_only_matches_empty_environment() {
    let mut a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2);
    a.series = crate::model::SeriesKey::Service {
        environment: "".into(),
        service: "checkout".into(),
    };
    let c = candidate("checkout", "2.0.0", "prod", 60);
    assert_eq!(run(&a, &world(), &[c]).excluded, 1);
}

#[test]
fn external_outage_right_after_an_innocent_release_blames_nobody() {
    // checkout 2.0.0 rolled out fully at t=60; ext1 (a payment gateway) fails at t=120.
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.25),
        &[("ext1", 0.9), ("checkout", 0.3)],
    );
    // Before/after looks bad: checkout's errors rose after the release...
    let mut full = candidate("checkout", "2.0.0", "prod", 60);
    full.version_split = windows(60, 6, stats(500, 125, 0.1), SeriesStats::default());
    full.baseline = Some(stats(5000, 25, 0.1));
    // ...and with a canary, both versions fail alike.
    let mut canary = candidate("checkout", "2.0.1", "prod", 60);
    canary.version_split = windows(60, 6, stats(250, 62, 0.1), stats(250, 63, 0.1));
    // An unrelated downstream release a minute earlier, healthy.
    let mut payment = candidate("payment", "1.5.0", "prod", 30);
    payment.version_split = windows(30, 9, stats(300, 0, 0.1), stats(300, 0, 0.1));
    for c in [full, canary, payment] {
        let out = run(&a, &world(), std::slice::from_ref(&c));
        assert!(
            out.suspects.is_empty(),
            "{} blamed: {out:?}",
            c.candidate.key.version
        );
        let r = &out.rejected[0];
        assert!(r.confidence < 0.5, "{r:?}");
        if r.release.service == "checkout" {
            assert!(has_counter(r, CounterReason::ExternalOrigin), "{r:?}");
        }
    }
}

#[test]
fn healthy_dependency_release_is_cleared_by_its_version_split() {
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2),
        &[("db1", 0.8)],
    );
    let mut c = candidate("payment", "1.5.0", "prod", 60);
    c.version_split = windows(60, 6, stats(300, 1, 0.1), stats(300, 1, 0.1));
    let out = run(&a, &world(), &[c]);
    assert!(out.suspects.is_empty());
    let r = &out.rejected[0];
    assert!(
        has_counter(r, CounterReason::ReleasedServiceHealthy),
        "{r:?}"
    );
    assert!(has_counter(r, CounterReason::ExternalOrigin), "{r:?}");
    assert!(r.confidence < 0.05, "{}", r.confidence);
}

#[test]
fn benign_releases_during_a_traffic_ramp_are_not_blamed() {
    // Traffic triples everywhere; payment's latency rises from load.
    let a = with_origins(
        anomaly("payment", Signal::LatencyP95, 120, 0.1, 0.4),
        &[("payment", 0.9)],
    );
    let mut upstream = candidate("checkout", "4.0.0", "prod", 60);
    upstream.version_split = windows(60, 6, stats(900, 1, 0.12), stats(900, 1, 0.12));
    upstream.traffic = vec![TrafficInput {
        server: "payment".into(),
        rate_before: 10.0,
        rate_after: 30.0,
        inbound_before: 10.0,
        inbound_after: 30.0,
        new_edge: false,
    }];
    let mut same = candidate("payment", "1.5.0", "prod", 70);
    // Both payment versions slow down together under load.
    same.version_split = windows(70, 5, stats(1500, 0, 0.4), stats(1500, 0, 0.41));
    let out = run(&a, &world(), &[upstream, same]);
    assert!(out.suspects.is_empty(), "{out:?}");
}

#[test]
fn onset_before_exposure_clears_even_a_bad_looking_release() {
    let a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2);
    let mut c = candidate("checkout", "2.0.0", "prod", 400);
    c.version_split = windows(400, 6, stats(300, 90, 0.1), stats(300, 60, 0.1));
    let g = world();
    let ctx = AnomalyContext::new(&a, &g, at(500));
    let out = attribute(&Settings::default(), &ctx, &[c]);
    assert!(out.suspects.is_empty(), "{out:?}");
    assert!(has_counter(
        &out.rejected[0],
        CounterReason::OnsetBeforeExposure
    ));
}

#[test]
fn release_with_no_path_to_the_anomaly_is_not_blamed() {
    let a = anomaly("checkout", Signal::ErrorRatio, 120, 0.005, 0.2);
    let mut c = candidate("reports", "9.0.0", "prod", 60);
    c.version_split = windows(60, 6, stats(300, 30, 0.1), stats(300, 0, 0.1));
    let out = run(&a, &world(), &[c]);
    assert!(out.suspects.is_empty(), "{out:?}");
    assert!(has_counter(&out.rejected[0], CounterReason::NotConnected));
}

#[test]
fn timing_and_topology_alone_never_blame() {
    // Perfect timing, the release is the anomalous service and its top
    // origin, but the new version got too little traffic to compare.
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 70, 0.005, 0.2),
        &[("checkout", 1.0)],
    );
    let mut c = candidate("checkout", "2.0.0", "prod", 60);
    c.version_split = windows(60, 2, stats(5, 1, 0.1), stats(500, 2, 0.1));
    let settings = Settings {
        min_confidence: 0.5,
        ..Settings::default()
    };
    let g = world();
    let ctx = AnomalyContext::new(&a, &g, a.detected_at);
    let out = attribute(&settings, &ctx, &[c]);
    assert!(out.suspects.is_empty(), "{out:?}");
    assert!(
        out.rejected[0].confidence >= 0.5,
        "the gate, not the threshold, must refuse it"
    );
}
