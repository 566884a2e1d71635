//! Lifecycle and payload mapping, without a network.

use std::time::Duration;

use crate::model::{
    ALERT_SCHEMA, Alert, AlertAnomaly, AlertType, EdgeRef, ReleaseRef, Severity, Suspect,
    Timestamp, TopologyInfo, Verdict, VerdictInfo,
};

use super::lifecycle::Lifecycle;
use super::payload::{ALERTNAMES, Mapping, alertname};

const T: u64 = 1_800_000_000;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(T + secs)
}

fn release() -> ReleaseRef {
    ReleaseRef {
        service: "payment".into(),
        version: "1.5.0".into(),
        environment: "prod".into(),
        deployment_id: Some("dep-1".into()),
        previous_version: Some("1.4.0".into()),
        started_at: Some(at(0)),
    }
}

fn alert(kind: AlertType, id: &str) -> Alert {
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind,
        id: id.into(),
        detected_at: at(100),
        environment: "prod".into(),
        anomaly: Some(AlertAnomaly {
            service: "checkout".into(),
            signal: "error_ratio".into(),
            onset: at(60),
            baseline: 0.004,
            observed: 0.27,
            origins: Vec::new(),
            series: "service:prod/checkout".into(),
            significance: 9.0,
            requests: 1000,
            recovered_at: None,
        }),
        affected: vec!["checkout".into()],
        suspects: if kind == AlertType::Attribution {
            vec![Suspect {
                release: release(),
                confidence: 0.93,
                evidence: Vec::new(),
            }]
        } else {
            Vec::new()
        },
        recommendation: (kind == AlertType::Attribution)
            .then(|| "roll back payment to 1.4.0".into()),
        summary: "payment 1.5.0 broke checkout".into(),
        severity: if kind == AlertType::Attribution {
            Severity::Critical
        } else {
            Severity::Warning
        },
        resolves: None,
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

fn lifecycle() -> Lifecycle {
    let mapping = Mapping {
        public_url: "http://epicenter:9470".into(),
        runbook_base_url: "https://runbooks.example.com".into(),
        source: "epicenter".into(),
    };
    Lifecycle::new(
        mapping,
        Duration::from_secs(60),
        Duration::from_secs(300),
        Duration::from_secs(900),
        100,
    )
}

#[test]
fn firing_attribution_maps_to_stable_labels_and_variable_annotations() {
    let mut l = lifecycle();
    let sent = l.observe(&alert(AlertType::Attribution, "attribution-1"), at(110));
    assert_eq!(sent.len(), 1);
    let p = &sent[0];
    assert_eq!(
        p.labels["alertname"],
        "ServiceErrorRateRegressionAfterDeploy"
    );
    assert_eq!(p.labels["severity"], "critical");
    assert_eq!(p.labels["service"], "checkout");
    assert_eq!(p.labels["environment"], "prod");
    assert_eq!(p.labels["release"], "payment@1.5.0");
    assert_eq!(p.labels["source"], "epicenter");
    assert_eq!(p.annotations["summary"], "payment 1.5.0 broke checkout");
    assert!(p.annotations["description"].contains("roll back payment to 1.4.0"));
    assert_eq!(p.annotations["version_before"], "1.4.0");
    assert_eq!(p.annotations["deployment_id"], "dep-1");
    assert_eq!(
        p.annotations["runbook_url"],
        "https://runbooks.example.com/ServiceErrorRateRegressionAfterDeploy"
    );
    assert_eq!(
        p.generator_url,
        "http://epicenter:9470/api/v1/alerts/attribution-1"
    );
    assert_eq!(p.starts_at, at(100).to_rfc3339());
    assert_eq!(p.ends_at, at(110 + 240).to_rfc3339());
    let json = serde_json::to_value(p).unwrap();
    for key in [
        "labels",
        "annotations",
        "startsAt",
        "endsAt",
        "generatorURL",
    ] {
        assert!(json.get(key).is_some(), "{key}");
    }
}

#[test]
fn firing_alerts_are_resent_with_fresh_ends_at_and_the_same_starts_at() {
    let mut l = lifecycle();
    l.observe(&alert(AlertType::Anomaly, "anomaly-1"), at(110));
    let again = l.tick(at(170));
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].starts_at, at(100).to_rfc3339());
    assert_eq!(again[0].ends_at, at(170 + 240).to_rfc3339());
    // A re-sent alert with the same id keeps startsAt.
    let mut later = alert(AlertType::Anomaly, "anomaly-1");
    later.detected_at = at(160);
    assert_eq!(
        l.observe(&later, at(175))[0].starts_at,
        at(100).to_rfc3339()
    );
    assert_eq!(l.len(), 1);
}

