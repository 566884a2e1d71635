//! [`assemble`] over a fake source: which alert leads, the period, the
//! timeline, markers, owners and unknowns.

use std::sync::Arc;

use super::*;
use crate::model::{
    ALERT_SCHEMA, Alert, AlertAnomaly, AlertType, OwnerRef, Release, ReleaseKey, ReleaseOrigin,
    ReleaseRef, ReleaseState, Severity, Suspect, Timestamp,
};

const T0: u64 = 1_772_442_000;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

#[derive(Default)]
struct Fake {
    alerts: Vec<Alert>,
    releases: Vec<Release>,
    late_suspects: Option<Vec<Suspect>>,
}

impl ReportSource for Fake {
    fn describe(&self) -> String {
        "a fake".into()
    }
    fn incident(&self, id: &str) -> Option<IncidentInfo> {
        (id == "INC-1").then(|| IncidentInfo {
            id: id.into(),
            service: "payment".into(),
            environment: None,
            at: t(700),
            title: Some("Checkout failing".into()),
            external: true,
        })
    }
    fn alerts(&self, from: Timestamp, to: Timestamp) -> Vec<Alert> {
        self.alerts
            .iter()
            .filter(|a| from <= a.detected_at && a.detected_at <= to)
            .cloned()
            .collect()
    }
    fn releases(&self, _env: &str, _from: Timestamp, _to: Timestamp) -> Vec<Release> {
        self.releases.clone()
    }
    fn series(
        &self,
        service: &str,
        _env: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<SeriesPoint> {
        let mut out = Vec::new();
        let mut at = from;
        while at <= to && at <= t(1800) {
            out.push(SeriesPoint {
                at,
                requests: if service == "payment" { 100 } else { 50 },
                error_ratio: 0.01,
                latency_p50_secs: 0.05,
                latency_p99_secs: 0.2,
            });
            at = at.plus_nanos(30 * Timestamp::SECOND);
        }
        out
    }
    fn dependents(&self, service: &str, _env: &str) -> Vec<Dependent> {
        (service == "payment")
            .then(|| Dependent {
                service: "checkout".into(),
                depth: 1,
                traffic_share: Some(1.0),
            })
            .into_iter()
            .collect()
    }
    fn owner(&self, service: &str) -> Option<OwnerRef> {
        (service == "checkout").then(|| OwnerRef {
            service: service.into(),
            team: "storefront".into(),
            channel: String::new(),
            tier: None,
        })
    }
    fn environment_of(&self, _service: &str) -> Option<String> {
        Some("production".into())
    }
    fn which_release(&self, _s: &str, _e: &str, _at: Timestamp) -> Option<Vec<Suspect>> {
        self.late_suspects.clone()
    }
}

fn release_ref() -> ReleaseRef {
    ReleaseRef {
        service: "payment".into(),
        version: "1.5.0".into(),
        environment: "production".into(),
        deployment_id: Some("d-1".into()),
        previous_version: Some("1.4.0".into()),
        started_at: Some(t(660)),
    }
}

fn alert(kind: AlertType, id: &str, at: u64, resolves: Option<&str>) -> Alert {
    Alert {
        schema: ALERT_SCHEMA.into(),
        kind,
        id: id.into(),
        detected_at: t(at),
        environment: "production".into(),
        anomaly: Some(AlertAnomaly {
            service: "payment".into(),
            signal: "error_ratio".into(),
            onset: t(690),
            baseline: 0.005,
            observed: 0.25,
            origins: vec![],
            series: "service:production/payment".into(),
            significance: 9.0,
            requests: 900,
            recovered_at: (kind == AlertType::Resolved).then(|| t(1500)),
        }),
        affected: vec!["payment".into(), "checkout".into()],
        suspects: if kind == AlertType::Attribution {
            vec![Suspect {
                release: release_ref(),
                confidence: 0.9,
                evidence: vec![],
            }]
        } else {
            vec![]
        },
        recommendation: (kind == AlertType::Attribution)
            .then(|| "roll back payment to 1.4.0".into()),
        summary: String::new(),
        severity: Severity::Critical,
        resolves: resolves.map(Into::into),
        verdict: None,
        topology: None,
        owners: vec![],
        incident: None,
    }
}

fn release() -> Release {
    Release {
        key: ReleaseKey {
            service: Arc::from("payment"),
            environment: Arc::from("production"),
            version: Arc::from("1.5.0"),
        },
        deployment_id: Some("d-1".into()),
        artifact_id: None,
        origin: ReleaseOrigin::Plain,
        started_at: t(660),
        exposure_start: Some(t(690)),
        completed_at: None,
        rolled_back_at: Some(t(1440)),
        rolled_back_to: Some(Arc::from("1.4.0")),
        previous_version: Some(Arc::from("1.4.0")),
        state: ReleaseState::RolledBack,
        timeline: vec![],
    }
}

fn fake() -> Fake {
    let mut unrelated = alert(AlertType::Anomaly, "other", 3 * 3600, None);
    if let Some(a) = &mut unrelated.anomaly {
        a.onset = t(3 * 3600 - 60);
        a.series = "service:production/payment-x".into();
    }
    Fake {
        alerts: vec![
            alert(AlertType::Anomaly, "an-1", 750, None),
            alert(AlertType::Attribution, "at-1", 810, Some("an-1")),
            alert(AlertType::Resolved, "re-1", 1530, Some("at-1")),
            unrelated,
        ],
        releases: vec![release()],
        late_suspects: None,
    }
}

#[test]
fn an_alerted_incident_becomes_a_full_report() {
    let source = fake();
    let subject = Subject::Service {
        service: "payment".into(),
        environment: None,
        at: t(900),
    };
    let input = assemble(&source, &subject).unwrap();
    assert_eq!(input.environment, "production");
    assert_eq!(
        input.title,
        "Error ratio of payment rose after payment 1.5.0"
    );
    assert_eq!(input.alert_ids, ["an-1", "at-1", "re-1"]);
    assert_eq!(input.suspects[0].release, release_ref());
    assert_eq!(
        input.recommendation.as_deref(),
        Some("roll back payment to 1.4.0")
    );
    assert_eq!(input.anomaly.as_ref().unwrap().recovered_at, Some(t(1500)));
    // Release start 660 .. recovery 1530: padded by at least 10 minutes.
    assert!(
        input.from <= t(60) && input.to >= t(2130),
        "{} {}",
        input.from,
        input.to
    );
    let kinds: Vec<EventKind> = input.timeline.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::ReleaseStarted,
            EventKind::ReleaseExposed,
            EventKind::Onset,
            EventKind::Detection,
            EventKind::Attribution,
            EventKind::Rollback,
            EventKind::Recovery,
        ]
    );
    assert_eq!(
        input
            .markers
            .iter()
            .map(|m| m.label.as_str())
            .collect::<Vec<_>>(),
        ["payment 1.5.0", "rollback payment → 1.4.0"]
    );
    let charted: Vec<&str> = input.series.iter().map(|s| s.service.as_str()).collect();
    assert_eq!(charted, ["payment", "checkout"]);
    assert!(input.series.iter().all(|s| !s.points.is_empty()));
    assert_eq!(input.blast_radius.affected, ["payment", "checkout"]);
    assert_eq!(input.blast_radius.dependents.len(), 1);
    assert_eq!(input.owners.len(), 1);
    assert_eq!(input.owners[0].team, "storefront");
    // The fake's data stops at t(1800), well before the period ends.
    assert!(
        input
            .unknowns
            .iter()
            .any(|u| u.contains("The data ends at 09:30 UTC")),
        "{:?}",
        input.unknowns
    );
}

