use serde_json::json;

use super::*;

fn decode(value: &serde_json::Value) -> Result<Option<Incident>, IncidentError> {
    decode_incident(&serde_json::to_vec(value).unwrap(), &[])
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

#[test]
fn plain_form_with_and_without_environment() {
    let incident = decode(&json!({
        "id": "INC-42", "service": "checkout", "started_at": "2026-03-02T09:24:00Z",
        "title": "checkout errors", "environment": "prod"
    }))
    .unwrap()
    .unwrap();
    assert_eq!(incident.id, "INC-42");
    assert_eq!(&*incident.service, "checkout");
    assert_eq!(incident.environment.as_deref(), Some("prod"));
    assert_eq!(incident.started_at, t("2026-03-02T09:24:00Z"));
    assert_eq!(incident.title, "checkout errors");
    assert_eq!(incident.source, IncidentSource::Plain);
    let numeric =
        decode(&json!({"id": 7, "service": "a", "started_at": "2026-03-02T09:24:00+01:00"}))
            .unwrap()
            .unwrap();
    assert_eq!(numeric.id, "7");
    assert_eq!(numeric.environment, None);
    assert_eq!(numeric.title, "");
    assert_eq!(numeric.started_at, t("2026-03-02T08:24:00Z"));
}

/// The example payload of PagerDuty's v3 webhook documentation (trimmed).
fn pagerduty(event_type: &str) -> serde_json::Value {
    json!({"event": {
        "id": "5ac64822-4adc-4fda-ade0-410becf0de4f",
        "event_type": event_type,
        "resource_type": "incident",
        "occurred_at": "2026-05-20T14:00:05.000Z",
        "agent": {"id": "PXPGF42", "type": "user_reference", "summary": "Earline Greenholt"},
        "client": {"name": "PagerDuty"},
        "data": {
            "id": "PT4KHLK", "type": "incident", "number": 1234, "status": "triggered",
            "incident_key": "baf7cf21b1da41b4b0221008339ff357",
            "created_at": "2026-05-20T14:00:00.000Z",
            "title": "The server is on fire.",
            "service": {"id": "PIJ90N7", "type": "service_reference", "summary": "checkout",
                        "self": "https://api.pagerduty.com/services/PIJ90N7"},
            "urgency": "high"
        }
    }})
}

#[test]
fn pagerduty_triggered_is_an_incident_and_other_events_are_skipped() {
    let (format, incident) = decode_with_format(
        &serde_json::to_vec(&pagerduty("incident.triggered")).unwrap(),
        &[],
    )
    .unwrap();
    assert_eq!(format, Format::Pagerduty);
    let incident = incident.unwrap();
    assert_eq!(incident.id, "PT4KHLK");
    assert_eq!(&*incident.service, "checkout");
    assert_eq!(incident.started_at, t("2026-05-20T14:00:00Z"));
    assert_eq!(incident.title, "The server is on fire.");
    assert_eq!(incident.source, IncidentSource::Pagerduty);
    assert_eq!(decode(&pagerduty("incident.acknowledged")).unwrap(), None);
    assert_eq!(decode(&pagerduty("incident.resolved")).unwrap(), None);

    // No created_at: occurred_at.
    let mut doc = pagerduty("incident.triggered");
    doc["event"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("created_at");
    assert_eq!(
        decode(&doc).unwrap().unwrap().started_at,
        t("2026-05-20T14:00:05Z")
    );
    let mut doc = pagerduty("incident.triggered");
    doc["event"]["data"]
        .as_object_mut()
        .unwrap()
        .remove("service");
    assert_eq!(
        decode(&doc).unwrap_err(),
        IncidentError::Missing("event.data.service")
    );
}

fn cdevent(version_key: &str, version: &str, ty: &str) -> serde_json::Value {
    json!({
        "context": {version_key: version, "id": "ev-1", "source": "/monitoring",
                    "type": ty, "timestamp": "2026-03-02T09:24:00Z"},
        "subject": {"id": "incident-9", "type": "incident", "content": {
            "description": "checkout p99 over 2 s",
            "environment": {"id": "prod"},
            "service": {"id": "shop/checkout"}
        }}
    })
}

#[test]
fn cdevents_incident_detected_v04_and_v05_bare_structured_and_binary() {
    for doc in [
        cdevent("version", "0.4.1", "dev.cdevents.incident.detected.0.2.0"),
        cdevent(
            "specversion",
            "0.5.1",
            "dev.cdevents.incident.detected.0.3.0",
        ),
        cdevent(
            "specversion",
            "0.5.1",
            "dev.cdevents.incident.reported.0.3.0",
        ),
    ] {
        let incident = decode(&doc).unwrap().unwrap();
        assert_eq!(incident.id, "incident-9");
        assert_eq!(&*incident.service, "checkout");
        assert_eq!(incident.environment.as_deref(), Some("prod"));
        assert_eq!(incident.title, "checkout p99 over 2 s");
        assert_eq!(incident.source, IncidentSource::Cdevent);
        let structured = json!({"specversion": "1.0", "id": "ev-1", "source": "/m",
            "type": doc["context"]["type"], "data": doc});
        assert_eq!(decode(&structured).unwrap().unwrap().id, "incident-9");
        let binary = decode_incident(
            &serde_json::to_vec(&doc).unwrap(),
            &[("ce_specversion", b"1.0".as_slice())],
        )
        .unwrap();
        assert_eq!(binary.unwrap().id, "incident-9");
    }
    let resolved = cdevent(
        "specversion",
        "0.5.1",
        "dev.cdevents.incident.resolved.0.3.0",
    );
    assert_eq!(decode(&resolved).unwrap(), None);
    let deployed = cdevent(
        "specversion",
        "0.5.1",
        "dev.cdevents.service.deployed.0.3.0",
    );
    assert_eq!(decode(&deployed).unwrap(), None);
    let foreign = cdevent("specversion", "0.5.1", "com.example.thing");
    assert!(decode(&foreign).is_err());
}

#[test]
fn bad_input_is_a_clear_error_never_a_panic() {
    let cases: Vec<(&[u8], &str)> = vec![
        (b"", "empty value"),
        (b"  \n", "empty value"),
        (b"{", "invalid json"),
        (b"[1,2]", "unrecognized incident"),
        (b"{\"title\": \"x\"}", "unrecognized incident"),
        (
            b"{\"service\": \"a\", \"started_at\": \"2026-03-02T09:24:00Z\"}",
            "missing required field id",
        ),
        (
            b"{\"id\": \"1\", \"service\": \"a\"}",
            "missing required field started_at",
        ),
        (
            b"{\"id\": \"1\", \"service\": \"a\", \"started_at\": \"yesterday\"}",
            "invalid rfc 3339 timestamp in started_at",
        ),
        (
            b"{\"id\": \"1\", \"service\": 3, \"started_at\": \"2026-03-02T09:24:00Z\"}",
            "field service must be a non-empty string",
        ),
        (
            b"{\"id\": \"1\", \"service\": \" \", \"started_at\": \"2026-03-02T09:24:00Z\"}",
            "field service must be a non-empty string",
        ),
        (b"{\"event\": {\"data\": {}}}", "missing required field event.event_type"),
        (
            b"{\"context\": {\"type\": \"dev.cdevents.incident.detected.0.3.0\", \"timestamp\": \"2026-03-02T09:24:00Z\"}, \"subject\": {\"id\": \"x\", \"content\": {}}}",
            "missing required field subject.content.service.id",
        ),
    ];
    for (input, expected) in cases {
        let error = decode_incident(input, &[]).unwrap_err().to_string();
        assert!(
            error.starts_with(expected),
            "{:?}: {error:?} does not start with {expected:?}",
            String::from_utf8_lossy(input)
        );
    }
    let error = decode_incident(b"{}", &[("ce_id", b"\xff".as_slice())]).unwrap_err();
    assert_eq!(error, IncidentError::Header("ce_id".into()));
}
