//! Deployment records as a CD system would publish them: CDEvents
//! `service.*` events in spec v0.4 (`context.version` `0.4.1`, event types
//! `.0.2.0`, `subject.type`) or v0.5 (`context.specversion` `0.5.0`, types
//! `.0.3.0`, no `subject.type`), or the daemon's plain JSON form
//! (CONVENTIONS.md §4).
//!
//! * `subject.id` is `shop/<service>` (the decoder keeps the last segment);
//! * `artifactId` is a purl: half the services (by a hash of the name) ship
//!   OCI images, `pkg:oci/<service>@sha256%3A<digest>?repository_url=…&tag=<version>`
//!   with a digest derived from (service, version), the others
//!   `pkg:generic/<service>@<version>`; `removed` events carry none;
//! * `context.id` is the record id, `context.source` `/sim/cd/<environment>`;
//! * `context.timestamp`: v0.5 events are stamped when the rollout starts,
//!   v0.4 events when it finishes (a CD tool that reports completion), so a
//!   detector cannot rely on the announcement preceding exposure.
//!
//! Never does: I/O, clock, randomness.

use serde_json::{Value, json};

use super::DeployRecord;
use super::rng::{hash_str, mix};
use super::scenario::DeployKind;

/// How deployment records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, clap::ValueEnum)]
pub enum DeployFormat {
    /// The daemon's plain JSON form (`{"service","version",...}`).
    #[default]
    #[value(name = "plain")]
    Plain,
    /// A bare CDEvent, spec v0.4.1 (`context.version`, types `.0.2.0`).
    #[value(name = "cdevents-0.4")]
    CdEventsV04,
    /// A bare CDEvent, spec v0.5.0 (`context.specversion`, types `.0.3.0`).
    #[value(name = "cdevents-0.5")]
    CdEventsV05,
}

impl DeployFormat {
    /// Short stable name (`plain`, `cdevents-0.4`, `cdevents-0.5`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plain => "plain",
            Self::CdEventsV04 => "cdevents-0.4",
            Self::CdEventsV05 => "cdevents-0.5",
        }
    }
}

impl DeployRecord {
    /// The record as one JSON line in `format`.
    pub fn encode(&self, format: DeployFormat) -> String {
        match format {
            DeployFormat::Plain => self.to_json(),
            DeployFormat::CdEventsV04 => self.to_cdevent(false).to_string(),
            DeployFormat::CdEventsV05 => self.to_cdevent(true).to_string(),
        }
    }

    /// The purl naming the artifact this record deploys (see the module doc).
    pub fn artifact_purl(&self) -> String {
        if hash_str(&self.service).is_multiple_of(2) {
            let h = hash_str(&self.version);
            let digest: String = (0..4u64)
                .map(|k| format!("{:016x}", mix(&[hash_str(&self.service), h, k])))
                .collect();
            format!(
                "pkg:oci/{s}@sha256%3A{digest}?repository_url=registry.example.com%2Fshop%2F{s}&tag={v}",
                s = self.service,
                v = self.version
            )
        } else {
            format!("pkg:generic/{}@{}", self.service, self.version)
        }
    }

    fn to_cdevent(&self, v05: bool) -> Value {
        let (type_version, timestamp) = if v05 {
            ("0.3.0", self.started_at)
        } else {
            ("0.2.0", self.finished_at)
        };
        let source = format!("/sim/cd/{}", self.environment);
        let mut context = json!({
            "id": self.id,
            "source": source,
            "type": format!("dev.cdevents.service.{}.{type_version}", self.kind.as_str()),
            "timestamp": timestamp.to_rfc3339(),
        });
        let mut subject = json!({
            "id": format!("shop/{}", self.service),
            "source": source,
            "content": {
                "environment": { "id": self.environment, "source": source },
            },
        });
        if self.kind != DeployKind::Removed
            && let Some(content) = subject.get_mut("content").and_then(Value::as_object_mut)
        {
            content.insert("artifactId".to_owned(), Value::String(self.artifact_purl()));
        }
        if let (Some(c), Some(s)) = (context.as_object_mut(), subject.as_object_mut()) {
            if v05 {
                c.insert("specversion".to_owned(), json!("0.5.0"));
            } else {
                c.insert("version".to_owned(), json!("0.4.1"));
                s.insert("type".to_owned(), json!("service"));
            }
        }
        json!({ "context": context, "subject": subject })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    fn record(service: &str, kind: DeployKind) -> DeployRecord {
        DeployRecord {
            id: format!("sim-0001-{service}-1.5.0"),
            started_at: Timestamp::from_secs(1_800_000_000),
            finished_at: Timestamp::from_secs(1_800_000_120),
            service: service.to_owned(),
            version: "1.5.0".to_owned(),
            previous_version: Some("1.4.0".to_owned()),
            environment: "production".to_owned(),
            kind,
        }
    }

    #[test]
    fn v05_has_specversion_and_no_subject_type() {
        let line = record("payment", DeployKind::Upgraded).encode(DeployFormat::CdEventsV05);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["context"]["specversion"], "0.5.0");
        assert!(v["context"].get("version").is_none());
        assert_eq!(v["context"]["type"], "dev.cdevents.service.upgraded.0.3.0");
        assert!(v["subject"].get("type").is_none());
        assert_eq!(v["subject"]["content"]["environment"]["id"], "production");
        assert_eq!(v["context"]["timestamp"], "2027-01-15T08:00:00Z");
    }

    #[test]
    fn v04_has_version_subject_type_and_finish_time() {
        let line = record("cart", DeployKind::RolledBack).encode(DeployFormat::CdEventsV04);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["context"]["version"], "0.4.1");
        assert_eq!(
            v["context"]["type"],
            "dev.cdevents.service.rolledback.0.2.0"
        );
        assert_eq!(v["subject"]["type"], "service");
        assert_eq!(v["context"]["timestamp"], "2027-01-15T08:02:00Z");
    }

    #[test]
    fn purls_are_oci_with_a_tag_or_generic_with_a_version() {
        let kinds: Vec<String> = ["payment", "cart", "checkout", "catalog", "ad", "email"]
            .iter()
            .map(|s| record(s, DeployKind::Upgraded).artifact_purl())
            .collect();
        assert!(kinds.iter().any(|p| p.starts_with("pkg:oci/")), "{kinds:?}");
        assert!(
            kinds.iter().any(|p| p.starts_with("pkg:generic/")),
            "{kinds:?}"
        );
        for p in &kinds {
            if p.starts_with("pkg:oci/") {
                assert!(p.contains("@sha256%3A") && p.ends_with("&tag=1.5.0"), "{p}");
                let digest = p.split("%3A").nth(1).unwrap().split('?').next().unwrap();
                assert_eq!(digest.len(), 64, "{p}");
            } else {
                assert!(p.ends_with("@1.5.0"), "{p}");
            }
        }
    }

    #[test]
    fn removed_events_carry_no_artifact() {
        let line = record("ad", DeployKind::Removed).encode(DeployFormat::CdEventsV05);
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(v["subject"]["content"].get("artifactId").is_none());
    }
}
