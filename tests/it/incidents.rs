//! Reported incidents on the whole daemon: a bad release (payment 1.5.0)
//! is simulated; one incident on checkout is posted before the spans (plain
//! form), another after everything was analyzed (PagerDuty v3 form); both
//! are answered with payment 1.5.0 first, shown by `GET /api/v1/incidents`,
//! emitted as CDEvents `incident.detected` linked to the deployment event,
//! and `replay --incidents` answers them with the same alerts.

use std::time::Duration;

use epicenter::app::replay::{ReplayOptions, replay};
use epicenter::config::{self, Source};
use epicenter::model::{Alert, AlertType, Timestamp};
use epicenter::sim::score::parse_alerts;
use epicenter::sim::{DeployFormat, ScenarioSpec, preset, write_scenario};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::daemon::metrics_text;
use crate::live_alerts::{key, lines, post_all, settle};
use crate::support::otlp::http_client;

const START: Timestamp = Timestamp::from_secs(1_772_442_000);

/// Runs `epicenter report --incident ID` over `source` into `out` and
/// returns the Markdown, which must name payment 1.5.0 first suspect.
fn report_on(id: &str, source: &[&str], out: &std::path::Path) -> String {
    let out_dir = out.to_str().unwrap();
    let mut args = vec!["report", "--incident", id, "--out", out_dir, "--name", id];
    args.extend_from_slice(source);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_epicenter"))
        .args(&args)
        .env_remove("EPICENTER_CONFIG")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "epicenter {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let md = std::fs::read_to_string(out.join(format!("{id}.md"))).unwrap();
    assert!(md.contains("### 1. payment 1.5.0 ("), "{id}:\n{md}");
    md
}

