//! Window observation ([`ReleaseIndex::observe_window`]): versions seen in
//! `SeriesKey::ServiceVersion` series become exposure of announced releases
//! or implicit releases, and the share of instances and traffic on the
//! tracked release's version drives its state.
//!
//! Share: instances on a version / instances with any non-empty version; when
//! a window reports no instance counts, the traffic share stands in. Series
//! with an empty version are ignored (they cannot be attributed).
//!
//! Never does: I/O, clock reads; windows are assumed to close in order, and a
//! window not after the last one seen for a service is ignored for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::config::Settings;
use super::index::{
    ReleaseIndex, ServiceKey, ServiceState, VersionSeen, insert_release, state_mut,
    supersede_before,
};
use crate::model::{
    ChangeKind, Release, ReleaseChange, ReleaseKey, ReleaseOrigin, ReleaseState, RollbackCause,
    SeriesKey, TimelinePoint, Timestamp, WindowStats,
};

/// One version's numbers in one window.
#[derive(Clone, Copy, Debug, Default)]
struct VersionLoad {
    requests: u64,
    instances: u64,
}

/// Shares of one version in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Share {
    instance: f64,
    traffic: f64,
    /// The share decisions use: instance share, or traffic share when the
    /// window has no instance counts.
    effective: f64,
}

impl ReleaseIndex {
    /// Observes one closed window and reports what changed, in a
    /// deterministic order (by environment, service, then detection order).
    pub fn observe_window(&mut self, window: &WindowStats) -> Vec<ReleaseChange> {
        let mut groups: BTreeMap<ServiceKey, BTreeMap<Arc<str>, VersionLoad>> = BTreeMap::new();
        for (key, stats) in &window.series {
            let SeriesKey::ServiceVersion {
                environment,
                service,
                version,
            } = key
            else {
                continue;
            };
            if version.is_empty() || (stats.requests == 0 && stats.instances == 0) {
                continue;
            }
            let load = groups
                .entry((environment.clone(), service.clone()))
                .or_default()
                .entry(version.clone())
                .or_default();
            load.requests += stats.requests;
            load.instances += u64::from(stats.instances);
        }
        let mut changes = Vec::new();
        let settings = self.settings.clone();
        for (skey, loads) in groups {
            let st = state_mut(&mut self.services, &settings, skey.clone(), window.start);
            observe_service(st, &skey, &loads, window, &settings, &mut changes);
        }
        changes
    }
}

fn shares_of(loads: &BTreeMap<Arc<str>, VersionLoad>) -> BTreeMap<Arc<str>, Share> {
    let total_inst: u64 = loads.values().map(|l| l.instances).sum();
    let total_req: u64 = loads.values().map(|l| l.requests).sum();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    loads
        .iter()
        .map(|(v, l)| {
            let instance = ratio(l.instances, total_inst);
            let traffic = ratio(l.requests, total_req);
            let effective = if total_inst > 0 { instance } else { traffic };
            (
                v.clone(),
                Share {
                    instance,
                    traffic,
                    effective,
                },
            )
        })
        .collect()
}

/// The version with the largest effective share (ties: the smallest name).
fn top_version<'a>(
    shares: &'a BTreeMap<Arc<str>, Share>,
    except: Option<&Arc<str>>,
) -> Option<&'a Arc<str>> {
    let mut best: Option<(&Arc<str>, f64)> = None;
    for (v, s) in shares {
        if Some(v) == except {
            continue;
        }
        if best.is_none_or(|(_, b)| s.effective > b) {
            best = Some((v, s.effective));
        }
    }
    best.map(|(v, _)| v)
}

