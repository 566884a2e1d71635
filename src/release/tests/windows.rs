//! Window observation: implicit releases, merging with events, canaries,
//! completion, rollback by traffic.

use super::*;
use crate::model::{ReleaseState, RollbackCause};
use crate::release::EventOutcome;

#[test]
fn first_window_is_a_baseline_not_a_release() {
    let mut ix = index();
    let changes = ix.observe_window(&window(
        0,
        &[("prod", "svc", "v1", 100, 3), ("prod", "svc", "v2", 10, 1)],
    ));
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(ix.release_count(), 0);
    assert_eq!(ix.current_version("svc", "prod"), Some("v1"));
}

#[test]
fn implicit_release_only() {
    let mut ix = index();
    let changes = run_split(&mut ix, 0, &[(4, 0), (2, 2), (0, 4), (0, 4)]);
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "detected"), ("v2", "progress"), ("v2", "completed")])
    );
    assert_eq!(changes[0].at, t(60));
    assert_eq!(
        changes[0].kind,
        ChangeKind::Detected {
            origin: ReleaseOrigin::Implicit
        }
    );
    let r = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(r.origin, ReleaseOrigin::Implicit);
    assert_eq!(r.deployment_id, None);
    assert_eq!((r.started_at, r.exposure_start), (t(60), Some(t(60))));
    assert_eq!(r.previous_version.as_deref(), Some("v1"));
    assert_eq!(r.state, ReleaseState::Complete);
    assert_eq!(r.completed_at, Some(t(120)));
    let tl = ix.timeline(&r.key).unwrap();
    let shares: Vec<(u64, f64)> = tl
        .iter()
        .map(|p| (p.at.secs() - BASE_SECS, p.instance_share))
        .collect();
    assert_eq!(
        shares,
        [(60, 0.5), (120, 1.0)],
        "a complete release records only changes"
    );
    assert!((tl[0].traffic_share - 0.5).abs() < 1e-9);
    assert_eq!(ix.candidates("prod", t(0), t(100)).len(), 1);
    assert!(
        ix.candidates("prod", t(600), t(900)).is_empty(),
        "complete, outside the range"
    );
    assert_eq!(ix.releases_since(t(61)).len(), 0);
    assert_eq!(ix.releases_since(t(60)).len(), 1);
}

#[test]
fn event_first_then_spans_merge_into_one_release() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 400, 4)]));
    assert!(matches!(
        ix.apply_event(&deploy("e1", "svc", "prod", "v2", 100)),
        EventOutcome::Applied(_)
    ));
    let changes = run_split(&mut ix, 120, &[(3, 1), (0, 4)]);
    assert_eq!(
        kinds(&changes),
        kv(&[
            ("v2", "exposure_started"),
            ("v2", "progress"),
            ("v2", "completed")
        ])
    );
    let rs = ix.releases_of("svc", "prod");
    assert_eq!(rs.len(), 1, "no implicit duplicate");
    let r = &rs[0];
    assert_eq!(r.origin, ReleaseOrigin::CdEvent);
    assert_eq!(r.deployment_id.as_deref(), Some("e1"));
    assert_eq!((r.started_at, r.exposure_start), (t(100), Some(t(120))));
    assert_eq!(r.previous_version.as_deref(), Some("v1"));
}

#[test]
fn events_before_any_window_learn_the_previous_version_from_spans() {
    // Replay loads every event first: nothing is known about spans yet.
    let mut ix = index();
    ix.apply_event(&deploy("e1", "svc", "prod", "v2", 300));
    let changes = run_split(
        &mut ix,
        0,
        &[(4, 0), (4, 0), (4, 0), (4, 0), (4, 0), (2, 2)],
    );
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "exposure_started"), ("v2", "progress")])
    );
    let r = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(r.exposure_start, Some(t(300)));
    assert_eq!(r.previous_version.as_deref(), Some("v1"));
}

#[test]
fn late_event_merges_into_the_implicit_release() {
    let mut ix = index();
    run_split(&mut ix, 0, &[(4, 0), (2, 2)]);
    let r = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(r.origin, ReleaseOrigin::Implicit);
    let EventOutcome::Applied(changes) = ix.apply_event(&deploy("e1", "svc", "prod", "v2", 50))
    else {
        panic!("not applied");
    };
    assert_eq!(
        changes[0].kind,
        ChangeKind::Merged {
            origin: ReleaseOrigin::CdEvent
        }
    );
    let rs = ix.releases_of("svc", "prod");
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].origin, ReleaseOrigin::CdEvent);
    assert_eq!(rs[0].deployment_id.as_deref(), Some("e1"));
    assert_eq!(
        (rs[0].started_at, rs[0].exposure_start),
        (t(50), Some(t(60)))
    );
    assert_eq!(rs[0].previous_version.as_deref(), Some("v1"));
}

