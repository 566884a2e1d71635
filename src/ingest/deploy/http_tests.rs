//! `POST /api/v1/deployments` over a real loopback listener.

use std::path::Path;
use std::time::Duration;

use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::*;
use crate::model::DeployKind;

const PATIENCE: Duration = Duration::from_secs(10);

struct Served {
    url: String,
    rx: mpsc::Receiver<DeployEvent>,
    metrics: Metrics,
    stop: CancellationToken,
    client: reqwest::Client,
}

async fn serve(capacity: usize) -> Served {
    let (tx, rx) = mpsc::channel(capacity);
    let metrics = Metrics::register(&mut Registry::default());
    let stop = CancellationToken::new();
    let app = router(tx, metrics.clone(), stop.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(PATIENCE)
        .build()
        .unwrap();
    Served {
        url,
        rx,
        metrics,
        stop,
        client,
    }
}

impl Served {
    async fn post(&self, body: Vec<u8>, headers: &[(&str, &str)]) -> (u16, Value, HeaderMap) {
        let mut request = self.client.post(&self.url).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap();
        (status, body, headers)
    }

    async fn next(&mut self) -> DeployEvent {
        tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .expect("an event within the patience")
            .expect("channel open")
    }

    fn count(&self, outcome: Outcome) -> u64 {
        self.metrics.get(Source::Http, outcome)
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/deploy")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cdevent_v05(ty: &str) -> Value {
    json!({
        "context": {
            "specversion": "0.5.1",
            "id": "evt-http-1",
            "source": "/argocd/prod",
            "type": ty,
            "timestamp": "2026-08-20T14:27:05Z"
        },
        "subject": {
            "id": "shop/checkout-api",
            "content": {
                "environment": {"id": "production"},
                "artifactId": "pkg:oci/checkout-api@sha256%3Aabc123?tag=v2.4.1"
            }
        }
    })
}

fn structured(data: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "specversion": "1.0",
        "id": "evt-http-1",
        "source": "/argocd/prod",
        "type": data["context"]["type"],
        "datacontenttype": "application/json",
        "data": data,
    }))
    .unwrap()
}

#[tokio::test]
async fn every_accepted_form_is_queued_with_202() {
    let mut s = serve(16).await;
    let v05 = cdevent_v05("dev.cdevents.service.deployed.0.3.0");
    let bare = serde_json::to_vec(&v05).unwrap();
    /// (name, body, headers, expected service, expected version)
    type Case<'a> = (
        &'a str,
        Vec<u8>,
        Vec<(&'a str, &'a str)>,
        &'a str,
        Option<&'a str>,
    );
    let cases: [Case<'_>; 4] = [
        (
            "structured v0.5",
            structured(&v05),
            vec![("content-type", "application/cloudevents+json")],
            "checkout-api",
            Some("v2.4.1"),
        ),
        (
            "bare v0.4",
            fixture("service_deployed_v04.json"),
            vec![("content-type", "application/json")],
            "payment",
            Some("1.5.0"),
        ),
        (
            "http binary mode",
            bare,
            vec![
                ("content-type", "application/json"),
                ("ce-specversion", "1.0"),
                ("ce-id", "evt-http-1"),
                ("ce-source", "/argocd/prod"),
                ("ce-type", "dev.cdevents.service.deployed.0.3.0"),
            ],
            "checkout-api",
            Some("v2.4.1"),
        ),
        (
            "plain form",
            fixture("plain_deploy.json"),
            vec![],
            "checkout-api",
            Some("v2.5.0"),
        ),
    ];
    for (name, body, headers, service, version) in cases {
        let (status, body, _) = s.post(body, &headers).await;
        assert_eq!(status, 202, "{name}: {body}");
        assert_eq!(body["status"], "accepted", "{name}");
        assert_eq!(body["accepted"], 1, "{name}");
        assert_eq!(body["events"][0]["service"], service, "{name}");
        let event = s.next().await;
        assert_eq!(&*event.service, service, "{name}");
        assert_eq!(event.version.as_deref(), version, "{name}");
    }
    assert_eq!(s.count(Outcome::Accepted), 4);
    assert_eq!(s.count(Outcome::Invalid), 0);
}