fn observe_service(
    st: &mut ServiceState,
    skey: &ServiceKey,
    loads: &BTreeMap<Arc<str>, VersionLoad>,
    window: &WindowStats,
    settings: &Settings,
    changes: &mut Vec<ReleaseChange>,
) {
    if st.last_window.is_some_and(|w| window.start <= w) {
        return;
    }
    let tol = settings.merge_tolerance_nanos;
    let shares = shares_of(loads);
    if st
        .retired_at
        .is_some_and(|r| window.start.nanos() > r.nanos().saturating_add(tol))
    {
        st.retired_at = None;
    }
    let in_baseline = st.windows_seen < settings.baseline_windows;
    st.windows_seen = st.windows_seen.saturating_add(1);
    let prev_dominant = st.dominant.clone();

    let mut new_versions = Vec::new();
    for v in shares.keys() {
        match st.versions.get_mut(v) {
            Some(seen) => seen.last_seen = window.start,
            None => {
                new_versions.push(v.clone());
                st.versions.insert(
                    v.clone(),
                    VersionSeen {
                        first_seen: window.start,
                        last_seen: window.start,
                    },
                );
            }
        }
    }
    evict_versions(st, settings.max_versions_per_service, window.start);

    // Announced releases whose version shows up within the tolerance of the
    // event: exposure starts (later than that, it is an implicit release).
    let mut exposed_now = Vec::new();
    for (idx, r) in st.releases.iter_mut().enumerate() {
        // A rollback known ahead of time (events applied before the windows,
        // as in replay) does not stop exposure before it happened.
        let rolled_back_by_now = r.rolled_back_at.is_some_and(|rb| window.start >= rb);
        if r.exposure_start.is_some()
            || r.state == ReleaseState::Removed
            || rolled_back_by_now
            || !shares.contains_key(&r.key.version)
            || r.started_at.nanos() > window.end.nanos().saturating_add(tol)
            || window.start.nanos() > r.started_at.nanos().saturating_add(tol)
        {
            continue;
        }
        r.exposure_start = Some(window.start);
        if r.previous_version.is_none() {
            r.previous_version = prev_dominant
                .clone()
                .filter(|d| *d != r.key.version)
                .or_else(|| top_version(&shares, Some(&r.key.version)).cloned());
        }
        changes.push(ReleaseChange {
            key: r.key.clone(),
            at: window.start,
            kind: ChangeKind::ExposureStarted,
        });
        exposed_now.push(idx);
    }
    if let Some(&last) = exposed_now.last() {
        supersede_before(st, last);
    }

    // A version never seen before (after the baseline windows), with no
    // event: an implicit release.
    if !in_baseline {
        for v in new_versions {
            if st
                .releases
                .iter()
                .any(|r| r.key.version == v && r.exposure_start == Some(window.start))
            {
                continue;
            }
            let release = Release {
                key: ReleaseKey {
                    service: skey.1.clone(),
                    environment: skey.0.clone(),
                    version: v,
                },
                deployment_id: None,
                artifact_id: None,
                origin: ReleaseOrigin::Implicit,
                started_at: window.start,
                exposure_start: Some(window.start),
                completed_at: None,
                rolled_back_at: None,
                rolled_back_to: None,
                previous_version: prev_dominant.clone(),
                state: ReleaseState::Rolling,
                timeline: Vec::new(),
            };
            let key = release.key.clone();
            let idx = insert_release(st, release, settings);
            supersede_before(st, idx);
            changes.push(ReleaseChange {
                key,
                at: window.start,
                kind: ChangeKind::Detected {
                    origin: ReleaseOrigin::Implicit,
                },
            });
        }
    }

    if st.retired_at.is_none() {
        track(st, &shares, window.start, settings, changes);
    }
    st.dominant = top_version(&shares, None).cloned();
    st.last_window = Some(window.start);
}

/// Drops the least recently seen versions beyond the cap (never one seen in
/// this window, never the dominant one).
fn evict_versions(st: &mut ServiceState, max: usize, now: Timestamp) {
    while st.versions.len() > max {
        let victim = st
            .versions
            .iter()
            .filter(|(v, s)| s.last_seen < now && st.dominant.as_ref() != Some(*v))
            .min_by(|a, b| a.1.last_seen.cmp(&b.1.last_seen).then_with(|| a.0.cmp(b.0)))
            .map(|(v, _)| v.clone());
        match victim {
            Some(v) => {
                st.versions.remove(&v);
            }
            None => break,
        }
    }
}

