//! The release index state and deployment-event handling
//! ([`ReleaseIndex::apply_event`]). Window observation lives in `rollout.rs`,
//! read-only queries in `queries.rs`.
//!
//! Never does: I/O, clock reads, metrics; nothing here iterates a hash map.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config::Settings;
use super::dedup::Dedup;
use crate::model::{
    ChangeKind, DeployEvent, DeployKind, Release, ReleaseChange, ReleaseKey, ReleaseState,
    RollbackCause, Timestamp,
};

/// (environment, service): one tracked service. Environment first so that a
/// range scan lists one environment.
pub(super) type ServiceKey = (Arc<str>, Arc<str>);

/// When spans showed a version.
#[derive(Clone, Copy, Debug)]
pub(super) struct VersionSeen {
    pub(super) first_seen: Timestamp,
    pub(super) last_seen: Timestamp,
}

/// Rollout recognition state for the tracked release of a service.
#[derive(Clone, Debug, Default)]
pub(super) struct Tracker {
    /// (version, started_at) of the release tracked; a change resets the rest.
    pub(super) identity: Option<(Arc<str>, Timestamp)>,
    pub(super) absent_windows: u32,
    pub(super) absent_since: Option<Timestamp>,
    pub(super) canary_windows: u32,
    pub(super) canary_anchor: f64,
    pub(super) last_reported: f64,
}

/// Everything known about one (service, environment).
#[derive(Debug, Default)]
pub(super) struct ServiceState {
    /// Sorted by `started_at`; equal times keep arrival order. Bounded.
    pub(super) releases: Vec<Release>,
    /// Versions spans have shown. Bounded.
    pub(super) versions: BTreeMap<Arc<str>, VersionSeen>,
    /// The version with the largest share in the last window.
    pub(super) dominant: Option<Arc<str>>,
    /// Windows with traffic seen (saturating), for the baseline period.
    pub(super) windows_seen: u32,
    /// Start of the last window that had traffic for this service.
    pub(super) last_window: Option<Timestamp>,
    /// Set by `service.removed`; cleared by later traffic or a deploy.
    pub(super) retired_at: Option<Timestamp>,
    /// Latest event or window time (for eviction).
    pub(super) last_activity: Timestamp,
    pub(super) tracker: Tracker,
}

/// Why a deployment event changed nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IgnoreReason {
    /// A deploy/upgrade without a version.
    NoVersion,
    /// `service.published`: informational only.
    Informational,
    /// The version was already running well before the event (a restart or
    /// scale-out), or is the target of a rollback already recorded.
    AlreadyRunning,
    /// A rollback or removal for a service with no release to act on.
    NothingToRollBack,
    /// The release was already rolled back (e.g. seen in traffic first).
    AlreadyRolledBack,
}

impl IgnoreReason {
    /// Stable snake_case name (metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoVersion => "no_version",
            Self::Informational => "informational",
            Self::AlreadyRunning => "already_running",
            Self::NothingToRollBack => "nothing_to_roll_back",
            Self::AlreadyRolledBack => "already_rolled_back",
        }
    }
}

/// What [`ReleaseIndex::apply_event`] did with an event.
#[derive(Clone, Debug, PartialEq)]
pub enum EventOutcome {
    /// Same (source, id) as an event already applied: dropped.
    Duplicate,
    /// Applied; the changes it caused (at least one).
    Applied(Vec<ReleaseChange>),
    /// Valid but changed nothing.
    Ignored(IgnoreReason),
}

/// Releases per (service, environment), from deployment events and from the
/// versions spans show. See the module doc of `crate::release`.
#[derive(Debug)]
pub struct ReleaseIndex {
    pub(super) settings: Settings,
    pub(super) dedup: Dedup,
    pub(super) services: BTreeMap<ServiceKey, ServiceState>,
}

