use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::model::SeriesKey;

fn t(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

pub(crate) fn example() -> Alert {
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind: AlertType::Attribution,
        id: "attribution-0123456789abcdef".into(),
        detected_at: t("2026-03-02T09:23:40Z"),
        environment: "prod".into(),
        anomaly: Some(AlertAnomaly {
            service: "checkout".into(),
            signal: "error_ratio".into(),
            onset: t("2026-03-02T09:22:10Z"),
            baseline: 0.004,
            observed: 0.27,
            origins: vec![AlertOrigin {
                service: "payment".into(),
                score: 0.91,
            }],
            series: "service:prod/checkout".into(),
            significance: 12.0,
            requests: 900,
            recovered_at: None,
        }),
        affected: vec!["checkout".into(), "frontend".into()],
        suspects: vec![Suspect {
            release: ReleaseRef {
                service: "payment".into(),
                version: "1.5.0".into(),
                environment: "prod".into(),
                deployment_id: Some("d-1".into()),
                previous_version: Some("1.4.0".into()),
                started_at: Some(t("2026-03-02T09:21:00Z")),
            },
            confidence: 0.93,
            evidence: vec![Evidence {
                detail: EvidenceDetail::VersionSplit {
                    signal: "error_ratio".into(),
                    new_requests: 300,
                    new_value: 0.3,
                    old_requests: 600,
                    old_value: 0.004,
                    z: 14.0,
                    before_after: false,
                },
                llr: 4.5,
                summary: "new version fails 30% vs 0.4%".into(),
            }],
        }],
        recommendation: Some("roll back payment to 1.4.0".into()),
        summary: "payment 1.5.0 raised checkout errors".into(),
        severity: Severity::Critical,
        resolves: None,
        verdict: None,
        owners: Vec::new(),
        incident: None,
        topology: None,
    }
}

#[test]
fn serialized_alert_has_the_documented_field_names() {
    let value = serde_json::to_value(example()).unwrap();
    assert_eq!(value["schema"], "epicenter.alert/v1");
    assert_eq!(value["type"], "attribution");
    assert_eq!(value["id"], "attribution-0123456789abcdef");
    assert_eq!(value["detected_at"], "2026-03-02T09:23:40Z");
    assert_eq!(value["environment"], "prod");
    let anomaly = &value["anomaly"];
    assert_eq!(anomaly["service"], "checkout");
    assert_eq!(anomaly["signal"], "error_ratio");
    assert_eq!(anomaly["onset"], "2026-03-02T09:22:10Z");
    assert_eq!(anomaly["baseline"], 0.004);
    assert_eq!(anomaly["observed"], 0.27);
    assert_eq!(
        anomaly["origins"],
        json!([{"service": "payment", "score": 0.91}])
    );
    assert_eq!(value["affected"], json!(["checkout", "frontend"]));
    let suspect = &value["suspects"][0];
    assert_eq!(suspect["release"]["service"], "payment");
    assert_eq!(suspect["release"]["version"], "1.5.0");
    assert_eq!(suspect["release"]["environment"], "prod");
    assert_eq!(suspect["release"]["deployment_id"], "d-1");
    assert_eq!(suspect["confidence"], 0.93);
    assert_eq!(suspect["evidence"][0]["kind"], "version_split");
    assert_eq!(suspect["evidence"][0]["new_requests"], 300);
    assert_eq!(value["recommendation"], "roll back payment to 1.4.0");
}

#[test]
fn alert_round_trips_through_json_and_tolerates_unknown_fields() {
    let alert = example();
    let mut value = serde_json::to_value(&alert).unwrap();
    value
        .as_object_mut()
        .unwrap()
        .insert("added_later".into(), json!({"x": 1}));
    let back: Alert = serde_json::from_value(value).unwrap();
    assert_eq!(back, alert);
}

#[test]
fn every_evidence_kind_serializes_with_its_kind_tag_and_round_trips() {
    let details = vec![
        EvidenceDetail::EdgeSplit {
            client: "a".into(),
            server: "b".into(),
            new_requests: 1,
            new_value: 0.5,
            old_requests: 2,
            old_value: 0.0,
            z: 3.0,
        },
        EvidenceDetail::TemporalFit {
            exposure_start: t("2026-03-02T09:00:00Z"),
            onset: t("2026-03-02T09:01:00Z"),
            lag_secs: 60.0,
        },
        EvidenceDetail::DoseResponse {
            correlation: 0.9,
            windows: 6,
        },
        EvidenceDetail::RollbackRecovery {
            rolled_back_at: t("2026-03-02T09:05:00Z"),
            recovered_at: t("2026-03-02T09:06:00Z"),
        },
        EvidenceDetail::TopologicalFit {
            path: vec!["checkout".into(), "payment".into()],
            relation: "downstream".into(),
            anomalous_edges: 1,
            origin_score: 0.9,
        },
        EvidenceDetail::TrafficChange {
            server: "db".into(),
            rate_before: 1.0,
            rate_after: 5.0,
            new_edge: false,
        },
        EvidenceDetail::CounterEvidence {
            reason: CounterReason::ExternalOrigin,
        },
    ];
    for detail in details {
        let evidence = Evidence {
            detail,
            llr: -1.0,
            summary: "s".into(),
        };
        let value = serde_json::to_value(&evidence).unwrap();
        assert_eq!(value["kind"], evidence.kind());
        assert_eq!(value["llr"], -1.0);
        let back: Evidence = serde_json::from_value(value).unwrap();
        assert_eq!(back, evidence);
    }
    let counter = Evidence {
        detail: EvidenceDetail::CounterEvidence {
            reason: CounterReason::OnsetBeforeExposure,
        },
        llr: -5.0,
        summary: String::new(),
    };
    assert_eq!(
        serde_json::to_value(counter).unwrap()["reason"],
        "onset_before_exposure"
    );
}