/// Follows the latest exposed release: progress, canary, completion, rollback.
fn track(
    st: &mut ServiceState,
    shares: &BTreeMap<Arc<str>, Share>,
    at: Timestamp,
    settings: &Settings,
    changes: &mut Vec<ReleaseChange>,
) {
    let Some(idx) = st.releases.iter().rposition(|r| r.exposure_start.is_some()) else {
        return;
    };
    let r = &mut st.releases[idx];
    // Rolled back by an event later than this window: still record its share.
    let future_rollback =
        r.state == ReleaseState::RolledBack && r.rolled_back_at.is_some_and(|rb| at < rb);
    if !(future_rollback
        || matches!(
            r.state,
            ReleaseState::Rolling | ReleaseState::Canary | ReleaseState::Complete
        ))
    {
        return;
    }
    let tr = &mut st.tracker;
    let identity = (r.key.version.clone(), r.started_at);
    if tr.identity.as_ref() != Some(&identity) {
        *tr = super::index::Tracker {
            identity: Some(identity),
            ..Default::default()
        };
    }
    let share = shares.get(&r.key.version).copied().unwrap_or_default();
    let point = TimelinePoint {
        at,
        instance_share: share.instance,
        traffic_share: share.traffic,
    };
    let moved = r.timeline.last().is_none_or(|p| {
        (p.instance_share - point.instance_share).abs() > 0.005
            || (p.traffic_share - point.traffic_share).abs() > 0.005
    });
    if r.state.in_progress() || moved || future_rollback {
        push_point(&mut r.timeline, point, settings.timeline_max_points);
    }
    if future_rollback {
        return;
    }
    let key = r.key.clone();
    let change = |kind| ReleaseChange {
        key: key.clone(),
        at,
        kind,
    };

    if share.effective <= 0.0 {
        tr.absent_windows += 1;
        let since = *tr.absent_since.get_or_insert(at);
        if tr.absent_windows >= settings.rollback_confirm_windows {
            let to = top_version(shares, Some(&r.key.version)).cloned();
            r.state = ReleaseState::RolledBack;
            r.rolled_back_at = Some(since);
            r.rolled_back_to = to.clone();
            changes.push(ReleaseChange {
                key: r.key.clone(),
                at: since,
                kind: ChangeKind::RolledBack {
                    to,
                    cause: RollbackCause::Traffic,
                },
            });
        }
        return;
    }
    tr.absent_windows = 0;
    tr.absent_since = None;
    if r.state == ReleaseState::Complete {
        return;
    }
    if share.effective >= settings.complete_share {
        r.state = ReleaseState::Complete;
        r.completed_at = Some(at);
        changes.push(change(ChangeKind::Completed));
        return;
    }
    let progress = ChangeKind::Progress {
        instance_share: share.instance,
        traffic_share: share.traffic,
    };
    if share.effective < settings.canary_max_share {
        if tr.canary_windows == 0
            || (share.effective - tr.canary_anchor).abs() > settings.canary_hold_tolerance
        {
            tr.canary_anchor = share.effective;
            tr.canary_windows = 1;
        } else {
            tr.canary_windows += 1;
        }
        if r.state == ReleaseState::Rolling && tr.canary_windows >= settings.canary_min_windows {
            r.state = ReleaseState::Canary;
            tr.last_reported = share.effective;
            changes.push(change(ChangeKind::Canary {
                instance_share: share.instance,
                traffic_share: share.traffic,
            }));
            return;
        }
    } else {
        tr.canary_windows = 0;
        if r.state == ReleaseState::Canary {
            r.state = ReleaseState::Rolling;
            tr.last_reported = share.effective;
            changes.push(change(progress));
            return;
        }
    }
    if (share.effective - tr.last_reported).abs() >= settings.progress_step {
        tr.last_reported = share.effective;
        changes.push(change(progress));
    }
}

/// Appends a point; when over `max`, drops every other point, keeping the
/// first and the last (resolution halves, the whole span stays).
fn push_point(timeline: &mut Vec<TimelinePoint>, point: TimelinePoint, max: usize) {
    timeline.push(point);
    if timeline.len() > max {
        let last = timeline.len() - 1;
        let mut i = 0;
        timeline.retain(|_| {
            let keep = i % 2 == 0 || i == last;
            i += 1;
            keep
        });
    }
}
