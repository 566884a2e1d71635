//! Query logic over a small synthetic history: `api` (prod) called by
//! `web`, calling `db`; release `api` 2.0 at T0 fails half its requests on
//! the new version while 1.0 stays healthy.

use std::sync::Arc;

use super::*;
use crate::history::{Batch, HistoryStore, ReleaseRecord, TimelineRecord};
use crate::model::{
    Alert, AlertAnomaly, AlertType, ConnectionType, LatencySummary, ReleaseRef, SeriesKey,
    SeriesStats, Severity, Suspect, Timestamp, Verdict, WindowStats,
};

const T0: u64 = 1_772_442_000 + 3600;

fn stats(requests: u64, errors: u64) -> SeriesStats {
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
        instances: 2,
    }
}

/// One 30 s window starting at `start`; after T0 the new version takes half
/// the traffic and fails 40% of it (when `bad`).
fn window(start: u64, bad: bool) -> WindowStats {
    let env: Arc<str> = "prod".into();
    let after = start >= T0;
    let (old, new) = if after {
        (stats(60, 0), stats(60, if bad { 24 } else { 0 }))
    } else {
        (stats(120, 0), stats(0, 0))
    };
    let total = stats(120, new.errors);
    let mut series = vec![
        (
            SeriesKey::Service {
                environment: env.clone(),
                service: "api".into(),
            },
            total.clone(),
        ),
        (
            SeriesKey::Service {
                environment: env.clone(),
                service: "web".into(),
            },
            stats(120, new.errors),
        ),
        (
            SeriesKey::ServiceVersion {
                environment: env.clone(),
                service: "api".into(),
                version: "1.0".into(),
            },
            old,
        ),
        (
            SeriesKey::Edge {
                environment: env.clone(),
                client: "web".into(),
                server: "api".into(),
                connection_type: ConnectionType::Direct,
            },
            total,
        ),
        (
            SeriesKey::Edge {
                environment: env.clone(),
                client: "api".into(),
                server: "db".into(),
                connection_type: ConnectionType::Database,
            },
            stats(90, 0),
        ),
        (
            SeriesKey::Edge {
                environment: env.clone(),
                client: "api".into(),
                server: "cache".into(),
                connection_type: ConnectionType::Direct,
            },
            stats(30, 0),
        ),
    ];
    if after {
        series.push((
            SeriesKey::ServiceVersion {
                environment: env,
                service: "api".into(),
                version: "2.0".into(),
            },
            new,
        ));
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    WindowStats {
        start: Timestamp::from_secs(start),
        end: Timestamp::from_secs(start + 30),
        series,
    }
}

fn release() -> ReleaseRecord {
    ReleaseRecord {
        service: "api".into(),
        environment: "prod".into(),
        version: "2.0".into(),
        previous_version: Some("1.0".into()),
        deployment_id: Some("d-1".into()),
        artifact_id: None,
        origin: "plain".into(),
        state: "canary".into(),
        started_at: Timestamp::from_secs(T0),
        exposure_start: Some(Timestamp::from_secs(T0)),
        completed_at: None,
        rolled_back_at: None,
        rolled_back_to: None,
        timeline: vec![TimelineRecord {
            at: Timestamp::from_secs(T0),
            instance_share: 0.5,
            traffic_share: 0.5,
        }],
        verdict: Some(Verdict::Failing),
    }
}

fn alert(kind: AlertType, id: &str, at: u64, resolves: Option<&str>) -> Alert {
    Alert {
        schema: crate::model::ALERT_SCHEMA.into(),
        kind,
        id: id.into(),
        detected_at: Timestamp::from_secs(at),
        environment: "prod".into(),
        anomaly: Some(AlertAnomaly {
            service: "api".into(),
            signal: "error_ratio".into(),
            onset: Timestamp::from_secs(T0 + 30),
            baseline: 0.0,
            observed: 0.2,
            origins: Vec::new(),
            series: "service:prod/api".into(),
            significance: 1.0,
            requests: 100,
            recovered_at: (kind == AlertType::Resolved).then(|| Timestamp::from_secs(at)),
        }),
        affected: vec!["api".into(), "web".into()],
        suspects: if kind == AlertType::Attribution {
            vec![Suspect {
                release: ReleaseRef {
                    service: "api".into(),
                    version: "2.0".into(),
                    environment: "prod".into(),
                    deployment_id: None,
                    previous_version: None,
                    started_at: None,
                },
                confidence: 0.9,
                evidence: Vec::new(),
            }]
        } else {
            Vec::new()
        },
        recommendation: None,
        summary: String::new(),
        severity: Severity::Warning,
        resolves: resolves.map(str::to_owned),
        verdict: None,
        topology: None,
        owners: Vec::new(),
        incident: None,
    }
}

/// A history of 1 h of clean windows, then 15 min with the release (`bad`
/// or not); the owners file makes `web` tier 1.
fn history(dir: &std::path::Path, bad: bool) -> Context {
    let store = HistoryStore::open(dir, &crate::history::Settings::default()).unwrap();
    let mut start = T0 - 3600;
    while start < T0 + 900 {
        let mut batch = Batch {
            watermark: Timestamp::from_secs(start + 30),
            windows: vec![window(start, bad)],
            ..Batch::default()
        };
        if start == T0 {
            batch.releases.push(release());
        }
        if start == T0 + 120 && bad {
            batch
                .alerts
                .push(alert(AlertType::Attribution, "att-1", T0 + 120, None));
        }
        if start == T0 + 600 && bad {
            batch
                .alerts
                .push(alert(AlertType::Resolved, "res-1", T0 + 630, Some("att-1")));
        }
        store.write(&batch).unwrap();
        start += 30;
    }
    let analysis = crate::analyze::Settings {
        owners: crate::analyze::Owners::parse("web:\n  team: frontend\n  tier: 1\n").unwrap(),
        ..Default::default()
    };
    Context {
        reader: store.reader(),
        settings: analysis,
    }
}

fn at(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

#[test]
fn which_release_blames_the_bad_release_at_its_onset_and_nothing_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = history(dir.path(), true);
    let (from, to) = at_period(&ctx.settings, at(T0 + 60));
    let found = which_release(&ctx, "api", None, at(T0 + 60), from, to).unwrap();
    assert_eq!(found.environment, "prod");
    let top = found
        .suspects
        .first()
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(
        (top.release.service.as_str(), top.release.version.as_str()),
        ("api", "2.0")
    );
    assert!(top.confidence >= 0.75);
    let examined = found.anomaly.unwrap();
    assert_eq!(examined.signal, "error_ratio");
    assert_eq!(examined.onset, at(T0));

    // Twenty minutes before: nothing rose, the release did not exist yet.
    let (from, to) = at_period(&ctx.settings, at(T0 - 1200));
    let clean = which_release(&ctx, "api", None, at(T0 - 1200), from, to).unwrap();
    assert!(clean.suspects.is_empty(), "{clean:#?}");
    assert!(clean.rejected.is_empty());

    // A period the history does not hold is an error naming what it holds.
    let err = which_release(&ctx, "api", None, at(1), at(0), at(60)).unwrap_err();
    assert!(err.to_string().contains("it holds"), "{err}");
}

#[test]
fn a_healthy_release_in_the_period_is_weighed_and_not_blamed() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = history(dir.path(), false);
    let (from, to) = at_period(&ctx.settings, at(T0 + 60));
    let found = which_release(&ctx, "api", None, at(T0 + 60), from, to).unwrap();
    assert!(found.suspects.is_empty(), "{found:#?}");
}