#[test]
fn event_far_from_first_sight_does_not_merge() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 400, 4)]));
    ix.apply_event(&deploy("e1", "svc", "prod", "v2", 10));
    // v2 shows up 20 minutes later (tolerance 10): an implicit release.
    let changes = run_split(&mut ix, 1200, &[(2, 2)]);
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "detected"), ("v2", "progress")])
    );
    let rs = ix.releases_of("svc", "prod");
    assert_eq!(rs.len(), 2);
    assert_eq!(
        (rs[0].origin, rs[0].state),
        (ReleaseOrigin::CdEvent, ReleaseState::Superseded)
    );
    assert_eq!(
        (rs[1].origin, rs[1].state),
        (ReleaseOrigin::Implicit, ReleaseState::Rolling)
    );
    assert_eq!(
        ix.release(&key("svc", "prod", "v2")).unwrap().origin,
        ReleaseOrigin::Implicit
    );
}

#[test]
fn canary_is_recognized_then_promoted() {
    let mut ix = index();
    let changes = run_split(&mut ix, 0, &[(4, 0), (4, 1), (4, 1), (4, 1), (4, 1)]);
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "detected"), ("v2", "progress"), ("v2", "canary")])
    );
    let canary = changes
        .iter()
        .find(|c| c.kind.as_str() == "canary")
        .unwrap();
    assert_eq!(canary.at, t(180), "third window of the hold");
    let ChangeKind::Canary {
        instance_share,
        traffic_share,
    } = canary.kind
    else {
        unreachable!()
    };
    assert!((instance_share - 0.2).abs() < 1e-9 && (traffic_share - 0.2).abs() < 1e-9);
    let k = key("svc", "prod", "v2");
    assert_eq!(ix.release(&k).unwrap().state, ReleaseState::Canary);
    // A canary is in progress: a candidate for anything later.
    assert_eq!(ix.candidates("prod", t(3000), t(3600)).len(), 1);
    let more = run_split(&mut ix, 300, &[(2, 3), (0, 5)]);
    assert_eq!(kinds(&more), kv(&[("v2", "progress"), ("v2", "completed")]));
    let r = ix.release(&k).unwrap();
    assert_eq!(r.state, ReleaseState::Complete);
    assert_eq!(r.timeline.len(), 6);
    assert!(ix.candidates("prod", t(3000), t(3600)).is_empty());
}

#[test]
fn a_steady_rollout_is_not_a_canary() {
    let mut ix = index();
    let changes = run_split(
        &mut ix,
        0,
        &[(10, 0), (8, 2), (6, 4), (4, 6), (2, 8), (0, 10)],
    );
    assert!(
        changes.iter().all(|c| c.kind.as_str() != "canary"),
        "{changes:?}"
    );
    assert_eq!(
        changes
            .iter()
            .filter(|c| c.kind.as_str() == "progress")
            .count(),
        4
    );
    assert_eq!(changes.last().unwrap().kind, ChangeKind::Completed);
}

#[test]
fn rollback_by_traffic_after_completion() {
    let mut ix = index();
    run_split(&mut ix, 0, &[(4, 0), (2, 2), (0, 4)]);
    let changes = run_split(&mut ix, 180, &[(4, 0), (4, 0), (4, 0), (4, 0)]);
    assert_eq!(kinds(&changes), kv(&[("v2", "rolled_back")]));
    assert_eq!(
        changes[0].at,
        t(180),
        "the first window without the version"
    );
    assert_eq!(
        changes[0].kind,
        ChangeKind::RolledBack {
            to: Some(Arc::from("v1")),
            cause: RollbackCause::Traffic
        }
    );
    let r = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(
        (r.state, r.rolled_back_at),
        (ReleaseState::RolledBack, Some(t(180)))
    );
    assert!(is_rollback_to(&changes[0].kind, "v1"));
    // v1 coming back is not a new release.
    assert_eq!(ix.release_count(), 1);
}

