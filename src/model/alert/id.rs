//! Stable identities: series labels and alert ids.

use crate::model::anomaly::Signal;
use crate::model::time::Timestamp;
use crate::model::window::SeriesKey;

use super::AlertType;

/// Renders a series key as a stable string: `service:prod/checkout`,
/// `edge:prod/frontend->checkout`, `operation:prod/checkout/POST /pay`,
/// `version:prod/checkout@1.5.0`, `edge_client_version:prod/a@1.2->b`,
/// `edge_server_version:prod/a->b@3.1`.
pub fn series_label(key: &SeriesKey) -> String {
    match key {
        SeriesKey::Service {
            environment,
            service,
        } => format!("service:{environment}/{service}"),
        SeriesKey::Edge {
            environment,
            client,
            server,
            ..
        } => {
            format!("edge:{environment}/{client}->{server}")
        }
        SeriesKey::EdgeByClientVersion {
            environment,
            client,
            client_version,
            server,
        } => {
            format!("edge_client_version:{environment}/{client}@{client_version}->{server}")
        }
        SeriesKey::EdgeByServerVersion {
            environment,
            client,
            server,
            server_version,
        } => {
            format!("edge_server_version:{environment}/{client}->{server}@{server_version}")
        }
        SeriesKey::Operation {
            environment,
            service,
            operation,
        } => {
            format!("operation:{environment}/{service}/{operation}")
        }
        SeriesKey::ServiceVersion {
            environment,
            service,
            version,
        } => {
            format!("version:{environment}/{service}@{version}")
        }
    }
}

/// The environment and the "service" of a series (an edge's client).
pub fn series_scope(key: &SeriesKey) -> (&str, &str) {
    match key {
        SeriesKey::Service {
            environment,
            service,
        }
        | SeriesKey::Operation {
            environment,
            service,
            ..
        }
        | SeriesKey::ServiceVersion {
            environment,
            service,
            ..
        } => (environment, service),
        SeriesKey::Edge {
            environment,
            client,
            ..
        }
        | SeriesKey::EdgeByClientVersion {
            environment,
            client,
            ..
        }
        | SeriesKey::EdgeByServerVersion {
            environment,
            client,
            ..
        } => (environment, client),
    }
}

/// The stable alert id: a 64-bit FNV-1a hash of (type, environment, series,
/// signal, onset window index), as `<type>-<16 hex digits>`. `onset_window_ns`
/// quantizes the onset so that re-estimating it inside one window keeps the id;
/// 0 means "do not quantize". FNV is used because it is fixed by its spec,
/// unlike `std`'s hasher, so ids survive upgrades and restarts.
pub fn alert_id(
    kind: AlertType,
    environment: &str,
    series: &str,
    signal: &str,
    onset: Timestamp,
    onset_window_ns: u64,
) -> String {
    let window = onset
        .nanos()
        .checked_div(onset_window_ns)
        .unwrap_or(onset.nanos());
    let mut hash = Fnv64::new();
    for part in [kind.as_str(), environment, series, signal] {
        hash.write(part.as_bytes());
        hash.write(&[0xff]); // separator: ("ab","c") != ("a","bc")
    }
    hash.write(&window.to_le_bytes());
    format!("{}-{:016x}", kind.as_str(), hash.finish())
}

/// The stable id of the alert answering a reported incident:
/// `incident-<16 hex digits>`, an FNV-1a hash of the incident id alone, so
/// a re-sent or re-answered incident keeps it whatever the answer says.
pub fn incident_alert_id(incident_id: &str) -> String {
    let mut hash = Fnv64::new();
    hash.write(b"incident");
    hash.write(&[0xff]);
    hash.write(incident_id.as_bytes());
    format!("incident-{:016x}", hash.finish())
}

/// The signal name of a [`Signal`], for ids and alerts.
pub fn signal_name(signal: Signal) -> &'static str {
    signal.as_str()
}

struct Fnv64(u64);

impl Fnv64 {
    const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    const fn finish(&self) -> u64 {
        self.0
    }
}