#[test]
fn release_report_compares_before_and_after_and_measures_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = history(dir.path(), true);
    let report = release_report(&ctx, "api", "2.0", None).unwrap();
    assert_eq!(report.verdict, Some(Verdict::Failing));
    assert_eq!(report.before.error_ratio, 0.0);
    assert!(
        (report.after.error_ratio - 0.2).abs() < 1e-9,
        "{:?}",
        report.after
    );
    assert_eq!(report.versions[0].share, 0.5);
    let new = report.versions.iter().find(|v| v.version == "2.0").unwrap();
    assert!((new.rates.error_ratio - 0.4).abs() < 1e-9);
    // `web` serves the errors api returns: its error ratio rose from 0.
    assert_eq!(
        report
            .affected
            .iter()
            .map(|a| a.service.as_str())
            .collect::<Vec<_>>(),
        ["web"]
    );
    assert_eq!(report.alerted_affected, ["api", "web"]);
    assert_eq!(report.blamed_by, ["att-1"]);
    assert_eq!(report.time_to_recovery_secs, Some(600.0));
    assert!(matches!(
        release_report(&ctx, "api", "9.9", None),
        Err(QueryError::NotFound(_))
    ));
}

#[test]
fn impact_walks_dependents_and_dependencies_with_shares_and_classifies_risk() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = history(dir.path(), true);
    let found = impact(&ctx, "api", None, at(T0 - 600), at(T0)).unwrap();
    let deps: Vec<(&str, u32, f64)> = found
        .dependencies
        .iter()
        .map(|r| (r.service.as_str(), r.depth, r.share))
        .collect();
    assert_eq!(deps, [("cache", 1, 0.25), ("db", 1, 0.75)]);
    assert_eq!(found.dependents.len(), 1);
    assert_eq!(found.dependents[0].service, "web");
    assert_eq!(found.dependents[0].tier, Some(1));
    assert!((found.dependents[0].requests_per_sec - 4.0).abs() < 1e-9);
    assert_eq!(found.risk, Risk::High, "{:?}", found.reasons);
    // Without owners and with one dependent: low; a tier-2 service: medium.
    let (risk, _) = impact::classify("x", None, &found.dependents[..0]);
    assert_eq!(risk, Risk::Low);
    assert_eq!(impact::classify("x", Some(2), &[]).0, Risk::Medium);
    let many: Vec<Reach> = (0..5)
        .map(|i| Reach {
            service: format!("s{i}"),
            depth: 1,
            share: 0.2,
            requests_per_sec: 1.0,
            tier: None,
            team: None,
        })
        .collect();
    assert_eq!(impact::classify("x", None, &many).0, Risk::High);
    assert_eq!(impact::classify("x", None, &many[..2]).0, Risk::Medium);
}

