//! Alert building: every type, stable ids, summaries.

use crate::model::{AlertType, EdgeRef, Severity, Signal, Verdict};

use super::*;

fn attributed() -> (crate::model::Anomaly, Attribution) {
    let a = with_origins(
        anomaly("checkout", Signal::ErrorRatio, 120, 0.004, 0.27),
        &[("payment", 0.9)],
    );
    let mut c = candidate("payment", "1.5.0", "prod", 60);
    c.candidate.previous_version = Some("1.4.0".into());
    c.version_split = windows(60, 6, stats(100, 30, 0.1), stats(100, 0, 0.1));
    let out = run(&a, &world(), &[c]);
    (a, out)
}

#[test]
fn attribution_alert_names_the_release_blast_radius_and_rollback() {
    let (a, out) = attributed();
    let alert = anomaly_alert(
        &Settings::default(),
        &a,
        &world(),
        &out,
        Some("anomaly-x".into()),
    );
    assert_eq!(alert.kind, AlertType::Attribution);
    assert_eq!(alert.environment, "prod");
    assert_eq!(alert.detected_at, a.detected_at);
    assert_eq!(alert.affected, ["checkout", "fe"]);
    assert_eq!(
        alert.recommendation.as_deref(),
        Some("roll back payment to 1.4.0")
    );
    assert_eq!(alert.severity, Severity::Critical);
    assert_eq!(alert.resolves.as_deref(), Some("anomaly-x"));
    assert!(
        alert.summary.contains("payment 1.5.0") && alert.summary.contains("27.0%"),
        "{}",
        alert.summary
    );
    let anomaly = alert.anomaly.as_ref().unwrap();
    assert_eq!(anomaly.service, "checkout");
    assert_eq!(anomaly.origins[0].service, "payment");
    let json = serde_json::to_value(&alert).unwrap();
    assert_eq!(
        json["suspects"][0]["release"]["deployment_id"],
        "dep-payment-1.5.0"
    );
}

#[test]
fn no_suspect_gives_an_anomaly_alert_without_recommendation() {
    let a = anomaly("checkout", Signal::LatencyP99, 120, 0.2, 0.9);
    let alert = anomaly_alert(
        &Settings::default(),
        &a,
        &world(),
        &Attribution::default(),
        Some("x".into()),
    );
    assert_eq!(alert.kind, AlertType::Anomaly);
    assert!(
        alert.suspects.is_empty() && alert.recommendation.is_none() && alert.resolves.is_none()
    );
    assert!(
        alert.summary.contains("no release explains it"),
        "{}",
        alert.summary
    );
}

#[test]
fn recomputed_alert_keeps_its_id_while_the_onset_stays_in_its_window() {
    let (mut a, out) = attributed();
    let settings = Settings::default();
    let first = anomaly_alert(&settings, &a, &world(), &out, None);
    a.observed = 0.31;
    a.detected_at = a
        .detected_at
        .plus_nanos(60 * crate::model::Timestamp::SECOND);
    let again = anomaly_alert(&settings, &a, &world(), &out, None);
    assert_eq!(first.id, again.id);
    a.onset = a.onset.plus_nanos(3600 * crate::model::Timestamp::SECOND);
    assert_ne!(
        first.id,
        anomaly_alert(&settings, &a, &world(), &out, None).id
    );
}

#[test]
fn resolved_alert_points_at_the_original_and_has_its_own_stable_id() {
    let (a, out) = attributed();
    let original = anomaly_alert(&Settings::default(), &a, &world(), &out, None);
    let resolved = resolved_alert(&original, at(420));
    assert_eq!(resolved.kind, AlertType::Resolved);
    assert_eq!(resolved.resolves.as_deref(), Some(original.id.as_str()));
    assert_ne!(resolved.id, original.id);
    assert_eq!(resolved.id, resolved_alert(&original, at(480)).id);
    assert_eq!(
        resolved.anomaly.as_ref().unwrap().recovered_at,
        Some(at(420))
    );
    assert!(
        resolved.summary.contains("5 min 0 s"),
        "{}",
        resolved.summary
    );
}

#[test]
fn verdict_alert_carries_the_verdict_and_recommendation() {
    let c = candidate("payment", "1.5.0", "prod", 60);
    let soak = windows(60, 10, stats(100, 30, 0.1), stats(100, 0, 0.1));
    let input = VerdictInput {
        candidate: &c.candidate,
        soak: &soak,
        baseline: None,
        blamed: None,
        incident: Some((at(100), Some(at(400)))),
        now: at(700),
    };
    let outcome = judge(&Settings::default(), &input).unwrap();
    let alert = verdict_alert(&c.candidate, &outcome, at(700));
    assert_eq!(alert.kind, AlertType::ReleaseVerdict);
    assert_eq!(alert.severity, Severity::Critical);
    let v = alert.verdict.as_ref().unwrap();
    assert_eq!(v.verdict, Verdict::Failing);
    assert_eq!(v.mttr_secs, Some(300.0));
    assert_eq!(alert.service(), "payment");
    assert_eq!(
        alert.recommendation.as_deref(),
        Some("roll back payment to 1.0.0")
    );
    assert_eq!(alert.id, verdict_alert(&c.candidate, &outcome, at(900)).id);
}

#[test]
fn topology_alert_lists_edges_and_the_coinciding_release() {
    let c = candidate("checkout", "4.0.0", "prod", 60);
    let added = vec![EdgeRef {
        client: "checkout".into(),
        server: "db1".into(),
    }];
    let alert = topology_alert(
        &Settings::default(),
        "prod",
        added.clone(),
        Vec::new(),
        Some(&c.candidate),
        at(90),
    );
    assert_eq!(alert.kind, AlertType::TopologyChange);
    assert_eq!(alert.service(), "checkout");
    let topo = alert.topology.as_ref().unwrap();
    assert_eq!(topo.added, added);
    assert_eq!(topo.release.as_ref().unwrap().version, "4.0.0");
    assert!(
        alert.summary.contains("checkout->db1") && alert.summary.contains("after checkout 4.0.0")
    );
}
