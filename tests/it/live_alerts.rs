//! The daemon and `replay` give the same alerts for the same input
//! (determinism across live batching, HTTP requests and threads), and the
//! analysis stage's alerts reach the file sink, the API and `/metrics`.
//!
//! A bad release (payment 1.5.0, errors on the new version) with 11 minutes
//! of clean history is simulated into files; the spans are posted to a live
//! daemon over OTLP/HTTP JSON, one Collector batch per request, and the
//! deployment event over `POST /api/v1/deployments`; then the same files are
//! replayed. Every alert the daemon emitted equals the replay's, and every
//! replay alert from a window the daemon had closed was emitted live.

use std::path::Path;
use std::time::Duration;

use epicenter::app::replay::{ReplayOptions, replay};
use epicenter::config::{self, Source};
use epicenter::model::{Alert, AlertType, Timestamp};
use epicenter::sim::score::parse_alerts;
use epicenter::sim::{DeployFormat, ScenarioSpec, preset, write_scenario};
use tokio_util::sync::CancellationToken;

use crate::daemon::metrics_text;
use crate::support::otlp::http_client;

const START: Timestamp = Timestamp::from_secs(1_772_442_000);

/// Posts every body (JSON) to `url`, expecting `status` for each.
pub(crate) async fn post_all(url: &str, bodies: &[String], status: u16) {
    let client = http_client();
    for body in bodies {
        let got = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(got.as_u16(), status, "POST {url} answered {got}");
    }
}

