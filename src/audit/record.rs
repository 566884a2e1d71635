//! One audit record, its canonical hash, and the payloads recorded for
//! deployment events, alerts and configuration loads.
//!
//! The hash of a record is SHA-256 over the bytes `epicenter.audit/v1\n`
//! followed by the compact JSON array `[seq, at, kind, payload, prev]`, in
//! which `payload` is the payload's JSON text exactly as written in the
//! line (so float formatting can never make a verifier disagree). `prev` is
//! the previous record's hash, [`GENESIS`] for the first record ever written.
//!
//! Never does: I/O.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::model::{Alert, AlertType, DeployEvent, Incident, incident_alert_id};

/// `prev` of the first record: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Domain separation prefix of every record hash.
const DOMAIN: &[u8] = b"epicenter.audit/v1\n";

/// What a record records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The daemon started with a configuration (hash and summary only).
    ConfigLoaded,
    /// A deployment event was received.
    ReleaseEvent,
    /// A reported incident was received.
    Incident,
    /// An alert was emitted (every type but `release_verdict`).
    Alert,
    /// A `release_verdict` alert was emitted.
    Verdict,
    /// Segments were moved to `audit/archive/`.
    Archived,
    /// Records were dropped because the writer's queue was full.
    Dropped,
    /// An incomplete last line (a crash mid-write) was cut on restart.
    TornTail,
}

impl Kind {
    /// Stable snake_case name, as written in `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigLoaded => "config_loaded",
            Self::ReleaseEvent => "release_event",
            Self::Incident => "incident",
            Self::Alert => "alert",
            Self::Verdict => "verdict",
            Self::Archived => "archived",
            Self::Dropped => "dropped",
            Self::TornTail => "torn_tail",
        }
    }
}

/// One line of a segment file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the chain, from 1, without gaps.
    pub seq: u64,
    /// Wall-clock time of recording, RFC 3339 UTC.
    pub at: String,
    /// A [`Kind`] name.
    pub kind: String,
    /// What was recorded, as the JSON text written (see [`Record::payload_value`]).
    pub payload: Box<RawValue>,
    /// Hex SHA-256 of the previous record ([`GENESIS`] for the first).
    pub prev: String,
    /// Hex SHA-256 of this record (see the module docs).
    pub hash: String,
}

impl Record {
    /// Builds and hashes the record that follows `prev`.
    pub fn new(seq: u64, at: String, kind: Kind, payload: Value, prev: String) -> Self {
        let kind = kind.as_str().to_string();
        // Serializing a `Value` cannot fail (its map keys are strings).
        let payload =
            serde_json::value::to_raw_value(&payload).unwrap_or_else(|_| RawValue::NULL.to_owned());
        let hash = hash(seq, &at, &kind, &payload, &prev);
        Self {
            seq,
            at,
            kind,
            payload,
            prev,
            hash,
        }
    }

    /// The payload parsed (`Null` if unreadable).
    pub fn payload_value(&self) -> Value {
        serde_json::from_str(self.payload.get()).unwrap_or(Value::Null)
    }

    /// The hash this record's content should have.
    pub fn computed_hash(&self) -> String {
        hash(self.seq, &self.at, &self.kind, &self.payload, &self.prev)
    }
}

/// The canonical record hash.
pub fn hash(seq: u64, at: &str, kind: &str, payload: &RawValue, prev: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    // Serializing strings, numbers and raw JSON text cannot fail.
    let body = serde_json::to_vec(&(seq, at, kind, payload, prev)).unwrap_or_default();
    hasher.update(&body);
    to_hex(&hasher.finalize())
}

/// Hex SHA-256 of arbitrary bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// The payload of a `release_event` record.
pub fn release_event(event: &DeployEvent) -> Value {
    json!({
        "id": event.id,
        "source": event.source,
        "kind": event.kind.as_str(),
        "service": &*event.service,
        "environment": &*event.environment,
        "version": event.version.as_deref(),
        "artifact_id": event.artifact_id,
        "at": event.at.to_rfc3339(),
        "finished_at": event.finished_at.map(|t| t.to_rfc3339()),
        "origin": event.origin.as_str(),
    })
}

