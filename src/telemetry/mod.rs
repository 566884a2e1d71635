//! Process telemetry: the tracing subscriber, the metrics registry and a
//! rate limiter for repeated warnings.
//!
//! Never does: domain logic, I/O beyond installing the global subscriber
//! (once, from `main`).

pub mod ratelimit;

use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the global tracing subscriber. `RUST_LOG` overrides `default_filter`.
/// Logs go to stderr so that stdout stays free for command output.
pub fn init_tracing(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests, embedded use) is harmless: keep the first subscriber.
    let _ignored = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// The one registry of self-metrics, created by `main` (or a test) and
/// injected; each module registers under its own `epicenter_<module>_` prefix.
pub fn new_registry() -> Registry {
    Registry::with_prefix("epicenter")
}
