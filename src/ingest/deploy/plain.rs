//! The plain JSON deployment form (also the body of `POST /api/v1/deployments`):
//!
//! ```json
//! {"service": "checkout-api", "version": "v2.5.0", "environment": "production",
//!  "started_at": "2026-08-21T09:02:11Z", "finished_at": "2026-08-21T09:05:00Z",
//!  "id": "deploy-1234", "kind": "upgraded", "artifact_id": "pkg:oci/...", ...}
//! ```
//!
//! * required: `service`, `started_at` (RFC 3339), and a version (`version`,
//!   or a purl in `artifact_id`) unless `kind` is `removed` or `published`;
//! * optional: `environment` (default empty), `finished_at` (not before
//!   `started_at`), `kind` (`deployed` default, `upgraded`, `rolledback`,
//!   `removed`, `published`), `artifact_id`, `id`;
//! * `id` defaults to `<service>/<environment>/<version>/<started_at ns>` so a
//!   re-sent form without id is still deduplicated; the source is always `""`;
//! * other fields are ignored.
//!
//! Never does: I/O.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::cdevent::version_from_purl;
use super::{DeployError, opt_str, parse_time, req_str, req_time};
use crate::model::{DeployEvent, DeployKind, ReleaseOrigin};

/// Decodes the plain form.
pub(super) fn decode(map: &Map<String, Value>) -> Result<DeployEvent, DeployError> {
    let service = req_str(map, "service", "service")?.trim();
    let kind = match opt_str(map, "kind", "kind")? {
        None => DeployKind::Deployed,
        Some(k) => parse_kind(k)?,
    };
    let environment = opt_str(map, "environment", "environment")?
        .unwrap_or("")
        .trim();
    let at = req_time(map, "started_at", "started_at")?;
    let finished_at = match opt_str(map, "finished_at", "finished_at")? {
        None => None,
        Some(text) => {
            let t = parse_time(text, "finished_at")?;
            if t < at {
                return Err(DeployError::Invalid {
                    field: "finished_at",
                    expected: "not before started_at",
                });
            }
            Some(t)
        }
    };
    let artifact = opt_str(map, "artifact_id", "artifact_id")?;
    let version = match (opt_str(map, "version", "version")?, artifact) {
        (Some(v), _) => Some(v.trim().to_owned()),
        (None, Some(purl)) => Some(version_from_purl(purl)?),
        (None, None) => None,
    };
    let needs_version = matches!(
        kind,
        DeployKind::Deployed | DeployKind::Upgraded | DeployKind::RolledBack
    );
    if needs_version && version.is_none() {
        return Err(DeployError::Missing("version"));
    }
    let id = match map.get("id") {
        None | Some(Value::Null) => format!(
            "{service}/{environment}/{}/{}",
            version.as_deref().unwrap_or(""),
            at.nanos()
        ),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(DeployError::Invalid {
                field: "id",
                expected: "a non-empty string",
            });
        }
    };
    Ok(DeployEvent {
        id,
        source: String::new(),
        kind,
        service: Arc::from(service),
        environment: Arc::from(environment),
        version: version.map(Arc::from),
        artifact_id: artifact.map(str::to_owned),
        at,
        finished_at,
        origin: ReleaseOrigin::Plain,
    })
}

fn parse_kind(text: &str) -> Result<DeployKind, DeployError> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "deployed" | "deploy" => DeployKind::Deployed,
        "upgraded" | "upgrade" => DeployKind::Upgraded,
        "rolledback" | "rollback" | "rolled_back" => DeployKind::RolledBack,
        "removed" | "remove" => DeployKind::Removed,
        "published" | "publish" => DeployKind::Published,
        _ => {
            return Err(DeployError::Invalid {
                field: "kind",
                expected: "one of deployed, upgraded, rolledback, removed, published",
            });
        }
    })
}
