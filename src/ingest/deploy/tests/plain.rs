//! The plain JSON form.

use serde_json::json;

use super::invalid::{assert_lowercase, inv};
use super::*;

#[test]
fn plain_form_decodes() {
    let e = decode_bare(&own_fixture("plain_deploy.json"))
        .unwrap()
        .unwrap();
    assert_eq!(e.origin, ReleaseOrigin::Plain);
    assert_eq!(e.source, "");
    assert_eq!(e.id, "deploy-1234");
    assert_eq!(e.kind, DeployKind::Deployed);
    assert_eq!(&*e.service, "checkout-api");
    assert_eq!(&*e.environment, "production");
    assert_eq!(e.version.as_deref(), Some("v2.5.0"));
    assert_eq!(
        e.at,
        Timestamp::parse_rfc3339("2026-08-21T09:02:11Z").unwrap()
    );
    assert_eq!(
        e.finished_at,
        Timestamp::parse_rfc3339("2026-08-21T09:05:00Z")
    );
}

#[test]
fn plain_form_defaults_and_purl_version() {
    let doc = json!({"service": "cart", "started_at": "2026-01-01T00:00:00Z",
        "artifact_id": "pkg:oci/cart@sha256%3Aabc?tag=3.1.0", "kind": "upgraded"});
    let e = decode_bare(&serde_json::to_vec(&doc).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(e.version.as_deref(), Some("3.1.0"));
    assert_eq!(e.kind, DeployKind::Upgraded);
    assert_eq!(&*e.environment, "");
    let ns = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .nanos();
    assert_eq!(
        e.id,
        format!("cart//3.1.0/{ns}"),
        "synthesized, deterministic id"
    );
    let removed =
        json!({"service": "cart", "started_at": "2026-01-01T00:00:00Z", "kind": "removed"});
    let e = decode_bare(&serde_json::to_vec(&removed).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!((e.kind, e.version), (DeployKind::Removed, None));
}

#[test]
fn invalid_plain_forms_are_errors() {
    let base = json!({"service": "cart", "version": "1", "started_at": "2026-01-01T00:00:00Z"});
    let cases = [
        (
            with(base.clone(), "/started_at", None),
            DeployError::Missing("started_at"),
        ),
        (
            with(base.clone(), "/version", None),
            DeployError::Missing("version"),
        ),
        (
            with(base.clone(), "/service", Some(json!(""))),
            inv("service"),
        ),
        (
            with(
                base.clone(),
                "/finished_at",
                Some(json!("2025-01-01T00:00:00Z")),
            ),
            DeployError::Invalid {
                field: "finished_at",
                expected: "not before started_at",
            },
        ),
        (
            with(base.clone(), "/finished_at", Some(json!("soon"))),
            DeployError::Timestamp {
                field: "finished_at",
                value: "soon".into(),
            },
        ),
        (
            with(base.clone(), "/kind", Some(json!("exploded"))),
            DeployError::Invalid {
                field: "kind",
                expected: "one of deployed, upgraded, rolledback, removed, published",
            },
        ),
        (with(base.clone(), "/id", Some(json!([1]))), inv("id")),
    ];
    for (value, expected) in cases {
        let got = err(&value);
        assert_eq!(got, expected, "{}", String::from_utf8_lossy(&value));
        assert_lowercase(&got);
    }
}
