//! Deployment events: dedup, ordering, rollback, removal, environments.

use super::*;
use crate::model::{ReleaseState, RollbackCause};
use crate::release::{EventOutcome, IgnoreReason};

fn applied(outcome: EventOutcome) -> Vec<ReleaseChange> {
    match outcome {
        EventOutcome::Applied(changes) => changes,
        other => panic!("expected applied, got {other:?}"),
    }
}

#[test]
fn duplicates_are_dropped_and_reported() {
    let mut ix = index();
    let e = deploy("e1", "svc", "prod", "v2", 100);
    assert_eq!(
        kinds(&applied(ix.apply_event(&e))),
        kv(&[("v2", "detected")])
    );
    assert_eq!(ix.apply_event(&e), EventOutcome::Duplicate);
    // Same id from another source is another event: it confirms the release.
    let mut other = e.clone();
    other.source = "/flux".to_owned();
    assert_eq!(
        kinds(&applied(ix.apply_event(&other))),
        kv(&[("v2", "merged")])
    );
    assert_eq!(ix.releases_of("svc", "prod").len(), 1);
    assert_eq!(ix.dedup_len(), 2);
}

#[test]
fn explicit_release_fields() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 100, 2)]));
    let mut e = deploy("e1", "svc", "prod", "v2", 100);
    e.artifact_id = Some("pkg:oci/svc@sha256%3Aabc?tag=v2".to_owned());
    let changes = applied(ix.apply_event(&e));
    assert_eq!(changes[0].at, t(100));
    assert_eq!(
        changes[0].kind,
        ChangeKind::Detected {
            origin: ReleaseOrigin::CdEvent
        }
    );
    let r = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(r.deployment_id.as_deref(), Some("e1"));
    assert_eq!(
        r.artifact_id.as_deref(),
        Some("pkg:oci/svc@sha256%3Aabc?tag=v2")
    );
    assert_eq!(r.origin, ReleaseOrigin::CdEvent);
    assert_eq!(r.started_at, t(100));
    assert_eq!(r.exposure_start, None);
    assert_eq!(r.state, ReleaseState::Rolling);
    assert_eq!(ix.previous_version("svc", "prod", "v2"), Some("v1"));
}

#[test]
fn out_of_order_events_are_kept_in_time_order() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 100, 2)]));
    applied(ix.apply_event(&deploy("e3", "svc", "prod", "v3", 3000)));
    applied(ix.apply_event(&deploy("e2", "svc", "prod", "v2", 1500)));
    let rs = ix.releases_of("svc", "prod");
    let order: Vec<&str> = rs.iter().map(|r| &*r.key.version).collect();
    assert_eq!(order, ["v2", "v3"]);
    assert_eq!(rs[0].previous_version.as_deref(), Some("v1"));
    assert_eq!(
        rs[1].previous_version.as_deref(),
        Some("v2"),
        "chain repaired"
    );
    // Same in the other order gives the same releases.
    let mut ix2 = index();
    ix2.observe_window(&window(0, &[("prod", "svc", "v1", 100, 2)]));
    applied(ix2.apply_event(&deploy("e2", "svc", "prod", "v2", 1500)));
    applied(ix2.apply_event(&deploy("e3", "svc", "prod", "v3", 3000)));
    assert_eq!(
        ix.releases_of("svc", "prod"),
        ix2.releases_of("svc", "prod")
    );
}

#[test]
fn rollback_event_marks_the_release_and_target() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 100, 2)]));
    applied(ix.apply_event(&deploy("e1", "svc", "prod", "v2", 100)));
    let rb = event(DeployKind::RolledBack, "e2", "svc", "prod", Some("v1"), 700);
    let changes = applied(ix.apply_event(&rb));
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes[0].kind,
        ChangeKind::RolledBack {
            to: Some(Arc::from("v1")),
            cause: RollbackCause::Event
        }
    );
    let r = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(r.state, ReleaseState::RolledBack);
    assert_eq!(r.rolled_back_at, Some(t(700)));
    assert_eq!(r.rolled_back_to.as_deref(), Some("v1"));
    // A second rollback event: already rolled back.
    let rb2 = event(DeployKind::RolledBack, "e3", "svc", "prod", Some("v1"), 710);
    assert_eq!(
        ix.apply_event(&rb2),
        EventOutcome::Ignored(IgnoreReason::AlreadyRolledBack)
    );
    // Nothing to roll back in another environment.
    let rb3 = event(
        DeployKind::RolledBack,
        "e4",
        "svc",
        "staging",
        Some("v1"),
        710,
    );
    assert_eq!(
        ix.apply_event(&rb3),
        EventOutcome::Ignored(IgnoreReason::NothingToRollBack)
    );
    // A deploy of the rollback target while it runs is not a new release.
    ix.observe_window(&window(720, &[("prod", "svc", "v1", 100, 2)]));
    assert_eq!(
        ix.apply_event(&deploy("e5", "svc", "prod", "v1", 730)),
        EventOutcome::Ignored(IgnoreReason::AlreadyRunning)
    );
    assert_eq!(ix.releases_of("svc", "prod").len(), 1);
}

