//! Tests for deployment-event decoding: the shared CDEvents examples, our own
//! v0.4 fixtures, binary mode and unknown types here; invalid records in
//! `invalid.rs`, the plain form in `plain.rs`.

mod invalid;
mod plain;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;
use crate::model::{DeployKind, ReleaseOrigin, Timestamp};

/// `EPICENTER_SHARED_DIR`, else `<manifest>/../shared/fixtures`; None when absent.
fn shared_fixtures_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("EPICENTER_SHARED_DIR").map(|d| PathBuf::from(d).join("fixtures")),
        std::env::var_os("EPICENTER_SHARED_DIR").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("examples").is_dir())
}

fn own_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/deploy")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode_bare(value: &[u8]) -> Result<Option<DeployEvent>, DeployError> {
    decode_deploy_event(value, &[])
}

fn base_v05() -> Value {
    json!({
        "context": {
            "specversion": "0.5.1",
            "id": "evt-1",
            "source": "/argocd/prod",
            "type": "dev.cdevents.service.deployed.0.3.0",
            "timestamp": "2026-08-20T14:27:05Z"
        },
        "subject": {
            "id": "shop/checkout-api",
            "content": {
                "environment": {"id": "production"},
                "artifactId": "pkg:oci/checkout-api@sha256%3Aabc123?tag=v2.4.1"
            }
        }
    })
}

fn with(mut doc: Value, pointer: &str, value: Option<Value>) -> Vec<u8> {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = doc.pointer_mut(parent).unwrap().as_object_mut().unwrap();
    match value {
        Some(v) => target.insert(key.to_owned(), v),
        None => target.remove(key),
    };
    serde_json::to_vec(&doc).unwrap()
}

