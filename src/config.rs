//! Configuration: one YAML file, an `EPICENTER_*` environment overlay and a
//! few command-line flags, loaded into each stage's raw `Config` and
//! validated into `Settings` with every error reported at once.
//!
//! Precedence, lowest to highest: built-in defaults, the file, the
//! environment (`EPICENTER_<SECTION>__<KEY>`, e.g.
//! `EPICENTER_GRAPH__WINDOW_SECS=5`), then flags. Every option, with its
//! default, is documented in `deploy/config/example.yaml`, which a test
//! parses and validates.
//!
//! Never does: read the process environment itself (the caller passes a
//! [`Source`]), so tests never mutate the environment.

use std::fmt;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::Invalid;
use crate::{analyze, api, attribute, audit, detect, emit, graph, history, ingest, release};

/// Top-level sections; an environment variable whose first segment is not
/// one of these is ignored (so `EPICENTER_TEST_KAFKA` is not a config key).
const SECTIONS: &[&str] = &[
    "data_dir",
    "api",
    "ingest",
    "graph",
    "release",
    "detect",
    "attribute",
    "analysis",
    "emit",
    "audit",
    "history",
    "snapshot",
    "log",
];

/// The whole configuration file, as written.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Directory for durable state (graph snapshot, later the store and audit log).
    pub data_dir: PathBuf,
    /// The HTTP listener for the API, `/metrics`, `/healthz` and `/readyz`.
    pub api: api::Config,
    /// Span sources.
    pub ingest: IngestConfig,
    /// The service graph and its windows.
    pub graph: graph::Config,
    /// The release index: implicit releases, rollouts, canaries, rollbacks.
    pub release: release::Config,
    /// Baselines and anomaly detection.
    pub detect: detect::Config,
    /// Release attribution and verdicts.
    pub attribute: attribute::Config,
    /// Incident grouping and topology changes.
    pub analysis: analyze::Config,
    /// Alert delivery: Kafka, Alertmanager, file.
    pub emit: emit::Config,
    /// The hash-chained audit log under `DATA_DIR/audit/`.
    pub audit: audit::Config,
    /// The durable history in `DATA_DIR/history.redb`: retention and writer.
    pub history: history::Config,
    /// Periodic crash-safe snapshots of the pipeline's state.
    pub snapshot: SnapshotConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `snapshot:` section (crash safety).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnapshotConfig {
    /// Wall time between snapshots of the graph, the analysis journal and the
    /// Kafka offsets they cover (written together, then the offsets are
    /// committed). 0 = state is saved only on a clean stop and Kafka offsets
    /// are auto-committed after hand-off (a crash then loses the state since
    /// the last clean stop).
    pub interval_secs: u64,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self { interval_secs: 10 }
    }
}

/// `ingest:` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Capacity, in batches, of the queue between every source and the graph
    /// stage. When full, OTLP callers get `UNAVAILABLE`/503 and Kafka
    /// partitions are paused. 64 by default: as fast as 256 in every bench
    /// and 35-80 MB less resident memory under load (see the README).
    pub queue_batches: usize,
    /// OTLP/gRPC and OTLP/HTTP receivers.
    pub otlp: ingest::otlp::Config,
    /// Kafka span consumer (enabled when `brokers` is set).
    pub kafka: ingest::kafka::Config,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            queue_batches: 64,
            otlp: ingest::otlp::Config::default(),
            kafka: ingest::kafka::Config::default(),
        }
    }
}

/// `log:` section.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` or `json`.
    pub format: String,
    /// Default filter when `RUST_LOG` is unset (`info`, `epicenter=debug`, …).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./epicenter-data"),
            api: api::Config::default(),
            ingest: IngestConfig::default(),
            graph: graph::Config::default(),
            release: release::Config::default(),
            detect: detect::Config::default(),
            attribute: attribute::Config::default(),
            analysis: analyze::Config::default(),
            emit: emit::Config::default(),
            audit: audit::Config::default(),
            history: history::Config::default(),
            snapshot: SnapshotConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// Validated configuration: the only form the daemon accepts.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Durable state directory.
    pub data_dir: PathBuf,
    /// API listener and `/metrics` rendering.
    pub api: api::Settings,
    /// Queue capacity between sources and the graph.
    pub queue_batches: usize,
    /// OTLP receivers.
    pub otlp: ingest::otlp::Settings,
    /// Kafka consumer, when enabled.
    pub kafka: Option<ingest::kafka::Settings>,
    /// Graph stage.
    pub graph: graph::Settings,
    /// Release index, detection, attribution and incident grouping.
    pub analysis: analyze::Settings,
    /// Alert sinks. The Kafka sink defaults to the ingest brokers when Kafka
    /// ingest is enabled and `emit.kafka.brokers` is empty.
    pub emit: emit::Settings,
    /// The audit log.
    pub audit: audit::Settings,
    /// The durable history.
    pub history: history::Settings,
    /// Wall time between crash-safe snapshots; `None` = only on a clean stop.
    pub snapshot_interval: Option<std::time::Duration>,
    /// Log format.
    pub log_json: bool,
    /// Default log filter.
    pub log_level: String,
    /// The raw configuration, kept for `/api/v1/config` and the audit log.
    pub raw: Config,
}

