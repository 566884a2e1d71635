//! Releases: deployment events (explicit) and versions seen in spans (implicit).

use std::sync::Arc;

use super::time::Timestamp;

/// What a deployment event says happened (CDEvents `service.*` predicates).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum DeployKind {
    /// A new instance of a service was deployed (`service.deployed`).
    Deployed,
    /// An existing instance was upgraded (`service.upgraded`).
    Upgraded,
    /// An existing instance was rolled back to a previous version (`service.rolledback`).
    RolledBack,
    /// The service was removed from the environment (`service.removed`).
    Removed,
    /// The service became reachable (`service.published`); informational.
    Published,
}

impl DeployKind {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deployed => "deployed",
            Self::Upgraded => "upgraded",
            Self::RolledBack => "rolledback",
            Self::Removed => "removed",
            Self::Published => "published",
        }
    }
}

/// How Epicenter learned about a release.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum ReleaseOrigin {
    /// A CDEvent (structured or CloudEvents binary mode).
    CdEvent,
    /// The plain JSON form or `POST /api/v1/deployments`.
    Plain,
    /// A new `service.version` seen in spans, with no event.
    Implicit,
}

impl ReleaseOrigin {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CdEvent => "cdevent",
            Self::Plain => "plain",
            Self::Implicit => "implicit",
        }
    }
}

/// One deployment event, normalized.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeployEvent {
    /// Event id (CDEvents `context.id`); with `source`, the dedup key.
    pub id: String,
    /// Event source (CDEvents `context.source`); empty for the plain form.
    pub source: String,
    /// What happened.
    pub kind: DeployKind,
    /// Service name (`subject.id`, mapped to `service.name`).
    pub service: Arc<str>,
    /// Environment (`subject.content.environment.id`).
    pub environment: Arc<str>,
    /// Version: the `tag` qualifier of a `pkg:oci` purl, else the purl version.
    pub version: Option<Arc<str>>,
    /// The artifact id (purl) as sent; for OCI, the digest stays here.
    pub artifact_id: Option<String>,
    /// When the rollout started (event timestamp), event time.
    pub at: Timestamp,
    /// When the rollout finished, if known.
    pub finished_at: Option<Timestamp>,
    /// How we learned about it.
    pub origin: ReleaseOrigin,
}

/// Identity of a release: a version of a service in an environment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReleaseKey {
    /// Service name.
    pub service: Arc<str>,
    /// Environment, or empty when unknown.
    pub environment: Arc<str>,
    /// Version.
    pub version: Arc<str>,
}