/// Waits until analysis has been idle for a while (its window count stable).
pub(crate) async fn settle(api: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut last = String::new();
    loop {
        let text = metrics_text(api).await;
        let windows = text
            .lines()
            .find(|l| l.starts_with("epicenter_analysis_windows_total"))
            .unwrap_or_default()
            .to_owned();
        if windows == last && !windows.is_empty() {
            return;
        }
        last = windows;
        assert!(
            tokio::time::Instant::now() < deadline,
            "analysis never settled"
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

/// Every live alert is one replay found, and every replay alert detected by
/// `end` (the daemon keeps its last open windows for a restart) was emitted
/// live. Returns the live alerts' keys.
pub(crate) fn assert_live_matches_replay(
    live: &[Alert],
    replayed: &[Alert],
    end: Timestamp,
) -> Vec<(String, AlertType, String, Option<String>)> {
    let live_keys: Vec<_> = live.iter().map(key).collect();
    let replay_keys: Vec<_> = replayed.iter().map(key).collect();
    for k in &live_keys {
        assert!(
            replay_keys.contains(k),
            "live alert {k:?} is not in replay's {replay_keys:#?}"
        );
    }
    for (alert, k) in replayed.iter().zip(&replay_keys) {
        if alert.detected_at <= end {
            assert!(
                live_keys.contains(k),
                "replay alert {k:?} was never emitted live: {live_keys:#?}"
            );
        }
    }
    live_keys
}

/// The comparable part of an alert.
pub(crate) fn key(a: &Alert) -> (String, AlertType, String, Option<String>) {
    (
        a.id.clone(),
        a.kind,
        a.detected_at.to_rfc3339(),
        a.suspects
            .first()
            .map(|s| format!("{}@{}", s.release.service, s.release.version)),
    )
}

pub(crate) fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_emits_the_alerts_replay_finds() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = preset("bad-release", 660.0).unwrap();
    p.scenario.duration_secs = Some(660.0 + 120.0 + 720.0);
    let spec = ScenarioSpec {
        preset: p,
        seed: 4242,
        rate_rps: 10.0,
        start: START,
        deployments: Some(DeployFormat::CdEventsV05),
        gzip: false,
    };
    let files = write_scenario(&spec, dir.path()).await.unwrap();
    let deployments = files.deployments.clone().unwrap();

    // Live.
    let live_alerts = dir.path().join("live.alerts.jsonl");
    let owners = dir.path().join("owners.yaml");
    std::fs::write(&owners, "payment:\n  team: payments\n  tier: 1\n").unwrap();
    let source = Source::default()
        .flag("analysis.owners_file", owners.display().to_string())
        .flag("data_dir", dir.path().join("data").display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.grpc_listen", "127.0.0.1:0")
        .flag("ingest.otlp.http_listen", "127.0.0.1:0")
        .flag("emit.file.path", live_alerts.display().to_string());
    let settings = config::load(&source).unwrap();
    let registry = epicenter::telemetry::new_registry();
    let running = epicenter::app::start(settings.clone(), registry, CancellationToken::new())
        .await
        .unwrap();
    let api = format!("http://{}", running.api_addr);
    let otlp = format!("http://{}/v1/traces", running.otlp_http_addr.unwrap());
    let client = http_client();
    post_all(
        &format!("{api}/api/v1/deployments"),
        &lines(&deployments),
        202,
    )
    .await;
    post_all(&otlp, &lines(&files.spans), 200).await;
    settle(&api).await;
    let text = metrics_text(&api).await;
    for name in [
        "epicenter_analysis_alerts_total{type=\"attribution\"}",
        "epicenter_release_verdict{",
        "epicenter_analysis_time_to_attribution_seconds_count",
        "epicenter_release_events_total",
        "epicenter_ingest_deploy_events_total{source=\"http\",outcome=\"accepted\"} 1",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    let from_api: serde_json::Value = client
        .get(format!("{api}/api/v1/alerts?type=attribution"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !from_api["alerts"].as_array().unwrap().is_empty(),
        "no attribution alert in the API: {from_api}"
    );
    let releases: serde_json::Value = client
        .get(format!("{api}/api/v1/releases"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payment = releases["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "payment" && r["version"] == "1.5.0")
        .unwrap_or_else(|| panic!("payment 1.5.0 not in /api/v1/releases: {releases}"));
    assert_eq!(payment["origin"], "cdevent");
    assert!(!payment["timeline"].as_array().unwrap().is_empty());
    let owners_api: serde_json::Value = client
        .get(format!("{api}/api/v1/owners"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(owners_api["owners"][0]["team"], "payments");
    running.stop();
    running.wait().await.unwrap();
    let live = parse_alerts(&std::fs::read_to_string(&live_alerts).unwrap()).unwrap();
    // Audit log (issue 4): every alert emitted and the deployment event are
    // recorded, and the chain verifies.
    let audit_dir = dir.path().join("data");
    let audited: Vec<serde_json::Value> =
        std::fs::read_to_string(audit_dir.join("audit/segment-000001.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    for alert in &live {
        let kind = if alert.kind == AlertType::ReleaseVerdict {
            "verdict"
        } else {
            "alert"
        };
        assert!(
            audited
                .iter()
                .any(|r| r["kind"] == kind && r["payload"]["id"] == alert.id.as_str()),
            "alert {} is not in the audit log",
            alert.id
        );
    }
    assert!(audited.iter().any(|r| r["kind"] == "release_event"));
    match epicenter::audit::verify(&audit_dir).unwrap() {
        epicenter::audit::Outcome::Intact(_) => {}
        epicenter::audit::Outcome::Broken(broken) => panic!("audit chain broken: {broken}"),
    }

    // Replay.
    let replay_alerts = dir.path().join("replay.alerts.jsonl");
    let report = replay(
        &settings,
        &ReplayOptions {
            spans: vec![files.spans.clone()],
            deployments: vec![deployments],
            incidents: Vec::new(),
            alerts: replay_alerts.clone(),
            graph: None,
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(report.deployments, 1);
    let replayed = parse_alerts(&std::fs::read_to_string(&replay_alerts).unwrap()).unwrap();

    let blamed = replayed.iter().any(|a| {
        a.kind == AlertType::Attribution
            && a.suspects
                .first()
                .is_some_and(|s| s.release.service == "payment" && s.release.version == "1.5.0")
    });
    assert!(blamed, "replay did not blame payment 1.5.0: {replayed:#?}");
    let owned = live
        .iter()
        .find(|a| a.kind == AlertType::Attribution)
        .map(|a| a.owners.iter().map(|o| o.team.clone()).collect::<Vec<_>>());
    assert_eq!(
        owned,
        Some(vec!["payments".to_owned()]),
        "owners on the live attribution"
    );
    let end = START
        .plus_nanos((spec.preset.scenario.duration_secs.unwrap() as u64 - 60) * Timestamp::SECOND);
    let live_keys = assert_live_matches_replay(&live, &replayed, end);
    assert!(
        live_keys.len() >= 2,
        "expected an attribution and a verdict: {live_keys:#?}"
    );
}