impl ReleaseIndex {
    /// An empty index.
    pub fn new(settings: Settings) -> Self {
        Self {
            dedup: Dedup::new(settings.dedup_capacity),
            settings,
            services: BTreeMap::new(),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Applies one deployment event: dedup by (source, id), then deploy/upgrade
    /// opens (or confirms) a release, rolledback marks the release it undoes,
    /// removed retires the service, published is informational.
    pub fn apply_event(&mut self, event: &DeployEvent) -> EventOutcome {
        if !self.dedup.insert(&event.source, &event.id) {
            return EventOutcome::Duplicate;
        }
        let skey: ServiceKey = (event.environment.clone(), event.service.clone());
        match event.kind {
            DeployKind::Published => EventOutcome::Ignored(IgnoreReason::Informational),
            DeployKind::Deployed | DeployKind::Upgraded => match &event.version {
                Some(v) if !v.is_empty() => self.apply_deploy(skey, v.clone(), event),
                _ => EventOutcome::Ignored(IgnoreReason::NoVersion),
            },
            DeployKind::RolledBack => self.apply_rollback(&skey, event),
            DeployKind::Removed => self.apply_removed(skey, event),
        }
    }

    fn apply_deploy(
        &mut self,
        skey: ServiceKey,
        version: Arc<str>,
        event: &DeployEvent,
    ) -> EventOutcome {
        let tol = self.settings.merge_tolerance_nanos;
        let settings = self.settings.clone();
        let st = state_mut(&mut self.services, &settings, skey, event.at);
        if st.retired_at.is_some_and(|r| event.at > r) {
            st.retired_at = None;
        }
        // (a) the same release within the tolerance, (b) the latest release.
        let same = st.releases.iter().rposition(|r| {
            r.key.version == version
                && r.state != ReleaseState::Removed
                && r.rolled_back_at.is_none_or(|rb| event.at <= rb)
                && r.exposure_or_start().nanos().abs_diff(event.at.nanos()) <= tol
        });
        let latest_same = st.releases.last().is_some_and(|r| {
            r.key.version == version
                && !matches!(r.state, ReleaseState::RolledBack | ReleaseState::Removed)
        });
        if let Some(idx) = same.or(latest_same.then(|| st.releases.len() - 1)) {
            let change = merge(st, idx, event);
            return EventOutcome::Applied(vec![change]);
        }
        // (c) already running: a restart, a scale-out, or the rollback target.
        let mut exposure = None;
        if let Some(seen) = st.versions.get(&version)
            && st.last_window.is_some_and(|w| seen.last_seen == w)
        {
            let rollback_target = st.releases.last().is_some_and(|r| {
                r.state == ReleaseState::RolledBack && r.rolled_back_to.as_ref() == Some(&version)
            });
            if rollback_target || seen.first_seen.nanos().saturating_add(tol) < event.at.nanos() {
                return EventOutcome::Ignored(IgnoreReason::AlreadyRunning);
            }
            exposure = Some(seen.first_seen);
        }
        // (d) a new release.
        let release = Release {
            key: ReleaseKey {
                service: event.service.clone(),
                environment: event.environment.clone(),
                version,
            },
            deployment_id: Some(event.id.clone()),
            artifact_id: event.artifact_id.clone(),
            origin: event.origin,
            started_at: event.at,
            exposure_start: exposure,
            completed_at: None,
            rolled_back_at: None,
            rolled_back_to: None,
            previous_version: None,
            state: ReleaseState::Rolling,
            timeline: Vec::new(),
        };
        let key = release.key.clone();
        let idx = insert_release(st, release, &settings);
        if exposure.is_some() {
            supersede_before(st, idx);
        }
        EventOutcome::Applied(vec![ReleaseChange {
            key,
            at: event.at,
            kind: ChangeKind::Detected {
                origin: event.origin,
            },
        }])
    }

    fn apply_rollback(&mut self, skey: &ServiceKey, event: &DeployEvent) -> EventOutcome {
        let tol = self.settings.merge_tolerance_nanos;
        let Some(st) = self.services.get_mut(skey) else {
            return EventOutcome::Ignored(IgnoreReason::NothingToRollBack);
        };
        st.last_activity = st.last_activity.max(event.at);
        let target = event.version.clone();
        // The latest release (not for the target version) started by then.
        let limit = event.at.plus_nanos(tol);
        let Some(idx) = st
            .releases
            .iter()
            .rposition(|r| r.started_at <= limit && Some(&r.key.version) != target.as_ref())
        else {
            return EventOutcome::Ignored(IgnoreReason::NothingToRollBack);
        };
        let release = &mut st.releases[idx];
        match release.state {
            ReleaseState::RolledBack => {
                if release.rolled_back_to.is_none() {
                    release.rolled_back_to = target;
                }
                EventOutcome::Ignored(IgnoreReason::AlreadyRolledBack)
            }
            ReleaseState::Removed => EventOutcome::Ignored(IgnoreReason::NothingToRollBack),
            _ => {
                release.state = ReleaseState::RolledBack;
                release.rolled_back_at = Some(event.at);
                release.rolled_back_to = target.or_else(|| release.previous_version.clone());
                EventOutcome::Applied(vec![ReleaseChange {
                    key: release.key.clone(),
                    at: event.at,
                    kind: ChangeKind::RolledBack {
                        to: release.rolled_back_to.clone(),
                        cause: RollbackCause::Event,
                    },
                }])
            }
        }
    }

    fn apply_removed(&mut self, skey: ServiceKey, event: &DeployEvent) -> EventOutcome {
        let settings = self.settings.clone();
        let st = state_mut(&mut self.services, &settings, skey, event.at);
        st.retired_at = Some(st.retired_at.map_or(event.at, |r| r.max(event.at)));
        let key = match st.releases.last_mut() {
            Some(r) => {
                if r.state != ReleaseState::RolledBack {
                    r.state = ReleaseState::Removed;
                }
                r.key.clone()
            }
            None => ReleaseKey {
                service: event.service.clone(),
                environment: event.environment.clone(),
                version: st.dominant.clone().unwrap_or_else(|| Arc::from("")),
            },
        };
        EventOutcome::Applied(vec![ReleaseChange {
            key,
            at: event.at,
            kind: ChangeKind::Removed,
        }])
    }
}

/// Gets or creates a service's state, evicting the least recently active
/// service when full.
pub(super) fn state_mut<'a>(
    services: &'a mut BTreeMap<ServiceKey, ServiceState>,
    settings: &Settings,
    skey: ServiceKey,
    at: Timestamp,
) -> &'a mut ServiceState {
    if !services.contains_key(&skey) && services.len() >= settings.max_services {
        let oldest = services
            .iter()
            .min_by(|a, b| {
                a.1.last_activity
                    .cmp(&b.1.last_activity)
                    .then_with(|| a.0.cmp(b.0))
            })
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            services.remove(&k);
        }
    }
    let st = services.entry(skey).or_default();
    st.last_activity = st.last_activity.max(at);
    st
}

