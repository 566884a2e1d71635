//! Self-metrics of incident intake, `epicenter_ingest_incidents_total
//! {transport, format, outcome}`, shared by the Kafka consumer (topics with
//! encoding `incidents`) and `POST /api/v1/incidents`.
//!
//! Labels are closed enums. Never logs.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How an incident arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A Kafka record (`kafka`).
    Kafka,
    /// `POST /api/v1/incidents` (`http`).
    Http,
}

/// The form it was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `{id, service, started_at, title}` (`plain`).
    Plain,
    /// A PagerDuty v3 webhook (`pagerduty`).
    Pagerduty,
    /// A CDEvents incident event (`cdevent`).
    Cdevent,
    /// Not recognized (invalid input) (`unknown`).
    Unknown,
}

/// What became of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Queued for the analysis stage (`accepted`).
    Accepted,
    /// Well-formed, nothing to answer (`ignored`).
    Ignored,
    /// Invalid: HTTP 400/413, or the Kafka DLQ (`invalid`).
    Invalid,
    /// Valid, but the analysis queue was full or closed: HTTP 503 (`unavailable`).
    Unavailable,
}

impl Transport {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kafka => "kafka",
            Self::Http => "http",
        }
    }
}

impl Format {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::Pagerduty => "pagerduty",
            Self::Cdevent => "cdevent",
            Self::Unknown => "unknown",
        }
    }
}

impl Outcome {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Ignored => "ignored",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
        }
    }
}

macro_rules! label_value {
    ($($t:ty),*) => {$(
        impl EncodeLabelValue for $t {
            fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
                EncodeLabelValue::encode(&self.as_str(), encoder)
            }
        }
    )*};
}
label_value!(Transport, Format, Outcome);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    transport: Transport,
    format: Format,
    outcome: Outcome,
}

/// Incident-intake metrics. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    incidents: Family<Labels, Counter>,
}

impl Metrics {
    /// Registers `incidents` in `registry`, which the caller has already
    /// prefixed with `epicenter_ingest` (so the counter is
    /// `epicenter_ingest_incidents_total`).
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "incidents",
            "Reported incidents received, by transport, form and outcome",
            metrics.incidents.clone(),
        );
        metrics
    }

    /// One incident record ended with `outcome`.
    pub fn incident(&self, transport: Transport, format: Format, outcome: Outcome) {
        self.incidents
            .get_or_create(&Labels {
                transport,
                format,
                outcome,
            })
            .inc();
    }

    /// The count so far of one series (tests, diagnostics).
    pub fn get(&self, transport: Transport, format: Format, outcome: Outcome) -> u64 {
        self.incidents
            .get_or_create(&Labels {
                transport,
                format,
                outcome,
            })
            .get()
    }
}