#[test]
fn aborted_canary_is_a_rollback_but_a_short_gap_is_not() {
    let mut ix = index();
    let changes = run_split(
        &mut ix,
        0,
        &[(4, 0), (4, 1), (4, 0), (4, 0), (4, 1), (4, 1)],
    );
    assert!(
        changes.iter().all(|c| c.kind.as_str() != "rolled_back"),
        "{changes:?}"
    );
    let changes = run_split(&mut ix, 360, &[(4, 0), (4, 0), (4, 0)]);
    assert_eq!(kinds(&changes), kv(&[("v2", "rolled_back")]));
    assert!(is_rollback_to(&changes[0].kind, "v1"));
}

#[test]
fn traffic_share_stands_in_without_instance_counts() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 100, 0)]));
    let changes = ix.observe_window(&window(
        60,
        &[("prod", "svc", "v1", 90, 0), ("prod", "svc", "v2", 10, 0)],
    ));
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "detected"), ("v2", "progress")])
    );
    let p = ix.timeline(&key("svc", "prod", "v2")).unwrap()[0];
    assert_eq!((p.instance_share, p.traffic_share), (0.0, 0.1));
}

#[test]
fn a_newer_release_supersedes_one_in_progress() {
    let mut ix = index();
    run_split(&mut ix, 0, &[(4, 0), (2, 2)]);
    let changes = ix.observe_window(&window(
        120,
        &[
            ("prod", "svc", "v1", 100, 1),
            ("prod", "svc", "v2", 100, 1),
            ("prod", "svc", "v3", 200, 2),
        ],
    ));
    assert_eq!(
        kinds(&changes),
        kv(&[("v3", "detected"), ("v3", "progress")])
    );
    assert_eq!(
        ix.release(&key("svc", "prod", "v2")).unwrap().state,
        ReleaseState::Superseded
    );
    let v3 = ix.release(&key("svc", "prod", "v3")).unwrap();
    assert_eq!(
        v3.previous_version.as_deref(),
        Some("v1"),
        "dominant of the previous window (tie → name)"
    );
}

#[test]
fn windows_out_of_order_are_ignored() {
    let mut ix = index();
    run_split(&mut ix, 600, &[(4, 0)]);
    let changes = ix.observe_window(&window(0, &[("prod", "svc", "v9", 100, 4)]));
    assert!(changes.is_empty());
    assert_eq!(ix.current_version("svc", "prod"), Some("v1"));
}

#[test]
fn empty_versions_are_ignored() {
    let mut ix = index();
    run_split(&mut ix, 0, &[(4, 0)]);
    let changes = ix.observe_window(&window(
        60,
        &[("prod", "svc", "", 100, 4), ("prod", "svc", "v1", 1, 1)],
    ));
    assert!(changes.is_empty());
    assert_eq!(ix.release_count(), 0);
}

#[test]
fn replay_with_all_events_first_keeps_exposure_and_timeline() {
    // Replay applies every deployment event before the first window.
    let mut ix = index();
    ix.apply_event(&deploy("e1", "svc", "prod", "v2", 120));
    let rb = crate::model::DeployKind::RolledBack;
    ix.apply_event(&event(rb, "e2", "svc", "prod", Some("v1"), 300));
    let changes = run_split(
        &mut ix,
        0,
        &[(4, 0), (4, 0), (2, 2), (0, 4), (0, 4), (4, 0), (4, 0)],
    );
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "exposure_started")]),
        "no implicit duplicate"
    );
    let rs = ix.releases_of("svc", "prod");
    assert_eq!(rs.len(), 1);
    let r = &rs[0];
    assert_eq!(r.exposure_start, Some(t(120)));
    assert_eq!(
        (r.state, r.rolled_back_at),
        (ReleaseState::RolledBack, Some(t(300)))
    );
    let shares: Vec<f64> = r.timeline.iter().map(|p| p.instance_share).collect();
    assert_eq!(
        shares,
        [0.5, 1.0, 1.0],
        "shares recorded until the rollback"
    );
}

#[test]
fn versions_of_the_baseline_windows_are_not_releases() {
    let config = crate::release::Config {
        baseline_windows: 3,
        ..crate::release::Config::default()
    };
    let mut ix = ReleaseIndex::new(config.validate().unwrap());
    // A low-traffic version missing from the first window is still baseline.
    let changes = run_split(&mut ix, 0, &[(4, 0), (4, 1), (4, 1)]);
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(ix.release_count(), 0);
    // After the baseline, a new version is a release.
    let changes = ix.observe_window(&window(
        180,
        &[("prod", "svc", "v1", 100, 4), ("prod", "svc", "v3", 100, 1)],
    ));
    assert_eq!(
        kinds(&changes),
        kv(&[("v3", "detected"), ("v3", "progress")])
    );
    assert_eq!(crate::release::Settings::default().baseline_windows, 2);
}