/// An event confirms an existing release: it takes the event's identity.
fn merge(st: &mut ServiceState, idx: usize, event: &DeployEvent) -> ReleaseChange {
    let release = &mut st.releases[idx];
    if release.origin == crate::model::ReleaseOrigin::Implicit {
        release.origin = event.origin;
        release.started_at = event.at;
    }
    if release.deployment_id.is_none() {
        release.deployment_id = Some(event.id.clone());
    }
    if release.artifact_id.is_none() {
        release.artifact_id = event.artifact_id.clone();
    }
    let change = ReleaseChange {
        key: release.key.clone(),
        at: event.at,
        kind: ChangeKind::Merged {
            origin: event.origin,
        },
    };
    // started_at may have moved: keep the order (stable).
    st.releases.sort_by_key(|r| r.started_at);
    change
}

/// Inserts in `started_at` order, fills `previous_version`, fixes the
/// successor's `previous_version`, enforces the per-service cap. Returns the
/// release's index after the cap.
pub(super) fn insert_release(
    st: &mut ServiceState,
    mut release: Release,
    settings: &Settings,
) -> usize {
    let at = release.started_at;
    let pos = st.releases.partition_point(|r| r.started_at <= at);
    if release.previous_version.is_none() {
        release.previous_version = if pos > 0 {
            Some(version_after(&st.releases[pos - 1]))
        } else if let Some(next) = st.releases.first() {
            next.previous_version.clone()
        } else {
            st.dominant.clone()
        };
    }
    if release.previous_version.as_ref() == Some(&release.key.version) {
        release.previous_version = None;
    }
    // A later release already exposed: this one was replaced before we knew it.
    if st.releases[pos..]
        .iter()
        .any(|r| r.exposure_start.is_some())
        && release.state.in_progress()
    {
        release.state = ReleaseState::Superseded;
    }
    let version = release.key.version.clone();
    let prev = release.previous_version.clone();
    st.releases.insert(pos, release);
    if let Some(next) = st.releases.get_mut(pos + 1)
        && next.previous_version == prev
        && next.key.version != version
    {
        next.previous_version = Some(version);
    }
    let mut idx = pos;
    while st.releases.len() > settings.max_releases_per_service {
        st.releases.remove(0);
        idx = idx.saturating_sub(1);
    }
    idx
}

/// The version running after a release: its own, or the one it was rolled back to.
fn version_after(r: &Release) -> Arc<str> {
    match (&r.state, &r.rolled_back_to, &r.previous_version) {
        (ReleaseState::RolledBack, Some(to), _) | (ReleaseState::RolledBack, None, Some(to)) => {
            to.clone()
        }
        _ => r.key.version.clone(),
    }
}

/// A release became exposed: earlier ones still in progress are superseded.
pub(super) fn supersede_before(st: &mut ServiceState, idx: usize) {
    for r in &mut st.releases[..idx] {
        if r.state.in_progress() {
            r.state = ReleaseState::Superseded;
        }
    }
}
