//! Reported incidents on hand-made windows: an incident on a service a bad
//! release degraded is answered with that release first, whether it
//! arrived before its due time or long after; one in a healthy period is
//! answered with no suspect; a re-delivered id is answered once.

use super::tests_support::{Fleet, T0, deploy};
use super::*;
use crate::model::{AlertType, Incident, IncidentAnswer, IncidentSource, Timestamp};

fn incident(id: &str, service: &str, at_window: u64) -> Incident {
    Incident {
        id: id.into(),
        service: service.into(),
        environment: None,
        started_at: Timestamp::from_secs(T0 + at_window * 10 + 5),
        title: format!("{service} is failing"),
        source: IncidentSource::Plain,
    }
}

/// Runs `windows` windows with `early` incidents given up front and `late`
/// ones after the last window; returns every answer.
fn answers(
    fleet: &Fleet,
    windows: u64,
    early: &[Incident],
    late: &[Incident],
) -> Vec<IncidentAnswer> {
    let mut analyzer = Analyzer::new(Settings::default());
    analyzer.on_deploy(deploy(119));
    let mut out = Vec::new();
    for i in early {
        out.extend(analyzer.on_incident(i.clone()).incidents);
    }
    for w in 0..windows {
        out.extend(analyzer.on_window(&fleet.window(w)).incidents);
    }
    for i in late {
        out.extend(analyzer.on_incident(i.clone()).incidents);
    }
    out
}

const BAD: Fleet = Fleet {
    new_from: Some(120),
    new_errors: 6,
    extra_from: None,
};

#[test]
fn an_incident_on_a_service_a_bad_release_degraded_blames_that_release() {
    let reported = incident("INC-1", "front", 135);
    let on_time = answers(&BAD, 200, std::slice::from_ref(&reported), &[]);
    assert_eq!(on_time.len(), 1, "{on_time:#?}");
    let answer = &on_time[0];
    assert_eq!(answer.alert.kind, AlertType::Attribution, "{answer:#?}");
    let top = &answer.alert.suspects[0].release;
    assert_eq!(
        (top.service.as_str(), top.version.as_str()),
        ("pay", "2.0.0")
    );
    assert_eq!(answer.environment, "prod");
    assert_eq!(answer.alert.id, crate::model::incident_alert_id("INC-1"));
    let incident = answer.alert.incident.as_ref().unwrap();
    assert_eq!(
        (incident.id.as_str(), incident.service.as_str()),
        ("INC-1", "front")
    );
    assert_eq!(
        answer
            .culprit
            .as_ref()
            .unwrap()
            .release
            .deployment_id
            .as_deref(),
        Some("d-1")
    );
    // Due: started_at (window 135 + 5 s) + 60 s, up to the 10 s grid.
    assert_eq!(answer.alert.detected_at, Timestamp::from_secs(T0 + 1420));
    assert!(answer.alert.summary.starts_with("incident INC-1: "));

    // Reported long after: the same answer (same windows, same releases).
    let late = answers(&BAD, 200, &[], std::slice::from_ref(&reported));
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].alert.id, answer.alert.id);
    assert_eq!(late[0].alert.kind, answer.alert.kind);
    assert_eq!(late[0].alert.detected_at, answer.alert.detected_at);
    assert_eq!(late[0].alert.suspects[0].release, *top);
}

#[test]
fn an_incident_in_a_healthy_period_has_no_suspect() {
    let healthy = Fleet {
        new_from: Some(120),
        new_errors: 0,
        extra_from: None,
    };
    let out = answers(&healthy, 200, &[incident("INC-2", "pay", 140)], &[]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert.kind, AlertType::Anomaly, "{:#?}", out[0]);
    assert!(out[0].alert.suspects.is_empty());
    assert!(out[0].culprit.is_none());
    // Before any release, on the bad fleet: nothing to blame either.
    let out = answers(&BAD, 200, &[incident("INC-3", "front", 60)], &[]);
    assert_eq!(out.len(), 1);
    assert!(out[0].alert.suspects.is_empty(), "{:#?}", out[0]);
}

#[test]
fn a_redelivered_incident_is_answered_once() {
    let reported = incident("INC-4", "pay", 150);
    let out = answers(
        &BAD,
        200,
        &[reported.clone(), reported.clone()],
        std::slice::from_ref(&reported),
    );
    assert_eq!(out.len(), 1);
}