#[test]
fn resolved_alerts_end_at_recovery_and_are_resent_for_five_minutes() {
    let mut l = lifecycle();
    let firing = l
        .observe(&alert(AlertType::Attribution, "attribution-1"), at(110))
        .remove(0);
    let mut resolved = alert(AlertType::Attribution, "resolved-1");
    resolved.kind = AlertType::Resolved;
    resolved.resolves = Some("attribution-1".into());
    resolved.detected_at = at(400);
    let sent = l.observe(&resolved, at(410));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].labels, firing.labels,
        "same label set, so Alertmanager resolves it"
    );
    assert_eq!(sent[0].ends_at, at(400).to_rfc3339());
    assert_eq!(l.tick(at(600))[0].ends_at, at(400).to_rfc3339());
    assert!(
        l.tick(at(410 + 301)).is_empty(),
        "forgotten after the resolved re-send period"
    );
    assert_eq!(l.len(), 0);
}

#[test]
fn resolution_of_an_unknown_alert_is_still_sent_with_the_original_identity() {
    let mut l = lifecycle();
    let mut resolved = alert(AlertType::Anomaly, "resolved-9");
    resolved.kind = AlertType::Resolved;
    resolved.resolves = Some("anomaly-9".into());
    resolved.detected_at = at(400);
    let sent = l.observe(&resolved, at(410));
    assert_eq!(sent[0].labels["alertname"], "ServiceErrorRateHigh");
    assert_eq!(sent[0].starts_at, at(60).to_rfc3339());
    assert_eq!(sent[0].ends_at, at(400).to_rfc3339());
    assert_eq!(
        sent[0].generator_url,
        "http://epicenter:9470/api/v1/alerts/anomaly-9"
    );
}

#[test]
fn attribution_superseding_an_anomaly_resolves_the_anomaly() {
    let mut l = lifecycle();
    l.observe(&alert(AlertType::Anomaly, "anomaly-1"), at(110));
    let mut attribution = alert(AlertType::Attribution, "attribution-1");
    attribution.resolves = Some("anomaly-1".into());
    attribution.detected_at = at(130);
    let sent = l.observe(&attribution, at(135));
    assert_eq!(sent.len(), 2);
    let ended = sent
        .iter()
        .find(|p| p.labels["alertname"] == "ServiceErrorRateHigh")
        .unwrap();
    assert_eq!(ended.ends_at, at(130).to_rfc3339());
}

#[test]
fn failing_verdicts_and_topology_changes_are_events_healthy_verdicts_are_not_sent() {
    let mut l = lifecycle();
    let mut verdict = alert(AlertType::ReleaseVerdict, "release_verdict-1");
    verdict.anomaly = None;
    verdict.verdict = Some(VerdictInfo {
        release: release(),
        verdict: Verdict::Healthy,
        soak_secs: 600,
        evidence: Vec::new(),
        mttr_secs: None,
    });
    assert!(l.observe(&verdict, at(700)).is_empty());
    verdict.verdict.as_mut().unwrap().verdict = Verdict::Failing;
    let sent = l.observe(&verdict, at(700));
    assert_eq!(sent[0].labels["alertname"], "ReleaseFailing");
    assert_eq!(sent[0].labels["service"], "payment");

    let mut topo = alert(AlertType::TopologyChange, "topology_change-1");
    topo.anomaly = None;
    topo.topology = Some(TopologyInfo {
        added: vec![EdgeRef {
            client: "checkout".into(),
            server: "db1".into(),
        }],
        removed: Vec::new(),
        release: None,
    });
    assert_eq!(
        l.observe(&topo, at(700))[0].labels["alertname"],
        "NewDependencyDetected"
    );
    // After the hold, both resolve at the hold's end.
    let after = l.tick(at(700 + 901));
    assert!(
        after
            .iter()
            .all(|p| p.ends_at == at(700 + 900).to_rfc3339()),
        "{after:?}"
    );
}