/// The payload of an `incident` record: the incident as received and the
/// id its answer alert has.
pub fn incident(incident: &Incident) -> Value {
    json!({
        "id": incident.id,
        "service": &*incident.service,
        "environment": incident.environment.as_deref(),
        "started_at": incident.started_at.to_rfc3339(),
        "title": incident.title,
        "source": incident.source.as_str(),
        "alert_id": incident_alert_id(&incident.id),
    })
}

/// The kind and payload of an emitted alert: `verdict` for release
/// verdicts, `alert` otherwise.
pub fn alert(alert: &Alert) -> (Kind, Value) {
    let kind = if alert.kind == AlertType::ReleaseVerdict {
        Kind::Verdict
    } else {
        Kind::Alert
    };
    let suspects: Vec<Value> = alert
        .suspects
        .iter()
        .map(|s| {
            json!({
                "service": s.release.service,
                "version": s.release.version,
                "environment": s.release.environment,
                "deployment_id": s.release.deployment_id,
                "confidence": s.confidence,
            })
        })
        .collect();
    let mut payload = json!({
        "id": alert.id,
        "type": alert.kind.as_str(),
        "service": alert.service(),
        "environment": alert.environment,
        "severity": alert.severity.as_str(),
        "summary": alert.summary,
        "detected_at": alert.detected_at.to_rfc3339(),
        "suspects": suspects,
        "resolves": alert.resolves,
    });
    if let (Some(verdict), Value::Object(map)) = (&alert.verdict, &mut payload) {
        map.insert(
            "verdict".into(),
            serde_json::to_value(verdict).unwrap_or(Value::Null),
        );
    }
    (kind, payload)
}

/// The payload of a `config_loaded` record: the SHA-256 of the effective
/// configuration's serialization (secrets are serialized masked, so they
/// never reach the log, and changing only a password does not change the
/// hash), plus a caller-built summary.
pub fn config_loaded(config: &Value, summary: Value) -> Value {
    let canonical = serde_json::to_vec(config).unwrap_or_default();
    json!({
        "config_sha256": sha256_hex(&canonical),
        "epicenter_version": env!("CARGO_PKG_VERSION"),
        "summary": summary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_every_field_and_round_trips_through_json() {
        let record = Record::new(
            1,
            "2026-03-02T09:22:10Z".into(),
            Kind::ReleaseEvent,
            json!({"b": 1.25, "a": "x"}),
            GENESIS.into(),
        );
        assert_eq!(record.hash.len(), 64);
        assert_eq!(record.hash, record.computed_hash());
        let line = serde_json::to_string(&record).unwrap();
        let back: Record = serde_json::from_str(&line).unwrap();
        assert_eq!(back.computed_hash(), record.hash);

        let mut altered = record.clone();
        altered.payload = serde_json::value::to_raw_value(&json!({"b": 1.26, "a": "x"})).unwrap();
        assert_ne!(altered.computed_hash(), record.hash);
        let mut altered = record.clone();
        altered.seq = 2;
        assert_ne!(altered.computed_hash(), record.hash);
        let mut altered = record.clone();
        altered.prev = "1".repeat(64);
        assert_ne!(altered.computed_hash(), record.hash);
        let mut altered = record;
        altered.kind = "alert".into();
        assert_ne!(altered.computed_hash(), altered.hash);
    }

    #[test]
    fn sha256_of_empty_input_is_the_known_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn config_payload_holds_a_hash_not_the_configuration() {
        let config = json!({"ingest": {"kafka": {"security": {"password": "***"}}}});
        let payload = config_loaded(&config, json!({"kafka": true}));
        assert_eq!(payload["config_sha256"].as_str().unwrap().len(), 64);
        assert!(!payload.to_string().contains("password"));
    }
}
