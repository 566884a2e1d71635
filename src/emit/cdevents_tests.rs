use crate::model::{
    ALERT_SCHEMA, Alert, AlertType, Culprit, Incident, IncidentAnswer, IncidentSource, ReleaseRef,
    Severity, Suspect, Timestamp,
};

use super::*;

fn answer(culprit: bool) -> IncidentAnswer {
    let release = ReleaseRef {
        service: "payment".into(),
        version: "1.5.0".into(),
        environment: "prod".into(),
        deployment_id: Some("0b6a1c1e-deploy".into()),
        previous_version: Some("1.4.0".into()),
        started_at: Some(Timestamp::from_secs(1_772_442_660)),
    };
    IncidentAnswer {
        incident: Incident {
            id: "INC-1".into(),
            service: "checkout".into(),
            environment: None,
            started_at: Timestamp::from_secs(1_772_442_780),
            title: "checkout failing".into(),
            source: IncidentSource::Pagerduty,
        },
        environment: "prod".into(),
        alert: Alert {
            schema: ALERT_SCHEMA.into(),
            kind: AlertType::Attribution,
            id: "incident-0011223344556677".into(),
            detected_at: Timestamp::from_secs(1_772_442_840),
            environment: "prod".into(),
            anomaly: None,
            affected: Vec::new(),
            suspects: vec![Suspect {
                release: release.clone(),
                confidence: 0.93,
                evidence: Vec::new(),
            }],
            recommendation: None,
            summary: "s".into(),
            severity: Severity::Critical,
            resolves: None,
            verdict: None,
            topology: None,
            owners: Vec::new(),
            incident: None,
        },
        culprit: culprit.then(|| Culprit {
            release,
            artifact_id: Some("pkg:oci/payment@sha256%3Aabc?tag=1.5.0".into()),
        }),
    }
}

#[test]
fn incident_detected_is_a_v05_event_linked_to_the_culprit_deployment() {
    let event = incident_detected(&answer(true), "/epicenter");
    let body = &event.body;
    assert_eq!(body["context"]["specversion"], "0.5.1");
    assert_eq!(
        body["context"]["type"],
        "dev.cdevents.incident.detected.0.3.0"
    );
    assert_eq!(body["context"]["id"], "incident-0011223344556677-detected");
    assert_eq!(body["context"]["source"], "/epicenter");
    assert_eq!(body["context"]["timestamp"], "2026-03-02T09:14:00Z");
    assert_eq!(body["context"]["links"][0]["linkType"], "RELATION");
    assert_eq!(
        body["context"]["links"][0]["target"]["contextId"],
        "0b6a1c1e-deploy"
    );
    assert_eq!(body["subject"]["id"], "INC-1");
    assert!(
        body["subject"].get("type").is_none(),
        "v0.5 has no subject.type"
    );
    let content = &body["subject"]["content"];
    assert_eq!(content["description"], "checkout failing");
    assert_eq!(content["environment"]["id"], "prod");
    assert_eq!(content["service"]["id"], "checkout");
    assert_eq!(
        content["artifactId"],
        "pkg:oci/payment@sha256%3Aabc?tag=1.5.0"
    );
    let custom = &body["customData"]["epicenter"];
    assert_eq!(custom["deployment_id"], "0b6a1c1e-deploy");
    assert_eq!(custom["alert_id"], "incident-0011223344556677");
    assert_eq!(custom["confidence"], 0.93);
    assert_eq!(event.subject, "INC-1");
}

#[test]
fn without_a_culprit_there_is_no_link_and_no_artifact() {
    let event = incident_detected(&answer(false), "/epicenter");
    assert!(event.body["context"].get("links").is_none());
    assert!(event.body["subject"]["content"].get("artifactId").is_none());
    assert!(
        event.body["customData"]["epicenter"]
            .get("deployment_id")
            .is_none()
    );
}

#[tokio::test]
async fn each_destination_counts_its_own_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cdevents.jsonl");
    let settings = CdEventsSettings {
        source: "/epicenter".into(),
        // Nothing listens on port 1: every delivery to Kafka fails.
        kafka: Some(KafkaSettings {
            brokers: "127.0.0.1:1".into(),
            topic: "epicenter.cdevents".into(),
            queue_capacity: 4,
            message_timeout: Duration::from_millis(300),
            properties: Default::default(),
            max_attempts: 1,
        }),
        path: Some(path.clone()),
        queue_capacity: 4,
    };
    let metrics = Metrics::default();
    let (tx, task) = start(&settings, metrics.clone()).unwrap();
    assert!(tx.offer(incident_detected(&answer(true), "/epicenter")));
    assert!(tx.offer(incident_detected(&answer(false), "/epicenter")));
    drop(tx);
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the cdevents task ends when its queue closes")
        .unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    assert_eq!(metrics.sent_count(Sink::CdeventsFile), 2);
    assert_eq!(metrics.sent_count(Sink::CdeventsKafka), 0);
    assert_eq!(
        metrics.failed_count(Sink::CdeventsKafka, Reason::Producer),
        2
    );
    assert_eq!(metrics.failed_count(Sink::CdeventsFile, Reason::Io), 0);
    // The shared queue keeps its own label, and nothing is sent under it.
    assert_eq!(metrics.sent_count(Sink::Cdevents), 0);
    assert_eq!(metrics.depth(Sink::Cdevents), 0);
}