#[test]
fn an_incident_id_resolves_and_shows_in_the_timeline() {
    let input = assemble(&fake(), &Subject::Incident("INC-1".into())).unwrap();
    assert_eq!(input.title, "Checkout failing");
    assert!(
        input
            .timeline
            .iter()
            .any(|e| e.kind == EventKind::Incident && e.text == "incident INC-1: Checkout failing")
    );
    assert_eq!(input.suspects.len(), 1);
    let missing = assemble(&fake(), &Subject::Incident("nope".into()));
    assert!(matches!(missing, Err(ReportError::UnknownIncident(id)) if id == "nope"));
}

#[test]
fn a_quiet_time_gets_no_anomaly_and_late_suspects_are_flagged() {
    let mut source = fake();
    let subject = Subject::Service {
        service: "payment".into(),
        environment: Some("production".into()),
        at: t(7200),
    };
    let input = assemble(&source, &subject).unwrap();
    assert!(input.anomaly.is_none());
    assert!(input.suspects.is_empty());
    assert!(input.alert_ids.is_empty());
    assert_eq!(input.title, "payment around 11:00 UTC");
    source.late_suspects = Some(vec![Suspect {
        release: release_ref(),
        confidence: 0.4,
        evidence: vec![],
    }]);
    let input = assemble(&source, &subject).unwrap();
    assert_eq!(input.suspects.len(), 1);
    assert!(
        input
            .unknowns
            .iter()
            .any(|u| u.contains("No alert fired at the time"))
    );
    // Rendering it works and says what is missing.
    let md = render(&input, "quiet").markdown;
    assert!(md.contains("No anomaly of payment was detected"), "{md}");
    assert!(md.contains("confidence is 40%"), "{md}");
}