#[test]
fn redeploy_after_rollback_is_a_new_release() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 100, 2)]));
    applied(ix.apply_event(&deploy("e1", "svc", "prod", "v2", 100)));
    applied(ix.apply_event(&event(
        DeployKind::RolledBack,
        "e2",
        "svc",
        "prod",
        Some("v1"),
        200,
    )));
    let changes = applied(ix.apply_event(&deploy("e3", "svc", "prod", "v2", 300)));
    assert_eq!(kinds(&changes), kv(&[("v2", "detected")]));
    let rs = ix.releases_of("svc", "prod");
    assert_eq!(rs.len(), 2);
    assert_eq!(
        rs[1].previous_version.as_deref(),
        Some("v1"),
        "after the rollback, v1 ran"
    );
    assert_eq!(
        ix.release(&key("svc", "prod", "v2")).unwrap().started_at,
        t(300)
    );
}

#[test]
fn removed_retires_the_service() {
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "svc", "v1", 100, 2)]));
    applied(ix.apply_event(&deploy("e1", "svc", "prod", "v2", 100)));
    let changes =
        applied(ix.apply_event(&event(DeployKind::Removed, "e2", "svc", "prod", None, 500)));
    assert_eq!(kinds(&changes), kv(&[("v2", "removed")]));
    assert_eq!(ix.retired_at("svc", "prod"), Some(t(500)));
    assert_eq!(
        ix.release(&key("svc", "prod", "v2")).unwrap().state,
        ReleaseState::Removed
    );
    // Draining traffic right after removal does not revive it; later traffic does.
    ix.observe_window(&window(540, &[("prod", "svc", "v1", 10, 1)]));
    assert_eq!(ix.retired_at("svc", "prod"), Some(t(500)));
    ix.observe_window(&window(2000, &[("prod", "svc", "v1", 10, 1)]));
    assert_eq!(ix.retired_at("svc", "prod"), None);
    // Removing an unknown service records the retirement.
    let changes =
        applied(ix.apply_event(&event(DeployKind::Removed, "e3", "gone", "prod", None, 9)));
    assert_eq!(kinds(&changes), kv(&[("", "removed")]));
    assert_eq!(ix.retired_at("gone", "prod"), Some(t(9)));
}

#[test]
fn informational_and_versionless_events_are_ignored() {
    let mut ix = index();
    let p = event(DeployKind::Published, "p", "svc", "prod", None, 1);
    assert_eq!(
        ix.apply_event(&p),
        EventOutcome::Ignored(IgnoreReason::Informational)
    );
    let d = event(DeployKind::Deployed, "d", "svc", "prod", None, 1);
    assert_eq!(
        ix.apply_event(&d),
        EventOutcome::Ignored(IgnoreReason::NoVersion)
    );
    assert_eq!(ix.release_count(), 0);
    assert_eq!(IgnoreReason::NoVersion.as_str(), "no_version");
}

#[test]
fn a_version_running_long_before_the_event_is_not_a_release() {
    let mut ix = index();
    for i in 0..30 {
        ix.observe_window(&window(i * 60, &[("prod", "svc", "v1", 100, 2)]));
    }
    let e = deploy("e1", "svc", "prod", "v1", 1790);
    assert_eq!(
        ix.apply_event(&e),
        EventOutcome::Ignored(IgnoreReason::AlreadyRunning)
    );
    // But a first deploy of a new service that spans confirm soon after is one.
    let mut ix = index();
    ix.observe_window(&window(0, &[("prod", "new", "v1", 100, 2)]));
    let changes = applied(ix.apply_event(&deploy("e2", "new", "prod", "v1", 30)));
    assert_eq!(kinds(&changes), kv(&[("v1", "detected")]));
    let r = ix.release(&key("new", "prod", "v1")).unwrap();
    assert_eq!(
        (r.exposure_start, r.previous_version.clone()),
        (Some(t(0)), None)
    );
}

#[test]
fn environments_are_separate() {
    let mut ix = index();
    ix.observe_window(&window(
        0,
        &[
            ("prod", "svc", "v1", 100, 2),
            ("staging", "svc", "v1", 10, 1),
        ],
    ));
    applied(ix.apply_event(&deploy("s1", "svc", "staging", "v2", 100)));
    // Prod shows v2 with no prod event: an implicit prod release, not the staging one.
    let changes = ix.observe_window(&window(
        120,
        &[
            ("prod", "svc", "v1", 100, 2),
            ("prod", "svc", "v2", 100, 2),
            ("staging", "svc", "v1", 10, 1),
        ],
    ));
    assert_eq!(
        kinds(&changes),
        kv(&[("v2", "detected"), ("v2", "progress")])
    );
    assert!(changes.iter().all(|c| c.key.environment.as_ref() == "prod"));
    let prod = ix.release(&key("svc", "prod", "v2")).unwrap();
    assert_eq!(prod.origin, ReleaseOrigin::Implicit);
    let staging = ix.release(&key("svc", "staging", "v2")).unwrap();
    assert_eq!(staging.exposure_start, None);
    let envs = |env: &str| -> Vec<String> {
        ix.candidates(env, t(0), t(600))
            .iter()
            .map(|r| r.key.environment.to_string())
            .collect()
    };
    assert_eq!(envs("prod"), ["prod"]);
    assert_eq!(envs("staging"), ["staging"]);
    assert!(envs("dev").is_empty());
}
