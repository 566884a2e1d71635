//! A graceful restart in the middle of an incident changes no alert: the
//! daemon saves its analysis journal (recent windows and deployment events,
//! reported incidents pending and answered) with the graph, rebuilds the
//! analyzer from it on start, and goes on to emit exactly what `replay`
//! finds for the whole input, with no alert lost or repeated: a reported
//! incident pending at the stop is answered after it (once), and one
//! answered before it and re-sent after it is not answered again.

use epicenter::app::replay::{ReplayOptions, replay};
use epicenter::config::{self, Settings, Source};
use epicenter::model::{AlertType, Timestamp};
use epicenter::sim::score::parse_alerts;
use epicenter::sim::{DeployFormat, ScenarioSpec, preset, write_scenario};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::live_alerts::{assert_live_matches_replay, lines, post_all, settle};
use crate::support::otlp::http_client;

const START: Timestamp = Timestamp::from_secs(1_772_442_000);

/// A reported incident on checkout (which calls payment) at `secs` into the run.
fn incident(id: &str, secs: u64) -> String {
    let started = START.plus_nanos(secs * Timestamp::SECOND).to_rfc3339();
    json!({"id": id, "service": "checkout", "started_at": started, "title": "checkout errors"})
        .to_string()
}

/// One daemon run: `pending` must be listed as pending by the API at start
/// (restored from the journal), then the deployments, incidents and spans
/// are posted and the daemon stops once analysis settled.
async fn run(
    settings: &Settings,
    deployments: &[String],
    incidents: &[String],
    pending: Option<&str>,
    spans: &[String],
) {
    let running = epicenter::app::start(
        settings.clone(),
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let api = format!("http://{}", running.api_addr);
    let otlp = format!("http://{}/v1/traces", running.otlp_http_addr.unwrap());
    if let Some(id) = pending {
        let entry: Value = http_client()
            .get(format!("{api}/api/v1/incidents/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(entry["status"], "pending", "{entry:#}");
    }
    post_all(&format!("{api}/api/v1/deployments"), deployments, 202).await;
    post_all(&format!("{api}/api/v1/incidents"), incidents, 202).await;
    post_all(&otlp, spans, 200).await;
    settle(&api).await;
    running.stop();
    running.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_during_an_incident_neither_loses_nor_repeats_an_alert() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = preset("rollback", 660.0).unwrap();
    p.scenario.duration_secs = Some(660.0 + 420.0 + 720.0);
    let spec = ScenarioSpec {
        preset: p,
        seed: 777,
        rate_rps: 10.0,
        start: START,
        deployments: Some(DeployFormat::Plain),
        gzip: false,
    };
    let files = write_scenario(&spec, dir.path()).await.unwrap();
    let deployments = files.deployments.clone().unwrap();
    let live_alerts = dir.path().join("live.alerts.jsonl");
    let source = Source::default()
        .flag("data_dir", dir.path().join("data").display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.grpc_listen", "127.0.0.1:0")
        .flag("ingest.otlp.http_listen", "127.0.0.1:0")
        .flag("emit.file.path", live_alerts.display().to_string());
    let settings = config::load(&source).unwrap();

    // The bad release goes out at 660 s and is rolled back at 1080 s: stop
    // at about 900 s, while the incident is open.
    let spans = lines(&files.spans);
    let cut = spans.len() * 900 / 1800;
    // INC-answered is due at about 840 s (before the stop), INC-pending at
    // about 1020 s (after it); both reach the daemon before the spans.
    let (answered, pending) = (incident("INC-answered", 780), incident("INC-pending", 960));
    let incidents_file = dir.path().join("incidents.jsonl");
    std::fs::write(&incidents_file, format!("{answered}\n{pending}\n")).unwrap();
    run(
        &settings,
        &lines(&deployments),
        &[answered.clone(), pending],
        None,
        &spans[..cut],
    )
    .await;
    let before = parse_alerts(&std::fs::read_to_string(&live_alerts).unwrap()).unwrap();
    assert!(
        before.iter().any(|a| a.kind == AlertType::Attribution),
        "the incident should be attributed before the restart: {before:#?}"
    );
    let answers_before = before.iter().filter(|a| a.incident.is_some()).count();
    assert_eq!(
        answers_before, 1,
        "only INC-answered is due before the stop"
    );
    // INC-answered is re-sent after the restart (a re-delivery): ignored.
    run(
        &settings,
        &[],
        &[answered],
        Some("INC-pending"),
        &spans[cut..],
    )
    .await;
    let live = parse_alerts(&std::fs::read_to_string(&live_alerts).unwrap()).unwrap();

    let replay_alerts = dir.path().join("replay.alerts.jsonl");
    replay(
        &settings,
        &ReplayOptions {
            spans: vec![files.spans.clone()],
            deployments: vec![deployments],
            incidents: vec![incidents_file],
            alerts: replay_alerts.clone(),
            graph: None,
            progress: false,
        },
    )
    .unwrap();
    let replayed = parse_alerts(&std::fs::read_to_string(&replay_alerts).unwrap()).unwrap();
    let end = START
        .plus_nanos((spec.preset.scenario.duration_secs.unwrap() as u64 - 60) * Timestamp::SECOND);
    let live_keys = assert_live_matches_replay(&live, &replayed, end);
    let mut unique = live_keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        live_keys.len(),
        "an alert was repeated: {live_keys:#?}"
    );
    let mut answered_ids: Vec<_> = live
        .iter()
        .filter_map(|a| a.incident.as_ref().map(|i| i.id.as_str()))
        .collect();
    answered_ids.sort_unstable();
    assert_eq!(answered_ids, ["INC-answered", "INC-pending"]);
    assert!(
        live.iter().any(|a| a.kind == AlertType::Resolved)
            && live.iter().any(|a| a.kind == AlertType::ReleaseVerdict),
        "the resolved alert and the verdict come after the restart: {live_keys:#?}"
    );
}