/// Where configuration comes from. Tests build one by hand.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// The file's path and text, when a file was given.
    pub file: Option<(PathBuf, String)>,
    /// Environment variables (all of them; only `EPICENTER_*` are read).
    pub env: Vec<(String, String)>,
    /// Flag overrides as (dotted key, value), applied last.
    pub flags: Vec<(String, Value)>,
}

impl Source {
    /// Reads `path` (when given) and captures the process environment.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn from_process(path: Option<&std::path::Path>) -> Result<Self, ConfigErrors> {
        let file = match path {
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) => Some((path.to_path_buf(), text)),
                Err(error) => {
                    return Err(ConfigErrors(vec![Invalid::new(
                        "--config",
                        format!("cannot read {}: {error}", path.display()),
                    )]));
                }
            },
            None => None,
        };
        Ok(Self {
            file,
            env: std::env::vars().collect(),
            flags: Vec::new(),
        })
    }

    /// Adds a flag override (`key` is dotted, e.g. `ingest.otlp.grpc_listen`).
    pub fn flag(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.flags.push((key.to_string(), value.into()));
        self
    }
}

/// Every configuration error found, reported together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Invalid>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "  - {error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads and validates the configuration.
///
/// # Errors
/// Every syntax, unknown-key, type and constraint error, all at once.
pub fn load(source: &Source) -> Result<Settings, ConfigErrors> {
    let mut errors = Vec::new();
    let mut tree = match &source.file {
        Some((path, text)) => match serde_norway::from_str::<Value>(text) {
            Ok(Value::Null) => Value::Object(Map::new()),
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                errors.push(Invalid::new(
                    path.display().to_string(),
                    "must be a YAML mapping",
                ));
                Value::Object(Map::new())
            }
            Err(error) => {
                errors.push(Invalid::new(path.display().to_string(), error.to_string()));
                Value::Object(Map::new())
            }
        },
        None => Value::Object(Map::new()),
    };
    for (name, value) in &source.env {
        let Some(rest) = name.strip_prefix("EPICENTER_") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if !SECTIONS.contains(&path[0].as_str()) {
            continue;
        }
        let parsed = serde_norway::from_str::<Value>(value).unwrap_or(Value::String(value.clone()));
        set_path(&mut tree, &path, parsed, name, &mut errors);
    }
    for (key, value) in &source.flags {
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        set_path(&mut tree, &path, value.clone(), key, &mut errors);
    }
    let raw = deserialize_sections(tree, &mut errors);
    let settings = validate(&raw, &mut errors);
    match settings {
        Some(settings) if errors.is_empty() => Ok(settings),
        _ => Err(ConfigErrors(errors)),
    }
}

