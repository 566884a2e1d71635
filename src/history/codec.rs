//! The compact on-disk form of one detection window: a string table and one
//! numeric row per series, as JSON, deflated.
//!
//! Only the series kinds re-examination reads are kept: service, service by
//! version, edge, and edge by the caller's version. Operation series and
//! edges by the callee's version are dropped (they are the bulk of a window
//! and no query reads them).
//!
//! Never does: I/O.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::sync::Arc;

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::{Deserialize, Serialize};

use crate::model::{
    ConnectionType, LatencySummary, SeriesKey, SeriesStats, Timestamp, WindowStats,
};

/// kind, environment, a, b, c (string-table indexes), requests, errors,
/// latency count, sum, p50, p95, p99, max, instances.
type Row = (
    u8,
    u32,
    u32,
    u32,
    u32,
    u64,
    u64,
    u64,
    f64,
    f64,
    f64,
    f64,
    f64,
    u32,
);

#[derive(Serialize, Deserialize)]
struct Encoded {
    start: u64,
    end: u64,
    names: Vec<String>,
    rows: Vec<Row>,
}

const SERVICE: u8 = 0;
const SERVICE_VERSION: u8 = 1;
const EDGE: u8 = 2;
const EDGE_BY_CLIENT_VERSION: u8 = 3;

fn connection_code(c: ConnectionType) -> u32 {
    match c {
        ConnectionType::Direct => 0,
        ConnectionType::VirtualNode => 1,
        ConnectionType::MessagingSystem => 2,
        ConnectionType::Database => 3,
    }
}

fn connection_from(code: u32) -> ConnectionType {
    match code {
        1 => ConnectionType::VirtualNode,
        2 => ConnectionType::MessagingSystem,
        3 => ConnectionType::Database,
        _ => ConnectionType::Direct,
    }
}

/// Whether a series kind is stored.
#[cfg(test)]
pub(crate) fn kept(key: &SeriesKey) -> bool {
    !matches!(
        key,
        SeriesKey::Operation { .. } | SeriesKey::EdgeByServerVersion { .. }
    )
}

/// Encodes `window` (only the kept series kinds).
pub(crate) fn encode(window: &WindowStats) -> Result<Vec<u8>, std::io::Error> {
    let mut names: Vec<String> = Vec::new();
    let mut index: BTreeMap<Arc<str>, u32> = BTreeMap::new();
    let mut name = |s: &Arc<str>| -> u32 {
        if let Some(i) = index.get(s) {
            return *i;
        }
        let i = names.len() as u32;
        names.push(s.to_string());
        index.insert(s.clone(), i);
        i
    };
    let mut rows = Vec::with_capacity(window.series.len());
    for (key, s) in &window.series {
        let (kind, env, a, b, c) = match key {
            SeriesKey::Service {
                environment,
                service,
            } => (SERVICE, name(environment), name(service), 0, 0),
            SeriesKey::ServiceVersion {
                environment,
                service,
                version,
            } => (
                SERVICE_VERSION,
                name(environment),
                name(service),
                name(version),
                0,
            ),
            SeriesKey::Edge {
                environment,
                client,
                server,
                connection_type,
            } => (
                EDGE,
                name(environment),
                name(client),
                name(server),
                connection_code(*connection_type),
            ),
            SeriesKey::EdgeByClientVersion {
                environment,
                client,
                client_version,
                server,
            } => (
                EDGE_BY_CLIENT_VERSION,
                name(environment),
                name(client),
                name(server),
                name(client_version),
            ),
            SeriesKey::Operation { .. } | SeriesKey::EdgeByServerVersion { .. } => continue,
        };
        let l = s.latency;
        rows.push((
            kind,
            env,
            a,
            b,
            c,
            s.requests,
            s.errors,
            l.count,
            l.sum,
            l.p50,
            l.p95,
            l.p99,
            l.max,
            s.instances,
        ));
    }
    let encoded = Encoded {
        start: window.start.nanos(),
        end: window.end.nanos(),
        names,
        rows,
    };
    let json = serde_json::to_vec(&encoded).map_err(std::io::Error::other)?;
    let mut deflate = DeflateEncoder::new(Vec::new(), Compression::default());
    deflate.write_all(&json)?;
    deflate.finish()
}

