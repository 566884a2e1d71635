//! The owners file: service → team, on-call channel and tier, so every
//! alert names who owns what it is about and Alertmanager can route it.
//!
//! ```yaml
//! payment:
//!   team: payments
//!   channel: "#payments-oncall"
//!   tier: 1
//! checkout:
//!   team: storefront
//! ```
//!
//! Never does: read the file (the configuration loader does and hands the
//! text to [`Owners::parse`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::model::{Alert, OwnerRef};

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct Entry {
    team: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    tier: Option<u8>,
}

/// Owners by service; empty when no file is configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Owners {
    by_service: Arc<BTreeMap<String, Entry>>,
}

impl Owners {
    /// Parses the YAML text of an owners file.
    ///
    /// # Errors
    /// A message naming what is wrong (not a mapping, unknown key, missing
    /// `team`, a tier that is not 0–255).
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let by_service: BTreeMap<String, Entry> =
            serde_norway::from_str(text).map_err(|e| e.to_string())?;
        if let Some((service, _)) = by_service.iter().find(|(_, e)| e.team.trim().is_empty()) {
            return Err(format!("{service}: team must not be empty"));
        }
        Ok(Self {
            by_service: Arc::new(by_service),
        })
    }

    /// Services with an owner.
    pub fn len(&self) -> usize {
        self.by_service.len()
    }

    /// Whether no service has an owner.
    pub fn is_empty(&self) -> bool {
        self.by_service.is_empty()
    }

    /// The owner of `service`, if known.
    pub fn of(&self, service: &str) -> Option<OwnerRef> {
        self.by_service.get(service).map(|e| OwnerRef {
            service: service.to_string(),
            team: e.team.clone(),
            channel: e.channel.clone(),
            tier: e.tier,
        })
    }

    /// Every owner, sorted by service.
    pub fn all(&self) -> Vec<OwnerRef> {
        self.by_service.keys().filter_map(|s| self.of(s)).collect()
    }

    /// Fills `alert.owners`: the alert's service, then the release it names.
    pub fn annotate(&self, alert: &mut Alert) {
        if self.is_empty() {
            return;
        }
        let release = alert
            .suspects
            .first()
            .map(|s| s.release.service.clone())
            .or_else(|| alert.verdict.as_ref().map(|v| v.release.service.clone()))
            .or_else(|| {
                alert
                    .topology
                    .as_ref()
                    .and_then(|t| t.release.as_ref())
                    .map(|r| r.service.clone())
            });
        let mut services = vec![alert.service().to_string()];
        if let Some(r) = release
            && !services.contains(&r)
        {
            services.push(r);
        }
        alert.owners = services.iter().filter_map(|s| self.of(s)).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_teams_channels_and_tiers_and_rejects_unknown_keys() {
        let owners = Owners::parse(
            "payment:\n  team: payments\n  channel: \"#pay\"\n  tier: 1\ncheckout:\n  team: storefront\n",
        )
        .unwrap();
        assert_eq!(owners.len(), 2);
        let pay = owners.of("payment").unwrap();
        assert_eq!(
            (pay.team.as_str(), pay.channel.as_str(), pay.tier),
            ("payments", "#pay", Some(1))
        );
        assert!(owners.of("cart").is_none());
        assert!(Owners::parse("payment:\n  squad: x\n").is_err());
        assert!(Owners::parse("payment:\n  team: \"\"\n").is_err());
        assert!(Owners::parse("- a\n").is_err());
        assert!(Owners::parse("").unwrap().is_empty());
    }
}
