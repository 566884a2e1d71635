//! CDEvents `service.*` events, spec v0.4.x (`context.version`, types
//! `.0.2.0`) and v0.5.x (`context.specversion`, types `.0.3.0`), parsed
//! leniently: any minor/patch of type major 0 and of spec major 0 is
//! accepted, `subject.type`, `schemaUri`, `chainId`, `links` and
//! `customData` are ignored.
//!
//! Never does: envelope handling (see `envelope.rs`) or I/O.

use std::str::FromStr;
use std::sync::Arc;

use packageurl::PackageUrl;
use serde_json::{Map, Value};

use super::{DeployError, clip, opt_str, req_str, req_time};
use crate::model::{DeployEvent, DeployKind, ReleaseOrigin};

/// What an event type string means to us.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TypeClass {
    /// A service event we handle.
    Service(DeployKind),
    /// A CDEvents (or extension) type we skip.
    Unknown,
}

/// Classifies `dev.cdevents.<subject>.<predicate>.<major>.<minor>.<patch>`.
///
/// `dev.cdeventsx.*` and CDEvents types other than `service.{deployed,
/// upgraded, rolledback, removed, published}` with major 0 are
/// [`TypeClass::Unknown`]; a type outside both namespaces, or one without a
/// numeric `M.m.p` suffix, is an error.
pub(super) fn classify_type(ty: &str) -> Result<TypeClass, DeployError> {
    if ty.starts_with("dev.cdeventsx.") {
        return Ok(TypeClass::Unknown);
    }
    let Some(rest) = ty.strip_prefix("dev.cdevents.") else {
        return Err(DeployError::EventType(clip(ty)));
    };
    let parts: Vec<&str> = rest.split('.').collect();
    let n = parts.len();
    if n < 5
        || !parts[n - 3..]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DeployError::EventType(clip(ty)));
    }
    if parts[n - 3] != "0" || n != 5 || parts[0] != "service" {
        return Ok(TypeClass::Unknown);
    }
    let kind = match parts[1] {
        "deployed" => DeployKind::Deployed,
        "upgraded" => DeployKind::Upgraded,
        "rolledback" => DeployKind::RolledBack,
        "removed" => DeployKind::Removed,
        "published" => DeployKind::Published,
        _ => return Ok(TypeClass::Unknown),
    };
    Ok(TypeClass::Service(kind))
}

/// The service name for a `subject.id`: its last non-empty `/`-separated
/// segment (`shop/checkout-api` → `checkout-api`, `checkout-api` →
/// `checkout-api`), trimmed. Empty when the id has no non-empty segment.
pub fn service_from_subject(subject_id: &str) -> &str {
    subject_id
        .split('/')
        .map(str::trim)
        .rfind(|s| !s.is_empty())
        .unwrap_or("")
}

/// Decodes a bare CDEvent (`context` + `subject`).
pub(super) fn decode(map: &Map<String, Value>) -> Result<Option<DeployEvent>, DeployError> {
    let context = object(map, "context", "context")?;
    let ty = req_str(context, "type", "context.type")?;
    let kind = match classify_type(ty)? {
        TypeClass::Service(kind) => kind,
        TypeClass::Unknown => return Ok(None),
    };
    let spec = match opt_str(context, "specversion", "context.specversion")? {
        Some(v) => v,
        None => req_str(context, "version", "context.specversion")?,
    };
    match spec_major(spec) {
        Some(0) => {}
        Some(_) => return Ok(None),
        None => {
            return Err(DeployError::Invalid {
                field: "context.specversion",
                expected: "a version like 0.5.1",
            });
        }
    }
    let id = req_str(context, "id", "context.id")?;
    let source = req_str(context, "source", "context.source")?;
    let at = req_time(context, "timestamp", "context.timestamp")?;

    let subject = object(map, "subject", "subject")?;
    let subject_id = req_str(subject, "id", "subject.id")?;
    let service = service_from_subject(subject_id);
    if service.is_empty() {
        return Err(DeployError::Invalid {
            field: "subject.id",
            expected: "a service name",
        });
    }
    let content = object(subject, "content", "subject.content")?;
    let needs_artifact = matches!(
        kind,
        DeployKind::Deployed | DeployKind::Upgraded | DeployKind::RolledBack
    );

    let environment = match content.get("environment") {
        None | Some(Value::Null) if !needs_artifact => "",
        None | Some(Value::Null) => {
            return Err(DeployError::Missing("subject.content.environment"));
        }
        Some(Value::Object(env)) => req_str(env, "id", "subject.content.environment.id")?,
        Some(_) => {
            return Err(DeployError::Invalid {
                field: "subject.content.environment",
                expected: "an object",
            });
        }
    };

    let artifact = opt_str(content, "artifactId", "subject.content.artifactId")?;
    let version = match artifact {
        Some(purl) => Some(version_from_purl(purl)?),
        None if needs_artifact => return Err(DeployError::Missing("subject.content.artifactId")),
        None => None,
    };

    Ok(Some(DeployEvent {
        id: id.to_owned(),
        source: source.to_owned(),
        kind,
        service: Arc::from(service),
        environment: Arc::from(environment.trim()),
        version: version.map(Arc::from),
        artifact_id: artifact.map(str::to_owned),
        at,
        finished_at: None,
        origin: ReleaseOrigin::CdEvent,
    }))
}

/// The version a purl designates: the `tag` qualifier of a `pkg:oci` purl,
/// else the purl version (for OCI without a tag, the digest).
pub(super) fn version_from_purl(purl: &str) -> Result<String, DeployError> {
    let parsed = PackageUrl::from_str(purl.trim()).map_err(|e| DeployError::Purl {
        value: clip(purl),
        reason: e.to_string(),
    })?;
    if parsed.ty() == "oci"
        && let Some(tag) = parsed.qualifiers().get("tag")
        && !tag.trim().is_empty()
    {
        return Ok(tag.trim().to_owned());
    }
    match parsed.version() {
        Some(v) if !v.trim().is_empty() => Ok(v.trim().to_owned()),
        _ => Err(DeployError::Purl {
            value: clip(purl),
            reason: "no version".to_owned(),
        }),
    }
}

/// The major of a spec version string such as `0.5.1`; None when not numeric.
fn spec_major(spec: &str) -> Option<u64> {
    let mut parts = spec.trim().split('.');
    let major = parts.next()?.parse::<u64>().ok()?;
    for p in parts {
        // Tolerate pre-release suffixes like `0.5.0-draft` on the last part.
        let digits = p.split(['-', '+']).next().unwrap_or("");
        digits.parse::<u64>().ok()?;
    }
    Some(major)
}

fn object<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'a Map<String, Value>, DeployError> {
    match map.get(key) {
        None | Some(Value::Null) => Err(DeployError::Missing(field)),
        Some(Value::Object(m)) => Ok(m),
        Some(_) => Err(DeployError::Invalid {
            field,
            expected: "an object",
        }),
    }
}
