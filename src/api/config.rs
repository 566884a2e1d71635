//! `api:` configuration: where the HTTP API listens and how `/metrics`
//! renders the Tempo-compatible service-graph series.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::model::Invalid;

/// `api:` section. Every option has a default.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the one HTTP listener for the API, `/metrics`, `/healthz`
    /// and `/readyz` (`--listen`).
    pub listen: String,
    /// Emit the Grafana/Tempo service-graph series (`traces_service_graph_*`)
    /// on `/metrics`. Turn off when Tempo or the Collector already generate
    /// them into the same Prometheus.
    pub graph_metrics_enabled: bool,
    /// Name prefix of those series. Grafana's service graph needs the default
    /// `traces_service_graph`; change it only to avoid double counting.
    pub graph_metrics_prefix: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9470".to_owned(),
            graph_metrics_enabled: true,
            graph_metrics_prefix: DEFAULT_GRAPH_METRICS_PREFIX.to_owned(),
        }
    }
}

/// Tempo's (and the Collector's) prefix of the service-graph series.
pub const DEFAULT_GRAPH_METRICS_PREFIX: &str = "traces_service_graph";

/// How `/metrics` renders the service-graph series (validated).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphMetricsConfig {
    /// Whether the series are rendered at all.
    pub enabled: bool,
    /// Metric name prefix, a valid Prometheus name (`traces_service_graph`).
    pub prefix: Arc<str>,
}

impl Default for GraphMetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prefix: Arc::from(DEFAULT_GRAPH_METRICS_PREFIX),
        }
    }
}

/// Validated `api:` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Listen address.
    pub listen: SocketAddr,
    /// `/metrics` service-graph series.
    pub graph_metrics: GraphMetricsConfig,
}

impl Config {
    /// Checks every option and reports all problems at once.
    ///
    /// # Errors
    /// One [`Invalid`] per bad option.
    pub fn validate(&self) -> Result<Settings, Vec<Invalid>> {
        let mut errors = Vec::new();
        let listen = match self.listen.parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(error) => {
                errors.push(Invalid::new(
                    "api.listen",
                    format!("not a socket address: {error}"),
                ));
                None
            }
        };
        if !is_metric_name(&self.graph_metrics_prefix) {
            errors.push(Invalid::new(
                "api.graph_metrics_prefix",
                "must match [a-zA-Z_][a-zA-Z0-9_]*",
            ));
        }
        match listen {
            Some(listen) if errors.is_empty() => Ok(Settings {
                listen,
                graph_metrics: GraphMetricsConfig {
                    enabled: self.graph_metrics_enabled,
                    prefix: Arc::from(self.graph_metrics_prefix.as_str()),
                },
            }),
            _ => Err(errors),
        }
    }
}

/// A Prometheus metric name without colons (colons are reserved for rules).
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let settings = Config::default().validate().unwrap();
        assert_eq!(settings.listen, "127.0.0.1:9470".parse().unwrap());
        assert_eq!(settings.graph_metrics, GraphMetricsConfig::default());
    }

    #[test]
    fn every_error_is_reported() {
        let config = Config {
            listen: "nowhere".to_owned(),
            graph_metrics_prefix: "9bad-prefix".to_owned(),
            ..Config::default()
        };
        let errors = config.validate().unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["api.listen", "api.graph_metrics_prefix"]);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let result: Result<Config, _> =
            serde_json::from_str(r#"{"listen":"127.0.0.1:1","lisen":1}"#);
        assert!(result.is_err());
    }
}
