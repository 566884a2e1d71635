//! A fake Alertmanager: axum on 127.0.0.1:0 that records every
//! `POST /api/v2/alerts` body and answers from a script (a status code, or
//! hang forever), then 200.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the fake answers to one request.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    /// This status, immediately.
    Status(u16),
    /// Never answer.
    Hang,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    /// Every request body, in arrival order, with the status answered (0 = hung).
    received: Vec<(Value, u16)>,
}

/// A running fake Alertmanager.
pub struct FakeAlertmanager {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    server: JoinHandle<()>,
}

impl FakeAlertmanager {
    /// Starts one that answers `script` in order, then 200 forever.
    pub async fn start(script: &[Answer]) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.iter().copied().collect(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/v2/alerts", post(handle))
            .with_state(inner.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, inner, server }
    }

    /// Every request body so far with the status answered (0 = hung).
    pub fn received(&self) -> Vec<(Value, u16)> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Bodies answered 2xx.
    pub fn accepted(&self) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|(_, s)| (200..300).contains(s))
            .map(|(v, _)| v)
            .collect()
    }
}

impl Drop for FakeAlertmanager {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(State(inner): State<Arc<Mutex<Inner>>>, body: String) -> StatusCode {
    let value: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let answer = inner
        .lock()
        .unwrap()
        .script
        .pop_front()
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Status(code) => {
            inner.lock().unwrap().received.push((value, code));
            StatusCode::from_u16(code).unwrap()
        }
        Answer::Hang => {
            inner.lock().unwrap().received.push((value, 0));
            std::future::pending::<()>().await;
            StatusCode::OK
        }
    }
}