fn err(value: &[u8]) -> DeployError {
    match decode_bare(value) {
        Err(e) => e,
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn shared_examples_decode() {
    let Some(dir) = shared_fixtures_dir() else {
        eprintln!("skip: shared fixtures not found (set EPICENTER_SHARED_DIR)");
        return;
    };
    let ex = dir.join("examples");
    let cases = [
        (
            "service_deployed.json",
            DeployKind::Deployed,
            Some("v2.4.1"),
            "production",
        ),
        (
            "service_upgraded.json",
            DeployKind::Upgraded,
            Some("v2.5.0"),
            "production",
        ),
        (
            "service_rolledback.json",
            DeployKind::RolledBack,
            Some("v2.4.1"),
            "production",
        ),
        (
            "service_removed.json",
            DeployKind::Removed,
            None,
            "production",
        ),
        (
            "service_published.json",
            DeployKind::Published,
            None,
            "production",
        ),
    ];
    for (file, kind, version, env) in cases {
        let bytes = std::fs::read(ex.join(file)).unwrap();
        let e = decode_bare(&bytes)
            .unwrap()
            .unwrap_or_else(|| panic!("{file} skipped"));
        assert_eq!(e.kind, kind, "{file}");
        assert_eq!(&*e.service, "checkout-api", "{file}");
        assert_eq!(&*e.environment, env, "{file}");
        assert_eq!(e.version.as_deref(), version, "{file}");
        assert_eq!(e.source, "/argocd/prod-eu-1", "{file}");
        assert!(
            e.id.starts_with("0b6a1c1e-8a39-4c51-9b3e-6f0d2f7d1a0"),
            "{file}"
        );
        assert_eq!(e.origin, ReleaseOrigin::CdEvent);
        assert_eq!(e.finished_at, None);
    }
    let deployed = decode_bare(&std::fs::read(ex.join("service_deployed.json")).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(
        deployed.at,
        Timestamp::parse_rfc3339("2026-08-20T14:27:05.315384Z").unwrap()
    );
    assert_eq!(deployed.at.nanos() % Timestamp::SECOND, 315_384_000);
    let artifact = deployed.artifact_id.as_deref().unwrap();
    assert!(
        artifact.starts_with("pkg:oci/checkout-api@sha256%3A0b31b1c0"),
        "{artifact}"
    );

    // The structured CloudEvent carries the same CDEvent: same result, with
    // or without the content-type header.
    let ce = std::fs::read(ex.join("ce_structured.json")).unwrap();
    assert_eq!(decode_bare(&ce).unwrap().as_ref(), Some(&deployed));
    let headers: [(&str, &[u8]); 1] = [(
        "content-type",
        b"application/cloudevents+json; charset=UTF-8",
    )];
    assert_eq!(
        decode_deploy_event(&ce, &headers).unwrap().as_ref(),
        Some(&deployed)
    );

    // Binary mode: the value is the CDEvent, attributes are ce_* headers.
    let raw = std::fs::read(ex.join("service_deployed.json")).unwrap();
    let headers: [(&str, &[u8]); 7] = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"0b6a1c1e-8a39-4c51-9b3e-6f0d2f7d1a01"),
        ("ce_source", b"/argocd/prod-eu-1"),
        ("ce_type", b"dev.cdevents.service.deployed.0.3.0"),
        ("ce_subject", b"shop/checkout-api"),
        ("ce_time", b"2026-08-20T14:27:05.315384Z"),
        ("content-type", b"application/json"),
    ];
    assert_eq!(
        decode_deploy_event(&raw, &headers).unwrap().as_ref(),
        Some(&deployed)
    );
}

#[test]
fn v04_fixtures_decode() {
    let e = decode_bare(&own_fixture("service_deployed_v04.json"))
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, DeployKind::Deployed);
    assert_eq!(&*e.service, "payment");
    assert_eq!(&*e.environment, "staging");
    assert_eq!(e.version.as_deref(), Some("1.5.0"));
    assert_eq!(e.id, "271069a8-fc18-44f1-b38f-9d70a1695819");
    assert_eq!(e.source, "/event/source/123");
    assert_eq!(
        e.at,
        Timestamp::parse_rfc3339("2023-03-20T14:27:05.315384Z").unwrap()
    );

    let e = decode_bare(&own_fixture("service_upgraded_v04.json"))
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, DeployKind::Upgraded);
    assert_eq!(
        e.version.as_deref(),
        Some("v1.6.0"),
        "non-oci purl: the purl version"
    );
    assert_eq!(
        e.at,
        Timestamp::parse_rfc3339("2023-03-21T07:02:11Z").unwrap(),
        "offset"
    );
    assert_eq!(&*e.environment, "production");

    // Type 0.2.1: another patch of the same major is accepted. An OCI purl
    // without a tag falls back to the digest.
    let e = decode_bare(&own_fixture("service_rolledback_v04.json"))
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, DeployKind::RolledBack);
    assert_eq!(
        e.version.as_deref(),
        Some("sha256:927aa808433d17e315a258b98e2f1a55f8258e0cb782ccb76280646d0dbe17b5")
    );

    // Removed without environment (the schema allows it): environment empty.
    let e = decode_bare(&own_fixture("service_removed_v04.json"))
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, DeployKind::Removed);
    assert_eq!(&*e.service, "payment");
    assert_eq!(&*e.environment, "");
    assert_eq!(e.version, None);

    let e = decode_bare(&own_fixture("service_published_v04.json"))
        .unwrap()
        .unwrap();
    assert_eq!(e.kind, DeployKind::Published);
}

#[test]
fn v04_in_binary_mode_with_uppercase_header_names() {
    let raw = own_fixture("service_upgraded_v04.json");
    let headers: [(&str, &[u8]); 2] = [
        ("CE_SPECVERSION", b"1.0"),
        ("ce_type", b"dev.cdevents.service.upgraded.0.2.0"),
    ];
    let e = decode_deploy_event(&raw, &headers).unwrap().unwrap();
    assert_eq!(e.kind, DeployKind::Upgraded);
    assert_eq!(e.id, "4e5f9a1b-0000-4000-8000-000000000002");
}