/// Polls `GET /api/v1/incidents/{id}` until it is answered.
async fn answered(api: &str, id: &str) -> Value {
    let client = http_client();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let response = client
            .get(format!("{api}/api/v1/incidents/{id}"))
            .send()
            .await
            .unwrap();
        if response.status() == 200 {
            let body: Value = response.json().await.unwrap();
            if body["status"] == "answered" {
                return body;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "incident {id} was never answered"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn blames_payment(alert: &Value) -> bool {
    alert["type"] == "attribution"
        && alert["suspects"][0]["release"]["service"] == "payment"
        && alert["suspects"][0]["release"]["version"] == "1.5.0"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_answered_emitted_as_cdevents_and_replayed_alike() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = preset("bad-release", 660.0).unwrap();
    p.scenario.duration_secs = Some(660.0 + 120.0 + 600.0);
    let spec = ScenarioSpec {
        preset: p,
        seed: 4243,
        rate_rps: 10.0,
        start: START,
        deployments: Some(DeployFormat::CdEventsV05),
        gzip: false,
    };
    let files = write_scenario(&spec, dir.path()).await.unwrap();
    let deployments = files.deployments.clone().unwrap();
    let deployment: Value = serde_json::from_str(&lines(&deployments)[0]).unwrap();
    let deployment_id = deployment["context"]["id"].as_str().unwrap().to_owned();

    let started = START.plus_nanos(780 * Timestamp::SECOND).to_rfc3339();
    let plain = json!({"id": "INC-early", "service": "checkout", "started_at": started,
                       "title": "checkout errors"});
    let later = START.plus_nanos(840 * Timestamp::SECOND).to_rfc3339();
    let pagerduty = json!({"event": {
        "id": "5ac64822", "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": later,
        "data": {"id": "PT4KHLK", "type": "incident", "title": "checkout is on fire",
                 "created_at": later, "status": "triggered",
                 "service": {"id": "PIJ90N7", "type": "service_reference", "summary": "checkout"}}}});
    let incidents_file = dir.path().join("incidents.jsonl");
    std::fs::write(&incidents_file, format!("{plain}\n{pagerduty}\n")).unwrap();

    let live_alerts = dir.path().join("live.alerts.jsonl");
    let cdevents = dir.path().join("cdevents.jsonl");
    let source = Source::default()
        .flag("data_dir", dir.path().join("data").display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.grpc_listen", "127.0.0.1:0")
        .flag("ingest.otlp.http_listen", "127.0.0.1:0")
        .flag("emit.file.path", live_alerts.display().to_string())
        .flag("emit.cdevents.path", cdevents.display().to_string());
    let settings = config::load(&source).unwrap();
    let running = epicenter::app::start(
        settings.clone(),
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let api = format!("http://{}", running.api_addr);
    let otlp = format!("http://{}/v1/traces", running.otlp_http_addr.unwrap());
    let incidents_url = format!("{api}/api/v1/incidents");
    post_all(
        &format!("{api}/api/v1/deployments"),
        &lines(&deployments),
        202,
    )
    .await;
    post_all(&incidents_url, &[plain.to_string()], 202).await;
    // Bad input: a clear 400, counted.
    post_all(
        &incidents_url,
        &["{\"service\": \"checkout\"}".to_owned()],
        400,
    )
    .await;
    post_all(&otlp, &lines(&files.spans), 200).await;
    settle(&api).await;
    // Reported after the fact.
    post_all(&incidents_url, &[pagerduty.to_string()], 202).await;

    let early = answered(&api, "INC-early").await;
    assert!(blames_payment(&early["answer"]), "{early:#}");
    assert_eq!(
        early["culprit"]["release"]["deployment_id"],
        deployment_id.as_str()
    );
    assert_eq!(early["answer"]["incident"]["id"], "INC-early");
    let late = answered(&api, "PT4KHLK").await;
    assert!(blames_payment(&late["answer"]), "{late:#}");
    assert_eq!(late["incident"]["source"], "pagerduty");
    let list: Value = http_client()
        .get(&incidents_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["incidents"].as_array().unwrap().len(), 2, "{list:#}");
    let missing = http_client()
        .get(format!("{incidents_url}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let text = metrics_text(&api).await;
    for series in [
        "epicenter_ingest_incidents_total{transport=\"http\",format=\"plain\",outcome=\"accepted\"} 1",
        "epicenter_ingest_incidents_total{transport=\"http\",format=\"pagerduty\",outcome=\"accepted\"} 1",
        "epicenter_ingest_incidents_total{transport=\"http\",format=\"unknown\",outcome=\"invalid\"} 1",
        "epicenter_analysis_incidents_answered_total{type=\"attribution\"} 2",
    ] {
        assert!(text.contains(series), "/metrics lacks {series}:\n{text}");
    }
    // A post-mortem draft of the reported incident, through the daemon.
    let server = api.clone();
    let reports = dir.path().join("reports");
    let out = reports.clone();
    let md =
        tokio::task::spawn_blocking(move || report_on("INC-early", &["--server", &server], &out))
            .await
            .unwrap();
    assert!(
        md.contains("checkout errors"),
        "the incident's title:\n{md}"
    );
    running.stop();
    running.wait().await.unwrap();
    // And from the history the daemon left, offline.
    let data = dir.path().join("data");
    let md = report_on("PT4KHLK", &["--data-dir", data.to_str().unwrap()], &reports);
    assert!(
        md.contains("checkout is on fire"),
        "the incident's title:\n{md}"
    );
    // After a restart the API still lists both answers (from the history).
    let restarted = epicenter::app::start(
        settings.clone(),
        epicenter::telemetry::new_registry(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let api = format!("http://{}", restarted.api_addr);
    let again = answered(&api, "INC-early").await;
    assert_eq!(again["answer"], early["answer"], "{again:#}");
    assert_eq!(again["culprit"], early["culprit"]);
    assert_eq!(again["incident"], early["incident"]);
    let again = answered(&api, "PT4KHLK").await;
    assert_eq!(again["incident"]["source"], "pagerduty");
    assert_eq!(again["answer"], late["answer"]);
    restarted.stop();
    restarted.wait().await.unwrap();

    // CDEvents incident.detected, linked to the deployment event.
    let events: Vec<Value> = lines(&cdevents)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    for event in &events {
        assert_eq!(
            event["context"]["type"],
            "dev.cdevents.incident.detected.0.3.0"
        );
        assert_eq!(
            event["context"]["links"][0]["target"]["contextId"],
            deployment_id.as_str()
        );
        assert_eq!(event["subject"]["content"]["service"]["id"], "checkout");
        assert!(
            event["subject"]["content"]["artifactId"]
                .as_str()
                .is_some_and(|a| a.starts_with("pkg:")),
            "{event:#}"
        );
    }
    // The audit log has both incidents.
    let audit =
        std::fs::read_to_string(dir.path().join("data/audit/segment-000001.jsonl")).unwrap();
    assert_eq!(audit.matches("\"kind\":\"incident\"").count(), 2);

    // Replay with the same incidents: the same answers.
    let replay_alerts = dir.path().join("replay.alerts.jsonl");
    let report = replay(
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
    assert_eq!(report.incidents, 2);
    let replayed = parse_alerts(&std::fs::read_to_string(&replay_alerts).unwrap()).unwrap();
    let live = parse_alerts(&std::fs::read_to_string(&live_alerts).unwrap()).unwrap();
    let answers = |alerts: &[Alert]| {
        let mut keys: Vec<_> = alerts
            .iter()
            .filter(|a| a.incident.is_some())
            .map(key)
            .collect();
        keys.sort();
        keys
    };
    let (live_answers, replay_answers) = (answers(&live), answers(&replayed));
    assert_eq!(live_answers.len(), 2, "{live_answers:#?}");
    assert_eq!(live_answers, replay_answers);
    assert!(live_answers.iter().all(|k| k.1 == AlertType::Attribution));
}