#[test]
fn alert_type_names_match_the_schema() {
    for (kind, name) in [
        (AlertType::Anomaly, "anomaly"),
        (AlertType::Attribution, "attribution"),
        (AlertType::ReleaseVerdict, "release_verdict"),
        (AlertType::Resolved, "resolved"),
        (AlertType::TopologyChange, "topology_change"),
    ] {
        assert_eq!(kind.as_str(), name);
        assert_eq!(serde_json::to_value(kind).unwrap(), Value::from(name));
    }
}

#[test]
fn alert_id_is_stable_within_an_onset_window_and_distinct_across_inputs() {
    let window = 10 * Timestamp::SECOND;
    let onset = t("2026-03-02T09:22:10Z");
    let id = alert_id(
        AlertType::Anomaly,
        "prod",
        "service:prod/a",
        "error_ratio",
        onset,
        window,
    );
    // Known value (computed independently): the id must never change across versions.
    assert_eq!(id, "anomaly-882043d53ef31636");
    assert_eq!(
        id,
        alert_id(
            AlertType::Anomaly,
            "prod",
            "service:prod/a",
            "error_ratio",
            onset,
            window
        )
    );
    assert!(id.starts_with("anomaly-") && id.len() == "anomaly-".len() + 16);
    let later_same_window = onset.plus_nanos(9 * Timestamp::SECOND);
    assert_eq!(
        id,
        alert_id(
            AlertType::Anomaly,
            "prod",
            "service:prod/a",
            "error_ratio",
            later_same_window,
            window
        )
    );
    let variants = [
        alert_id(
            AlertType::Attribution,
            "prod",
            "service:prod/a",
            "error_ratio",
            onset,
            window,
        ),
        alert_id(
            AlertType::Anomaly,
            "staging",
            "service:prod/a",
            "error_ratio",
            onset,
            window,
        ),
        alert_id(
            AlertType::Anomaly,
            "prod",
            "service:prod/b",
            "error_ratio",
            onset,
            window,
        ),
        alert_id(
            AlertType::Anomaly,
            "prod",
            "service:prod/a",
            "latency_p95",
            onset,
            window,
        ),
        alert_id(
            AlertType::Anomaly,
            "prod",
            "service:prod/a",
            "error_ratio",
            onset.plus_nanos(window),
            window,
        ),
        alert_id(
            AlertType::Anomaly,
            "pro",
            "dservice:prod/a",
            "error_ratio",
            onset,
            window,
        ),
    ];
    for other in variants {
        assert_ne!(id, other);
    }
}

#[test]
fn series_labels_are_distinct_per_key_kind() {
    let env: Arc<str> = "prod".into();
    let a: Arc<str> = "a".into();
    let b: Arc<str> = "b".into();
    let v: Arc<str> = "1.0".into();
    let keys = [
        SeriesKey::Service {
            environment: env.clone(),
            service: a.clone(),
        },
        SeriesKey::Edge {
            environment: env.clone(),
            client: a.clone(),
            server: b.clone(),
            connection_type: crate::model::ConnectionType::default(),
        },
        SeriesKey::EdgeByClientVersion {
            environment: env.clone(),
            client: a.clone(),
            client_version: v.clone(),
            server: b.clone(),
        },
        SeriesKey::EdgeByServerVersion {
            environment: env.clone(),
            client: a.clone(),
            server: b.clone(),
            server_version: v.clone(),
        },
        SeriesKey::Operation {
            environment: env.clone(),
            service: a.clone(),
            operation: "GET /".into(),
        },
        SeriesKey::ServiceVersion {
            environment: env.clone(),
            service: a.clone(),
            version: v,
        },
    ];
    let labels: std::collections::BTreeSet<_> = keys.iter().map(series_label).collect();
    assert_eq!(labels.len(), keys.len());
    assert_eq!(series_label(&keys[0]), "service:prod/a");
    assert_eq!(series_label(&keys[1]), "edge:prod/a->b");
    for key in &keys {
        assert_eq!(series_scope(key), ("prod", "a"));
    }
}
