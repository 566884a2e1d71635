//! `POST /api/v1/deployments` on the whole daemon (`app::start`): our own
//! deployment fixtures and the shared CDEvents examples (when present), in
//! the forms a CI system sends; the counters on `/metrics`; and a clean stop
//! while the route is still mounted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use epicenter::config::{self, Source};
use serde_json::Value;

use crate::support::fixtures::{own_fixtures_dir, shared_fixtures_dir};
use crate::support::otlp::http_client;

async fn start(dir: &Path) -> epicenter::app::Running {
    let source = Source::default()
        .flag("data_dir", dir.display().to_string())
        .flag("api.listen", "127.0.0.1:0")
        .flag("ingest.otlp.enabled", false);
    let settings = config::load(&source).unwrap();
    epicenter::app::start(
        settings,
        epicenter::telemetry::new_registry(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap()
}

async fn post(url: &str, path: &Path, headers: &[(&str, &str)]) -> (u16, Value) {
    let body = std::fs::read(path).unwrap();
    let mut request = http_client().post(url).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn json_files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && p.file_name().and_then(|n| n.to_str()).is_some_and(&keep)
        })
        .collect();
    files.sort();
    files
}

fn metric(text: &str, outcome: &str) -> f64 {
    let series =
        format!("epicenter_ingest_deploy_events_total{{source=\"http\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn fixtures_posted_to_the_daemon_are_accepted_or_ignored_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let api = format!("http://{}", running.api_addr);
    let url = format!("{api}/api/v1/deployments");

    let (mut accepted, mut ignored) = (0, 0);
    for path in json_files(&own_fixtures_dir().join("deploy"), |_| true) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (status, body) = post(&url, &path, &[("content-type", "application/json")]).await;
        if name.starts_with("pipelinerun") {
            assert_eq!(
                (status, body["status"].as_str()),
                (200, Some("ignored")),
                "{name}: {body}"
            );
            ignored += 1;
        } else {
            assert_eq!(status, 202, "{name}: {body}");
            accepted += 1;
        }
    }

    match shared_fixtures_dir().map(|d| d.join("examples")) {
        Some(examples) if examples.is_dir() => {
            let events = json_files(&examples, |n| {
                n.starts_with("service_") || n.starts_with("ce_")
            });
            assert!(
                !events.is_empty(),
                "no deployment examples in {}",
                examples.display()
            );
            for path in &events {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let content_type = if name.starts_with("ce_") {
                    "application/cloudevents+json"
                } else {
                    "application/json"
                };
                let (status, body) = post(&url, path, &[("content-type", content_type)]).await;
                assert_eq!(status, 202, "{name}: {body}");
                assert_eq!(body["events"][0]["service"], "checkout-api", "{name}");
                accepted += 1;
            }
            // HTTP binary mode: the CDEvent as the body, the envelope in ce-* headers.
            let (status, body) = post(
                &url,
                &examples.join("service_deployed.json"),
                &[
                    ("content-type", "application/json"),
                    ("ce-specversion", "1.0"),
                    ("ce-id", "0b6a1c1e-8a39-4c51-9b3e-6f0d2f7d1a01"),
                    ("ce-source", "/argocd/prod-eu-1"),
                    ("ce-type", "dev.cdevents.service.deployed.0.3.0"),
                ],
            )
            .await;
            assert_eq!(status, 202, "binary mode: {body}");
            assert_eq!(body["events"][0]["version"], "v2.4.1");
            accepted += 1;
        }
        _ => eprintln!(
            "skipping the shared CDEvents examples: shared fixtures not found (set EPICENTER_SHARED_DIR)"
        ),
    }

    let bad = http_client()
        .post(&url)
        .body(r#"{"service": "checkout-api"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["error"], "missing required field started_at");

    let text = http_client()
        .get(format!("{api}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(metric(&text, "accepted"), f64::from(accepted), "{text}");
    assert_eq!(metric(&text, "unsupported"), f64::from(ignored));
    assert_eq!(metric(&text, "invalid"), 1.0);

    // The route holds the deployment queue's sender; stopping must not wait on it.
    running.stop();
    tokio::time::timeout(Duration::from_secs(20), running.wait())
        .await
        .expect("the daemon stops with the deployment route mounted")
        .unwrap();
}