/// Decodes what [`encode`] wrote; series come back sorted by key.
pub(crate) fn decode(bytes: &[u8]) -> Result<WindowStats, std::io::Error> {
    let mut json = Vec::new();
    DeflateDecoder::new(bytes).read_to_end(&mut json)?;
    let encoded: Encoded = serde_json::from_slice(&json).map_err(std::io::Error::other)?;
    let names: Vec<Arc<str>> = encoded
        .names
        .iter()
        .map(|n| Arc::from(n.as_str()))
        .collect();
    let name = |i: u32| -> Result<Arc<str>, std::io::Error> {
        names
            .get(i as usize)
            .cloned()
            .ok_or_else(|| std::io::Error::other("window row names an unknown string"))
    };
    let mut series = Vec::with_capacity(encoded.rows.len());
    for r in encoded.rows {
        let (kind, env, a, b, c) = (r.0, r.1, r.2, r.3, r.4);
        let key = match kind {
            SERVICE => SeriesKey::Service {
                environment: name(env)?,
                service: name(a)?,
            },
            SERVICE_VERSION => SeriesKey::ServiceVersion {
                environment: name(env)?,
                service: name(a)?,
                version: name(b)?,
            },
            EDGE => SeriesKey::Edge {
                environment: name(env)?,
                client: name(a)?,
                server: name(b)?,
                connection_type: connection_from(c),
            },
            EDGE_BY_CLIENT_VERSION => SeriesKey::EdgeByClientVersion {
                environment: name(env)?,
                client: name(a)?,
                server: name(b)?,
                client_version: name(c)?,
            },
            _ => return Err(std::io::Error::other("window row of an unknown kind")),
        };
        let stats = SeriesStats {
            requests: r.5,
            errors: r.6,
            latency: LatencySummary {
                count: r.7,
                sum: r.8,
                p50: r.9,
                p95: r.10,
                p99: r.11,
                max: r.12,
            },
            instances: r.13,
        };
        series.push((key, stats));
    }
    series.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(WindowStats {
        start: Timestamp(encoded.start),
        end: Timestamp(encoded.end),
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn window(start_secs: u64, requests: u64) -> WindowStats {
        let env: Arc<str> = "prod".into();
        let stats = |r: u64, e: u64| SeriesStats {
            requests: r,
            errors: e,
            latency: LatencySummary {
                count: r,
                sum: 0.05 * r as f64,
                p50: 0.04,
                p95: 0.09,
                p99: 0.123_456_789,
                max: 0.5,
            },
            instances: 2,
        };
        let mut series = vec![
            (
                SeriesKey::Service {
                    environment: env.clone(),
                    service: "checkout".into(),
                },
                stats(requests, 1),
            ),
            (
                SeriesKey::ServiceVersion {
                    environment: env.clone(),
                    service: "checkout".into(),
                    version: "1.2.0".into(),
                },
                stats(requests, 1),
            ),
            (
                SeriesKey::Edge {
                    environment: env.clone(),
                    client: "checkout".into(),
                    server: "postgres".into(),
                    connection_type: ConnectionType::Database,
                },
                stats(requests / 2, 0),
            ),
            (
                SeriesKey::EdgeByClientVersion {
                    environment: env.clone(),
                    client: "checkout".into(),
                    client_version: "1.2.0".into(),
                    server: "postgres".into(),
                },
                stats(requests / 2, 0),
            ),
            (
                SeriesKey::Operation {
                    environment: env.clone(),
                    service: "checkout".into(),
                    operation: "GET /cart".into(),
                },
                stats(requests, 0),
            ),
        ];
        series.sort_by(|a, b| a.0.cmp(&b.0));
        WindowStats {
            start: Timestamp::from_secs(start_secs),
            end: Timestamp::from_secs(start_secs + 30),
            series,
        }
    }

    #[test]
    fn a_window_round_trips_without_operation_series() {
        let w = window(1_000, 40);
        let back = decode(&encode(&w).unwrap()).unwrap();
        let expected: Vec<_> = w.series.iter().filter(|(k, _)| kept(k)).cloned().collect();
        assert_eq!(back.start, w.start);
        assert_eq!(back.end, w.end);
        assert_eq!(back.series, expected);
        assert_eq!(back.series.len(), 4);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"not deflate at all").is_err());
    }
}