fn set_path(
    tree: &mut Value,
    path: &[String],
    value: Value,
    origin: &str,
    errors: &mut Vec<Invalid>,
) {
    let mut node = tree;
    for (i, segment) in path.iter().enumerate() {
        let Value::Object(map) = node else {
            errors.push(Invalid::new(
                origin,
                "overrides a key that is not a mapping",
            ));
            return;
        };
        if i + 1 == path.len() {
            map.insert(segment.clone(), value);
            return;
        }
        node = map
            .entry(segment.clone())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Deserializes section by section so that one bad section does not hide
/// the errors of the others.
fn deserialize_sections(tree: Value, errors: &mut Vec<Invalid>) -> Config {
    let mut config = Config::default();
    let Value::Object(map) = tree else {
        return config;
    };
    for (key, value) in map {
        match key.as_str() {
            "data_dir" => section(&key, value, errors, &mut config.data_dir),
            "api" => section(&key, value, errors, &mut config.api),
            "ingest" => section(&key, value, errors, &mut config.ingest),
            "graph" => section(&key, value, errors, &mut config.graph),
            "release" => section(&key, value, errors, &mut config.release),
            "detect" => section(&key, value, errors, &mut config.detect),
            "attribute" => section(&key, value, errors, &mut config.attribute),
            "analysis" => section(&key, value, errors, &mut config.analysis),
            "emit" => section(&key, value, errors, &mut config.emit),
            "audit" => section(&key, value, errors, &mut config.audit),
            "history" => section(&key, value, errors, &mut config.history),
            "snapshot" => section(&key, value, errors, &mut config.snapshot),
            "log" => section(&key, value, errors, &mut config.log),
            other => errors.push(Invalid::new(
                other,
                format!("unknown key; expected one of {}", SECTIONS.join(", ")),
            )),
        }
    }
    config
}

fn section<T: DeserializeOwned>(key: &str, value: Value, errors: &mut Vec<Invalid>, slot: &mut T) {
    match serde_json::from_value::<T>(value) {
        Ok(parsed) => *slot = parsed,
        Err(error) => errors.push(Invalid::new(key, error.to_string())),
    }
}

fn validate(raw: &Config, errors: &mut Vec<Invalid>) -> Option<Settings> {
    let api = collect(raw.api.validate(), errors);
    if raw.ingest.queue_batches == 0 {
        errors.push(Invalid::new("ingest.queue_batches", "must be at least 1"));
    }
    if raw.data_dir.as_os_str().is_empty() {
        errors.push(Invalid::new("data_dir", "must not be empty"));
    }
    let log_json = match raw.log.format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            errors.push(Invalid::new(
                "log.format",
                format!("`{other}` is not text or json"),
            ));
            false
        }
    };
    let otlp = collect(raw.ingest.otlp.validate(), errors);
    let kafka = collect(raw.ingest.kafka.validate(), errors);
    let graph = collect(raw.graph.validate(), errors);
    let skew = raw.ingest.kafka.max_event_time_skew_secs;
    if !raw.ingest.kafka.brokers.is_empty() && skew > 0 && skew >= raw.graph.lateness_secs {
        errors.push(Invalid::new(
            "ingest.kafka.max_event_time_skew_secs",
            format!(
                "must be less than graph.lateness_secs ({}), or 0 to turn alignment off",
                raw.graph.lateness_secs
            ),
        ));
    }
    let release = collect(raw.release.validate(), errors);
    let detect = collect(raw.detect.validate(), errors);
    let attribute = collect(raw.attribute.validate(), errors);
    let analysis = match (release, detect, attribute) {
        (Some(r), Some(d), Some(a)) => collect(
            analyze::Settings::new(
                &raw.analysis,
                r,
                d,
                a,
                raw.graph
                    .window_secs
                    .saturating_mul(crate::model::Timestamp::SECOND),
            ),
            errors,
        ),
        _ => None,
    };
    let mut emit_config = raw.emit.clone();
    if emit_config.kafka.brokers.is_empty() && !raw.ingest.kafka.brokers.is_empty() {
        emit_config.kafka.brokers = raw.ingest.kafka.brokers.join(",");
    }
    let emit = collect(emit_config.validate(), errors);
    let audit = collect(raw.audit.validate(), errors);
    let history = collect(raw.history.validate(), errors);
    Some(Settings {
        data_dir: raw.data_dir.clone(),
        api: api?,
        queue_batches: raw.ingest.queue_batches.max(1),
        otlp: otlp?,
        kafka: Some(kafka?).filter(ingest::kafka::Settings::enabled),
        graph: graph?,
        analysis: analysis?,
        emit: emit?,
        audit: audit?,
        history: history?,
        snapshot_interval: (raw.snapshot.interval_secs > 0)
            .then(|| std::time::Duration::from_secs(raw.snapshot.interval_secs)),
        log_json,
        log_level: raw.log.level.clone(),
        raw: raw.clone(),
    })
}

fn collect<T>(result: Result<T, Vec<Invalid>>, errors: &mut Vec<Invalid>) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(mut found) => {
            errors.append(&mut found);
            None
        }
    }
}

#[cfg(test)]
mod tests;
