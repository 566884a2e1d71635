//! Hand-made windows for the analyzer's tests.

use std::sync::Arc;

use crate::model::{
    ConnectionType, DeployEvent, DeployKind, LatencySummary, ReleaseOrigin, SeriesKey, SeriesStats,
    Timestamp, WindowStats,
};

pub(crate) const T0: u64 = 1_772_442_000;

fn stats(requests: u64, errors: u64, instances: u32) -> SeriesStats {
    SeriesStats {
        requests,
        errors,
        latency: LatencySummary {
            count: requests,
            sum: 0.05 * requests as f64,
            p50: 0.05,
            p95: 0.08,
            p99: 0.1,
            max: 0.2,
        },
        instances,
    }
}

/// One 10-second window of a two-service fleet: `front` calls `pay`; `pay`
/// runs `old` on two instances and, from `new_from` on, `new` on a third
/// that fails `new_errors` of its 20 requests. From `extra_from` on, `pay`
/// also calls `fraud`.
pub(crate) struct Fleet {
    pub(crate) new_from: Option<u64>,
    pub(crate) new_errors: u64,
    pub(crate) extra_from: Option<u64>,
}

impl Fleet {
    pub(crate) fn window(&self, i: u64) -> WindowStats {
        let env: Arc<str> = "prod".into();
        let start = T0 + i * 10;
        let svc = |s: &str| SeriesKey::Service {
            environment: env.clone(),
            service: s.into(),
        };
        let ver = |v: &str| SeriesKey::ServiceVersion {
            environment: env.clone(),
            service: "pay".into(),
            version: v.into(),
        };
        let edge = |c: &str, s: &str| SeriesKey::Edge {
            environment: env.clone(),
            client: c.into(),
            server: s.into(),
            connection_type: ConnectionType::Direct,
        };
        let new = self.new_from.is_some_and(|f| i >= f);
        let (new_req, new_err) = if new { (20, self.new_errors) } else { (0, 0) };
        let mut series = vec![
            (svc("front"), stats(60, 0, 2)),
            (svc("pay"), stats(40 + new_req, new_err, 2 + u32::from(new))),
            (ver("1.0.0"), stats(40, 0, 2)),
            (edge("front", "pay"), stats(40 + new_req, new_err, 0)),
        ];
        if new {
            series.push((ver("2.0.0"), stats(new_req, new_err, 1)));
        }
        if self.extra_from.is_some_and(|f| i >= f) {
            series.push((edge("pay", "fraud"), stats(40, 0, 0)));
        }
        series.sort_by(|a, b| a.0.cmp(&b.0));
        WindowStats {
            start: Timestamp::from_secs(start),
            end: Timestamp::from_secs(start + 10),
            series,
        }
    }
}

/// The fleet of the restart tests: `pay`'s new release, deployed at window
/// 149 (see [`deploy`]), fails 6 of its 20 requests from window 150 on.
pub(crate) fn bad_release() -> Fleet {
    Fleet {
        new_from: Some(150),
        new_errors: 6,
        extra_from: None,
    }
}

/// The alerts of an analyzer that never stops over windows `0..windows`
/// of `fleet`, the release deployed at window 149.
pub(crate) fn uninterrupted(fleet: &Fleet, windows: u64) -> Vec<crate::model::Alert> {
    let mut analyzer = super::Analyzer::new(super::Settings::default());
    analyzer.on_deploy(deploy(149));
    (0..windows)
        .flat_map(|i| analyzer.on_window(&fleet.window(i)).alerts)
        .collect()
}

/// Feeds windows `from..to` of `fleet` to a restarted `analyzer`, adding
/// its alerts to `resumed`, and asserts they are the uninterrupted run's
/// (`straight`, not empty).
pub(crate) fn assert_resumes_like(
    straight: &[crate::model::Alert],
    mut analyzer: super::Analyzer,
    fleet: &Fleet,
    (from, to): (u64, u64),
    mut resumed: Vec<crate::model::Alert>,
) {
    for i in from..to {
        resumed.extend(analyzer.on_window(&fleet.window(i)).alerts);
    }
    assert!(!straight.is_empty());
    assert_eq!(straight, resumed, "a restart changed the alerts");
}

pub(crate) fn deploy(at_window: u64) -> DeployEvent {
    DeployEvent {
        id: "d-1".into(),
        source: "ci".into(),
        kind: DeployKind::Deployed,
        service: "pay".into(),
        environment: "prod".into(),
        version: Some("2.0.0".into()),
        artifact_id: None,
        at: Timestamp::from_secs(T0 + at_window * 10),
        finished_at: None,
        origin: ReleaseOrigin::CdEvent,
    }
}
