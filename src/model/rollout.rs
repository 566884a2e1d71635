//! Releases as the release index tracks them: state, rollout timeline and the
//! changes it reports. Produced by the `release` stage, read by attribution, the
//! store and the API.

use std::sync::Arc;

use super::release::{ReleaseKey, ReleaseOrigin};
use super::time::Timestamp;

/// Where a release stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReleaseState {
    /// Exposure not yet seen, or the new version is on part of the instances
    /// and moving.
    Rolling,
    /// The new version is held on a minority of instances for several windows.
    Canary,
    /// The new version serves (nearly) all instances.
    Complete,
    /// Rolled back, by a `service.rolledback` event or because traffic returned
    /// to an earlier version.
    RolledBack,
    /// The service was removed from the environment (`service.removed`).
    Removed,
    /// A later release replaced this one before it completed.
    Superseded,
}

impl ReleaseState {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rolling => "rolling",
            Self::Canary => "canary",
            Self::Complete => "complete",
            Self::RolledBack => "rolled_back",
            Self::Removed => "removed",
            Self::Superseded => "superseded",
        }
    }

    /// Still rolling out or held as a canary.
    pub fn in_progress(self) -> bool {
        matches!(self, Self::Rolling | Self::Canary)
    }
}

/// Share of a service's instances and traffic on a release's version in one
/// window (both in `[0, 1]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TimelinePoint {
    /// Window start.
    pub at: Timestamp,
    /// Instances on the version / all instances with a version.
    pub instance_share: f64,
    /// Requests served by the version / all requests with a version.
    pub traffic_share: f64,
}

/// One release of a service version in an environment.
#[derive(Clone, Debug, PartialEq)]
pub struct Release {
    /// Service, environment, version.
    pub key: ReleaseKey,
    /// Id of the deployment event (CDEvents `context.id`, the plain form's
    /// `id`); `None` for an implicit release.
    pub deployment_id: Option<String>,
    /// The event's artifact id (purl), when it had one.
    pub artifact_id: Option<String>,
    /// Explicit (event) or implicit (seen in spans). An implicit release that
    /// an event later confirmed takes the event's origin.
    pub origin: ReleaseOrigin,
    /// The deployment event's time; for an implicit release, the start of the
    /// window the version first appeared in.
    pub started_at: Timestamp,
    /// Start of the first window in which spans showed the version; `None`
    /// until then.
    pub exposure_start: Option<Timestamp>,
    /// Start of the first window in which the version served (nearly) all
    /// instances.
    pub completed_at: Option<Timestamp>,
    /// When it was rolled back (event time, or the first window of absence).
    pub rolled_back_at: Option<Timestamp>,
    /// The version it was rolled back to, when known.
    pub rolled_back_to: Option<Arc<str>>,
    /// The version running before this release, when known.
    pub previous_version: Option<Arc<str>>,
    /// Current state.
    pub state: ReleaseState,
    /// Share over time (bounded; older points are thinned, see the `release` stage).
    pub timeline: Vec<TimelinePoint>,
}

impl Release {
    /// When exposure began, else when the release started.
    pub fn exposure_or_start(&self) -> Timestamp {
        self.exposure_start.unwrap_or(self.started_at)
    }
}

/// Why a release was marked rolled back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RollbackCause {
    /// A `service.rolledback` event (or plain form with kind `rolledback`).
    Event,
    /// Traffic returned to an earlier version.
    Traffic,
}

/// What changed about a release.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangeKind {
    /// A new release: from an event, or implicit (a new version in spans).
    Detected {
        /// How it was learned.
        origin: ReleaseOrigin,
    },
    /// An event confirmed a release already known (e.g. an implicit one).
    Merged {
        /// The event's origin.
        origin: ReleaseOrigin,
    },
    /// Spans showed the version of an announced release for the first time.
    ExposureStarted,
    /// The rollout moved by at least the configured step.
    Progress {
        /// Instance share now.
        instance_share: f64,
        /// Traffic share now.
        traffic_share: f64,
    },
    /// The version is held on a minority of instances: a canary.
    Canary {
        /// Instance share now.
        instance_share: f64,
        /// Traffic share now.
        traffic_share: f64,
    },
    /// The version serves (nearly) all instances.
    Completed,
    /// The release was rolled back.
    RolledBack {
        /// The version now running, when known.
        to: Option<Arc<str>>,
        /// Event or traffic.
        cause: RollbackCause,
    },
    /// The service was removed (`service.removed`); the key's version is the
    /// last one known, possibly empty.
    Removed,
}

impl ChangeKind {
    /// Stable snake_case name (metrics label, logs).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Detected { .. } => "detected",
            Self::Merged { .. } => "merged",
            Self::ExposureStarted => "exposure_started",
            Self::Progress { .. } => "progress",
            Self::Canary { .. } => "canary",
            Self::Completed => "completed",
            Self::RolledBack { .. } => "rolled_back",
            Self::Removed => "removed",
        }
    }
}

/// One change the release index reports, in event time.
#[derive(Clone, Debug, PartialEq)]
pub struct ReleaseChange {
    /// The release.
    pub key: ReleaseKey,
    /// When it happened (event time or window start).
    pub at: Timestamp,
    /// What happened.
    pub kind: ChangeKind,
}