#[test]
fn lists_series_and_requests_answer_the_api_json() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = history(dir.path(), true);
    let points = series(&ctx, "api", None, Some("2.0"), at(T0 - 60), at(T0 + 60)).unwrap();
    assert_eq!(
        points.len(),
        2,
        "windows before exposure have no 2.0 traffic"
    );
    assert!((points[0].error_ratio - 0.4).abs() < 1e-9);
    assert_eq!(releases(&ctx, at(T0), at(T0 + 1)).unwrap().len(), 1);
    assert!(
        releases(&ctx, at(T0 + 1), Timestamp(u64::MAX))
            .unwrap()
            .is_empty()
    );
    let value = answer(
        &ctx,
        &Request::Releases {
            since: Some("-1h".into()),
            until: None,
        },
    )
    .unwrap();
    assert_eq!(value["releases"][0]["version"], "2.0");
    let request = Request::WhichRelease {
        service: "api".into(),
        environment: None,
        at: Some(Timestamp::from_secs(T0 + 60).to_rfc3339()),
        from: None,
        to: None,
    };
    let value = answer(&ctx, &request).unwrap();
    assert_eq!(value["suspects"][0]["release"]["version"], "2.0");
    let table = request::render(&request, &value).unwrap();
    assert!(table.contains("api@2.0"), "{table}");
    assert!(matches!(
        answer(
            &ctx,
            &Request::WhichRelease {
                service: "api".into(),
                environment: None,
                at: None,
                from: None,
                to: None,
            }
        ),
        Err(QueryError::BadArgument(_))
    ));
    assert_eq!(
        request.segments(),
        ["api", "v1", "which-release"].map(String::from)
    );
    assert!(release::parse_release("api").is_err());
    assert_eq!(
        release::parse_release("api@2.0@rc").unwrap(),
        ("api@2.0".to_owned(), "rc".to_owned())
    );
}