#[test]
fn http_binary_mode_uses_ce_dash_headers() {
    // The CloudEvents HTTP binding: `ce-` prefixes, a JSON content type.
    let raw = serde_json::to_vec(&base_v05()).unwrap();
    let headers: [(&str, &[u8]); 3] = [
        ("content-type", b"application/json"),
        ("ce-specversion", b"1.0"),
        ("Ce-Type", b"dev.cdevents.service.deployed.0.3.0"),
    ];
    let e = decode_deploy_event(&raw, &headers).unwrap().unwrap();
    assert_eq!(e.kind, DeployKind::Deployed);
    assert_eq!(e.version.as_deref(), Some("v2.4.1"));
    // The headers decide, not the body: an unsupported ce-type is skipped,
    // and a bad ce-specversion is an error.
    let other: [(&str, &[u8]); 1] = [("ce-type", b"dev.cdevents.taskrun.started.0.2.0")];
    assert_eq!(decode_deploy_event(&raw, &other), Ok(None));
    let bad: [(&str, &[u8]); 1] = [("ce-specversion", b"0.3")];
    assert!(matches!(
        decode_deploy_event(&raw, &bad),
        Err(DeployError::Envelope(_))
    ));
}

#[test]
fn structured_data_as_string_and_base64() {
    let data = serde_json::to_string(&base_v05()).unwrap();
    let as_string = json!({"specversion": "1.0", "id": "x", "source": "s",
        "type": "dev.cdevents.service.deployed.0.3.0", "data": data});
    let e = decode_bare(&serde_json::to_vec(&as_string).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(e.version.as_deref(), Some("v2.4.1"));
    assert_eq!(e.id, "evt-1", "the cdevent context is the dedup key");

    let b64 = base64_encode(data.as_bytes());
    let as_b64 = json!({"specversion": "1.0", "id": "x", "source": "s",
        "type": "dev.cdevents.service.deployed.0.3.0", "data_base64": b64});
    let e2 = decode_bare(&serde_json::to_vec(&as_b64).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(e, e2);
}

fn base64_encode(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn unknown_types_are_skipped_not_errors() {
    assert_eq!(
        decode_bare(&own_fixture("pipelinerun_started_v05.json")).unwrap(),
        None
    );
    for ty in [
        "dev.cdeventsx.acme.service.deployed.0.1.0",
        "dev.cdevents.service.deployed.1.0.0",
        "dev.cdevents.service.scaled.0.3.0",
        "dev.cdevents.environment.created.0.3.0",
    ] {
        let doc = with(base_v05(), "/context/type", Some(json!(ty)));
        assert_eq!(decode_bare(&doc).unwrap(), None, "{ty}");
    }
    // An unknown spec major is skipped too.
    let doc = with(base_v05(), "/context/specversion", Some(json!("1.0.0")));
    assert_eq!(decode_bare(&doc).unwrap(), None);
    // Binary mode with an unknown ce_type is skipped before the body is read.
    let headers: [(&str, &[u8]); 2] = [
        ("ce_specversion", b"1.0"),
        ("ce_type", b"dev.cdevents.taskrun.started.0.2.0"),
    ];
    assert_eq!(decode_deploy_event(b"not json", &headers).unwrap(), None);
    // Structured mode with an unknown type.
    let ce = json!({"specversion": "1.0", "id": "1", "source": "s",
        "type": "dev.cdeventsx.foo.bar.0.1.0", "data": {}});
    assert_eq!(
        decode_bare(&serde_json::to_vec(&ce).unwrap()).unwrap(),
        None
    );
}

#[test]
fn other_cloudevents_media_types_are_binary_mode() {
    // e.g. `application/cloudevents+avro`: treated as binary, value is the CDEvent.
    let raw = serde_json::to_vec(&base_v05()).unwrap();
    let headers: [(&str, &[u8]); 1] = [("Content-Type", b"application/cloudevents+avro")];
    let e = decode_deploy_event(&raw, &headers).unwrap().unwrap();
    assert_eq!(e.id, "evt-1");
    // Unrelated headers do not change the mode.
    let headers: [(&str, &[u8]); 2] = [
        ("traceparent", b"\xff"),
        ("content-type", b"application/json"),
    ];
    assert_eq!(
        decode_deploy_event(&raw, &headers).unwrap().unwrap().id,
        "evt-1"
    );
}

#[test]
fn service_name_is_last_subject_segment() {
    assert_eq!(service_from_subject("shop/checkout-api"), "checkout-api");
    assert_eq!(service_from_subject("checkout-api"), "checkout-api");
    assert_eq!(service_from_subject("a/b/c/"), "c");
    assert_eq!(service_from_subject(" daemonset/myapp "), "myapp");
    assert_eq!(service_from_subject("//"), "");
}
