//! Invalid records: each gives a clear lowercase error (for the DLQ).

use serde_json::json;

use super::*;

#[test]
fn invalid_events_are_errors() {
    let cases: Vec<(Vec<u8>, DeployError)> = vec![
        (b"{not json".to_vec(), DeployError::Json(String::new())),
        (b"".to_vec(), DeployError::Empty),
        (b"[1,2]".to_vec(), DeployError::Unrecognized),
        (b"{\"foo\": 1}".to_vec(), DeployError::Unrecognized),
        (
            with(base_v05(), "/context/id", None),
            DeployError::Missing("context.id"),
        ),
        (
            with(base_v05(), "/context/source", Some(json!(""))),
            inv("context.source"),
        ),
        (
            with(base_v05(), "/context/timestamp", None),
            DeployError::Missing("context.timestamp"),
        ),
        (
            with(base_v05(), "/context/timestamp", Some(json!("yesterday"))),
            DeployError::Timestamp {
                field: "context.timestamp",
                value: "yesterday".into(),
            },
        ),
        (
            with(base_v05(), "/context/specversion", None),
            DeployError::Missing("context.specversion"),
        ),
        (
            with(base_v05(), "/context/specversion", Some(json!("latest"))),
            inv("context.specversion"),
        ),
        (
            with(base_v05(), "/context/type", None),
            DeployError::Missing("context.type"),
        ),
        (
            with(
                base_v05(),
                "/context/type",
                Some(json!("com.acme.deployed")),
            ),
            DeployError::EventType("com.acme.deployed".into()),
        ),
        (
            with(
                base_v05(),
                "/context/type",
                Some(json!("dev.cdevents.service.deployed")),
            ),
            DeployError::EventType("dev.cdevents.service.deployed".into()),
        ),
        (
            with(base_v05(), "/subject", None),
            DeployError::Missing("subject"),
        ),
        (
            with(base_v05(), "/subject/id", Some(json!(42))),
            inv("subject.id"),
        ),
        (
            with(base_v05(), "/subject/content", None),
            DeployError::Missing("subject.content"),
        ),
        (
            with(base_v05(), "/subject/content/environment", None),
            DeployError::Missing("subject.content.environment"),
        ),
        (
            with(base_v05(), "/subject/content/environment/id", None),
            DeployError::Missing("subject.content.environment.id"),
        ),
        (
            with(base_v05(), "/subject/content/artifactId", None),
            DeployError::Missing("subject.content.artifactId"),
        ),
        (
            with(
                base_v05(),
                "/subject/content/artifactId",
                Some(json!("not a purl")),
            ),
            purl_err("not a purl"),
        ),
        (
            with(
                base_v05(),
                "/subject/content/artifactId",
                Some(json!("pkg:npm/left-pad")),
            ),
            purl_err("pkg:npm/left-pad"),
        ),
    ];
    for (value, expected) in cases {
        let got = err(&value);
        let same = match (&got, &expected) {
            (DeployError::Json(_), DeployError::Json(_)) => true,
            (DeployError::Purl { value: a, .. }, DeployError::Purl { value: b, .. }) => a == b,
            (a, b) => a == b,
        };
        assert!(
            same,
            "{}: got {got:?}, want {expected:?}",
            String::from_utf8_lossy(&value)
        );
        assert_lowercase(&got);
    }
}

pub(super) fn inv(field: &'static str) -> DeployError {
    let expected = match field {
        "context.specversion" => "a version like 0.5.1",
        "subject.id" => "a non-empty string",
        _ => "a non-empty string",
    };
    DeployError::Invalid { field, expected }
}

fn purl_err(value: &str) -> DeployError {
    DeployError::Purl {
        value: value.into(),
        reason: String::new(),
    }
}

pub(super) fn assert_lowercase(e: &DeployError) {
    let msg = e.to_string();
    assert!(
        msg.chars().next().is_some_and(|c| c.is_lowercase()),
        "{msg}"
    );
    assert!(!msg.ends_with('.'), "{msg}");
}

#[test]
fn subject_id_with_only_slashes_is_invalid_service() {
    let got = err(&with(base_v05(), "/subject/id", Some(json!("//"))));
    assert_eq!(
        got,
        DeployError::Invalid {
            field: "subject.id",
            expected: "a service name"
        }
    );
}

#[test]
fn invalid_envelopes_are_errors() {
    let no_data = json!({"specversion": "1.0", "id": "1", "source": "s",
        "type": "dev.cdevents.service.deployed.0.3.0"});
    assert_eq!(
        err(&serde_json::to_vec(&no_data).unwrap()),
        DeployError::Envelope("no data")
    );
    let bad_b64 = json!({"specversion": "1.0", "type": "dev.cdevents.service.deployed.0.3.0",
        "data_base64": "***"});
    assert_eq!(
        err(&serde_json::to_vec(&bad_b64).unwrap()),
        DeployError::Envelope("invalid data_base64")
    );
    let v2 = json!({"specversion": "2.0", "data": base_v05()});
    assert_eq!(
        err(&serde_json::to_vec(&v2).unwrap()),
        DeployError::Envelope("specversion must be 1.0")
    );
    let data_num = json!({"specversion": "1.0", "data": 5});
    assert_eq!(
        err(&serde_json::to_vec(&data_num).unwrap()),
        DeployError::Envelope("data must be a json object")
    );
    let raw = serde_json::to_vec(&base_v05()).unwrap();
    let headers: [(&str, &[u8]); 1] = [("ce_specversion", b"0.3")];
    assert_eq!(
        decode_deploy_event(&raw, &headers).unwrap_err(),
        DeployError::Envelope("ce_specversion must be 1.0")
    );
    let headers: [(&str, &[u8]); 1] = [("ce_type", b"\xff\xfe")];
    assert_eq!(
        decode_deploy_event(&raw, &headers).unwrap_err(),
        DeployError::Header("ce_type".into())
    );
    let headers: [(&str, &[u8]); 1] = [("ce_specversion", b"1.0")];
    assert_eq!(
        decode_deploy_event(b"", &headers).unwrap_err(),
        DeployError::Empty
    );
    // Structured header but the value is not a CloudEvent.
    let headers: [(&str, &[u8]); 1] = [("content-type", b"application/cloudevents+json")];
    assert_eq!(
        decode_deploy_event(&raw, &headers).unwrap_err(),
        DeployError::Missing("specversion")
    );
    for e in [
        DeployError::Envelope("no data"),
        DeployError::Header("x".into()),
    ] {
        assert_lowercase(&e);
    }
}

#[test]
fn long_values_are_clipped_in_messages() {
    let long = "x".repeat(5000);
    let got = err(&with(base_v05(), "/context/timestamp", Some(json!(long))));
    assert!(got.to_string().len() < 400, "{}", got.to_string().len());
}
