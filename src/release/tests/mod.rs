//! Tests of the release index: events (`events.rs`), windows and rollouts
//! (`windows.rs`), bounds and determinism (`bounds.rs`).

mod bounds;
mod events;
mod windows;

use std::sync::Arc;

use super::ReleaseIndex;
use crate::model::{
    ChangeKind, DeployEvent, DeployKind, ReleaseChange, ReleaseKey, ReleaseOrigin, SeriesKey,
    SeriesStats, Timestamp, WindowStats,
};

/// Window length used by these tests.
const WINDOW_SECS: u64 = 60;
/// Base time so that "t = 0" is not the epoch.
const BASE_SECS: u64 = 1_780_000_000;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(BASE_SECS + secs)
}

/// An index whose baseline is the first window only, so tests stay short
/// (`baseline_windows` itself is tested in `windows.rs`).
fn index() -> ReleaseIndex {
    let config = crate::release::Config {
        baseline_windows: 1,
        ..crate::release::Config::default()
    };
    ReleaseIndex::new(config.validate().unwrap())
}

fn event(
    kind: DeployKind,
    id: &str,
    service: &str,
    env: &str,
    version: Option<&str>,
    at: u64,
) -> DeployEvent {
    DeployEvent {
        id: id.to_owned(),
        source: "/argocd".to_owned(),
        kind,
        service: Arc::from(service),
        environment: Arc::from(env),
        version: version.map(Arc::from),
        artifact_id: None,
        at: t(at),
        finished_at: None,
        origin: ReleaseOrigin::CdEvent,
    }
}

fn deploy(id: &str, service: &str, env: &str, version: &str, at: u64) -> DeployEvent {
    event(DeployKind::Deployed, id, service, env, Some(version), at)
}

fn key(service: &str, env: &str, version: &str) -> ReleaseKey {
    ReleaseKey {
        service: Arc::from(service),
        environment: Arc::from(env),
        version: Arc::from(version),
    }
}

/// A window at `start` with (env, service, version, requests, instances) rows.
fn window(start: u64, rows: &[(&str, &str, &str, u64, u32)]) -> WindowStats {
    let mut series: Vec<(SeriesKey, SeriesStats)> = rows
        .iter()
        .map(|&(env, service, version, requests, instances)| {
            (
                SeriesKey::ServiceVersion {
                    environment: Arc::from(env),
                    service: Arc::from(service),
                    version: Arc::from(version),
                },
                SeriesStats {
                    requests,
                    instances,
                    ..SeriesStats::default()
                },
            )
        })
        .collect();
    // Other series kinds are ignored by the index.
    series.push((
        SeriesKey::Service {
            environment: Arc::from("prod"),
            service: Arc::from("noise"),
        },
        SeriesStats {
            requests: 5,
            instances: 1,
            ..SeriesStats::default()
        },
    ));
    series.sort_by(|a, b| a.0.cmp(&b.0));
    WindowStats {
        start: t(start),
        end: t(start + WINDOW_SECS),
        series,
    }
}

/// (version, kind name) of each change, compact for asserts.
fn kinds(changes: &[ReleaseChange]) -> Vec<(String, &'static str)> {
    changes
        .iter()
        .map(|c| (c.key.version.to_string(), c.kind.as_str()))
        .collect()
}

fn kv(items: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
    items.iter().map(|(v, k)| ((*v).to_owned(), *k)).collect()
}

/// Runs windows of one prod service `svc` given (v1 instances, v2 instances)
/// per window, starting at `start`, 60 s apart; returns all changes.
fn run_split(ix: &mut ReleaseIndex, start: u64, split: &[(u32, u32)]) -> Vec<ReleaseChange> {
    let mut out = Vec::new();
    for (i, &(a, b)) in split.iter().enumerate() {
        let mut rows = Vec::new();
        if a > 0 {
            rows.push(("prod", "svc", "v1", u64::from(a) * 100, a));
        }
        if b > 0 {
            rows.push(("prod", "svc", "v2", u64::from(b) * 100, b));
        }
        out.extend(ix.observe_window(&window(start + i as u64 * WINDOW_SECS, &rows)));
    }
    out
}

fn is_rollback_to(kind: &ChangeKind, version: &str) -> bool {
    matches!(kind, ChangeKind::RolledBack { to: Some(v), .. } if &**v == version)
}