#[tokio::test]
async fn unsupported_types_are_ignored_with_200() {
    let mut s = serve(4).await;
    let (status, body, _) = s.post(fixture("pipelinerun_started_v05.json"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ignored");
    assert!(body["reason"].as_str().unwrap().contains("unsupported"));
    // Binary mode: the ce-type header alone decides.
    let (status, body, _) = s
        .post(
            b"{}".to_vec(),
            &[
                ("ce-specversion", "1.0"),
                ("ce-type", "dev.cdevents.taskrun.started.0.2.0"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.count(Outcome::Unsupported), 2);
    assert!(s.rx.try_recv().is_err(), "nothing queued");
}

#[tokio::test]
async fn invalid_input_gets_400_naming_the_problem() {
    let s = serve(4).await;
    let (status, body, _) = s.post(b"{not json".to_vec(), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["status"], "invalid");
    assert!(body["error"].as_str().unwrap().starts_with("invalid json"));

    let mut doc = cdevent_v05("dev.cdevents.service.deployed.0.3.0");
    doc["subject"].as_object_mut().unwrap().remove("id");
    let (status, body, _) = s.post(serde_json::to_vec(&doc).unwrap(), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "missing required field subject.id");

    let (status, body, _) = s.post(Vec::new(), &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "empty value");
    assert_eq!(s.count(Outcome::Invalid), 3);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let s = serve(4).await;
    let mut body = b"{\"service\":\"".to_vec();
    body.resize(MAX_BODY_BYTES + 10, b'a');
    let (status, body, _) = s.post(body, &[]).await;
    assert_eq!(status, 413);
    assert!(body["error"].as_str().unwrap().contains("exceeds"));
    assert_eq!(s.count(Outcome::Invalid), 1);
}

#[tokio::test]
async fn a_full_queue_gets_503_with_retry_after_and_never_blocks() {
    let mut s = serve(1).await;
    let plain = fixture("plain_deploy.json");
    let (status, _, _) = s.post(plain.clone(), &[]).await;
    assert_eq!(status, 202);
    let (status, body, headers) = s.post(plain.clone(), &[]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
    assert_eq!(s.count(Outcome::Unavailable), 1);
    // Room again after the consumer takes one.
    s.next().await;
    let (status, _, _) = s.post(plain, &[]).await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn stopping_releases_the_sender_and_later_posts_get_503() {
    let mut s = serve(4).await;
    s.stop.cancel();
    let closed = tokio::time::timeout(PATIENCE, s.rx.recv()).await;
    assert!(
        matches!(closed, Ok(None)),
        "the route must not keep the channel open after stop"
    );
    let (status, body, headers) = s.post(fixture("plain_deploy.json"), &[]).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"], "the daemon is stopping");
    assert!(headers.contains_key(header::RETRY_AFTER));
}

#[tokio::test]
async fn a_json_array_is_a_batch_handled_all_or_nothing() {
    let mut s = serve(8).await;
    let plain: Value = serde_json::from_slice(&fixture("plain_deploy.json")).unwrap();
    let v04: Value = serde_json::from_slice(&fixture("service_upgraded_v04.json")).unwrap();
    let other: Value = serde_json::from_slice(&fixture("pipelinerun_started_v05.json")).unwrap();
    let batch = serde_json::to_vec(&json!([plain, other, v04])).unwrap();
    let (status, body, _) = s.post(batch, &[]).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["accepted"].clone(), body["ignored"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(s.next().await.kind, DeployKind::Deployed);
    assert_eq!(s.next().await.kind, DeployKind::Upgraded);

    // The CloudEvents batch format: structured events in an array.
    let v05 = cdevent_v05("dev.cdevents.service.rolledback.0.3.0");
    let ce: Value = serde_json::from_slice(&structured(&v05)).unwrap();
    let (status, _, _) = s
        .post(
            serde_json::to_vec(&json!([ce])).unwrap(),
            &[("content-type", "application/cloudevents-batch+json")],
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(s.next().await.kind, DeployKind::RolledBack);

    let bad = serde_json::to_vec(&json!([plain, {"service": ""}])).unwrap();
    let (status, body, _) = s.post(bad, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["index"], 1);
    assert!(
        s.rx.try_recv().is_err(),
        "nothing of a rejected batch is queued"
    );

    let long = serde_json::to_vec(&vec![plain; MAX_BATCH_EVENTS + 1]).unwrap();
    let (status, _, _) = s.post(long, &[]).await;
    assert_eq!(status, 413);

    let (status, _, _) = s.post(b"[]".to_vec(), &[]).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_batch_larger_than_the_free_room_gets_503_and_queues_nothing() {
    let mut s = serve(2).await;
    let plain: Value = serde_json::from_slice(&fixture("plain_deploy.json")).unwrap();
    let (status, _, _) = s
        .post(
            serde_json::to_vec(&json!([plain, plain, plain])).unwrap(),
            &[],
        )
        .await;
    assert_eq!(status, 503);
    assert_eq!(s.count(Outcome::Unavailable), 3);
    assert!(s.rx.try_recv().is_err());
}