#[test]
fn every_alertname_is_in_the_catalog_and_camel_case() {
    for kind in [
        AlertType::Anomaly,
        AlertType::Attribution,
        AlertType::Resolved,
    ] {
        for signal in ["error_ratio", "latency_p95", "throughput"] {
            for series in ["service:prod/a", "edge:prod/a->b"] {
                let mut a = alert(kind, "x");
                let anomaly = a.anomaly.as_mut().unwrap();
                anomaly.signal = signal.into();
                anomaly.series = series.into();
                let name = alertname(&a);
                assert!(ALERTNAMES.contains(&name), "{name}");
                assert!(name.chars().next().unwrap().is_ascii_uppercase() && !name.contains('_'));
            }
        }
    }
}

#[test]
fn edge_anomalies_carry_client_and_server_labels() {
    let mut l = lifecycle();
    let mut a = alert(AlertType::Anomaly, "anomaly-e");
    a.anomaly.as_mut().unwrap().series = "edge:prod/checkout->payment".into();
    let p = l.observe(&a, at(110)).remove(0);
    assert_eq!(p.labels["alertname"], "DependencyErrorRateHigh");
    assert_eq!(p.labels["client"], "checkout");
    assert_eq!(p.labels["server"], "payment");
}

#[test]
fn active_alerts_are_bounded_evicting_resolved_first() {
    let mapping = Mapping {
        public_url: "http://e".into(),
        runbook_base_url: String::new(),
        source: "e".into(),
    };
    let mut l = Lifecycle::new(
        mapping,
        Duration::from_secs(60),
        Duration::from_secs(300),
        Duration::from_secs(900),
        2,
    );
    l.observe(&alert(AlertType::Anomaly, "a"), at(110));
    let mut r = alert(AlertType::Anomaly, "r");
    r.kind = AlertType::Resolved;
    r.resolves = Some("a".into());
    l.observe(&r, at(111));
    l.observe(&alert(AlertType::Anomaly, "b"), at(112));
    l.observe(&alert(AlertType::Anomaly, "c"), at(113));
    assert_eq!(l.len(), 2);
    let ids: Vec<String> = l
        .tick(at(114))
        .into_iter()
        .map(|p| p.generator_url)
        .collect();
    assert_eq!(
        ids,
        ["http://e/api/v1/alerts/b", "http://e/api/v1/alerts/c"]
    );
}

#[test]
fn owners_route_an_attribution_to_the_team_of_the_release() {
    let owner = |service: &str, team: &str, tier| crate::model::OwnerRef {
        service: service.into(),
        team: team.into(),
        channel: String::new(),
        tier,
    };
    let mut a = alert(AlertType::Attribution, "a-1");
    let mapping = Mapping {
        public_url: "http://epicenter:9470".into(),
        runbook_base_url: String::new(),
        source: "epicenter".into(),
    };
    let (labels, _, _) = mapping.labels_and_annotations(&a);
    assert!(!labels.contains_key("team"), "no owners, no team label");
    a.owners = vec![
        owner("checkout", "storefront", None),
        owner("payment", "payments", Some(1)),
    ];
    let (labels, _, _) = mapping.labels_and_annotations(&a);
    assert_eq!(labels["team"], "payments");
    assert_eq!(labels["tier"], "1");
}
