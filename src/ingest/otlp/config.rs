//! `ingest.otlp:` configuration of the OTLP/gRPC and OTLP/HTTP receivers.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::Invalid;

/// The OTLP specification's recommended request limit (after decompression).
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Largest accepted `max_request_bytes`: a gRPC frame length is a `u32`, and
/// a bigger single request is a client bug rather than a batch.
const MAX_MAX_REQUEST_BYTES: usize = 1024 * 1024 * 1024;

/// `ingest.otlp:` section. Every option has a default.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Run the OTLP receivers at all.
    pub enabled: bool,
    /// Address of the OTLP/gRPC receiver (`--otlp-grpc`; OTLP default port 4317).
    pub grpc_listen: String,
    /// Address of the OTLP/HTTP receiver, `POST /v1/traces` (`--otlp-http`;
    /// OTLP default port 4318).
    pub http_listen: String,
    /// Largest accepted request, in bytes, measured after decompression.
    /// Bigger requests get HTTP 413 or gRPC `RESOURCE_EXHAUSTED`.
    /// Default 64 MiB, the OTLP recommendation.
    pub max_request_bytes: usize,
    /// How long a request may wait for room in the queue to the graph stage
    /// before it is refused with HTTP 503 or gRPC `UNAVAILABLE` (clients retry).
    /// 0 refuses as soon as the queue is full.
    pub enqueue_timeout_ms: u64,
    /// The `Retry-After` (HTTP) and `RetryInfo` (gRPC) delay suggested to
    /// clients refused for backpressure, in seconds.
    pub retry_after_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            grpc_listen: "127.0.0.1:4317".to_owned(),
            http_listen: "127.0.0.1:4318".to_owned(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            enqueue_timeout_ms: 500,
            retry_after_secs: 1,
        }
    }
}

/// Validated `ingest.otlp:` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Run the receivers.
    pub enabled: bool,
    /// gRPC listen address.
    pub grpc_listen: SocketAddr,
    /// HTTP listen address.
    pub http_listen: SocketAddr,
    /// Request limit after decompression, bytes.
    pub max_request_bytes: usize,
    /// Longest wait for room in the queue.
    pub enqueue_timeout: Duration,
    /// Suggested retry delay under backpressure (whole seconds).
    pub retry_after: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enabled: true,
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 4317)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 4318)),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            enqueue_timeout: Duration::from_millis(500),
            retry_after: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// Checks every option and reports all problems at once.
    ///
    /// # Errors
    /// One [`Invalid`] per bad option.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let mut address = |key: &str, text: &str| match text.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(error) => {
                errors.push(Invalid::new(key, format!("not a socket address: {error}")));
                None
            }
        };
        let grpc_listen = address("ingest.otlp.grpc_listen", &self.grpc_listen);
        let http_listen = address("ingest.otlp.http_listen", &self.http_listen);
        if let (Some(grpc), Some(http)) = (grpc_listen, http_listen)
            && grpc == http
            && grpc.port() != 0
        {
            errors.push(Invalid::new(
                "ingest.otlp.http_listen",
                "must differ from ingest.otlp.grpc_listen",
            ));
        }
        if !(1024..=MAX_MAX_REQUEST_BYTES).contains(&self.max_request_bytes) {
            errors.push(Invalid::new(
                "ingest.otlp.max_request_bytes",
                format!("must be between 1024 and {MAX_MAX_REQUEST_BYTES}"),
            ));
        }
        if self.enqueue_timeout_ms > 60_000 {
            errors.push(Invalid::new(
                "ingest.otlp.enqueue_timeout_ms",
                "must be at most 60000",
            ));
        }
        if !(1..=3600).contains(&self.retry_after_secs) {
            errors.push(Invalid::new(
                "ingest.otlp.retry_after_secs",
                "must be between 1 and 3600",
            ));
        }
        match (grpc_listen, http_listen) {
            (Some(grpc_listen), Some(http_listen)) if errors.is_empty() => Ok(Settings {
                enabled: self.enabled,
                grpc_listen,
                http_listen,
                max_request_bytes: self.max_request_bytes,
                enqueue_timeout: Duration::from_millis(self.enqueue_timeout_ms),
                retry_after: Duration::from_secs(self.retry_after_secs),
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_to_the_default_settings() {
        assert_eq!(Config::default().validate().unwrap(), Settings::default());
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let config = Config {
            enabled: true,
            grpc_listen: "localhost".to_owned(),
            http_listen: "127.0.0.1:99999".to_owned(),
            max_request_bytes: 10,
            enqueue_timeout_ms: 600_000,
            retry_after_secs: 0,
        };
        let keys: Vec<String> = config
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(
            keys,
            [
                "ingest.otlp.grpc_listen",
                "ingest.otlp.http_listen",
                "ingest.otlp.max_request_bytes",
                "ingest.otlp.enqueue_timeout_ms",
                "ingest.otlp.retry_after_secs",
            ]
        );
    }

    #[test]
    fn one_address_cannot_serve_both_protocols() {
        let config = Config {
            http_listen: "127.0.0.1:4317".to_owned(),
            ..Config::default()
        };
        let errors = config.validate().unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key, "ingest.otlp.http_listen");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let result: Result<Config, _> = serde_json::from_str(r#"{"max_request_size":1}"#);
        assert!(result.is_err());
    }
}
