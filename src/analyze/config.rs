//! `analysis:` configuration (incident grouping and topology tracking), and
//! the validated settings of the whole analysis stage, which also carry the
//! `release:`, `detect:` and `attribute:` sections.
//!
//! Never does: read the environment; the only file it reads is the owners
//! file `analysis.owners_file` names.

use serde::{Deserialize, Serialize};

use crate::model::{Invalid, Timestamp};

/// `analysis:` in the configuration file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Detection judges windows of this length: consecutive graph windows
    /// are merged so low-traffic services have the volume to be judged, at
    /// the cost of up to one such window of delay. A multiple of
    /// `graph.window_secs`, seconds.
    pub detect_window_secs: u64,
    /// How long after an anomaly's onset attribution is retried as evidence
    /// accumulates (an `attribution` alert then supersedes the `anomaly`
    /// alert), seconds.
    pub reattribute_secs: u64,
    /// Event time after the first window during which every edge is taken as
    /// already known (no `topology_change` alerts while the graph fills), seconds.
    pub topology_settle_secs: u64,
    /// An edge that carried traffic and then none for this long, while its
    /// caller still served requests, has vanished, seconds.
    pub topology_vanish_secs: u64,
    /// Windows with traffic an edge needs before it can be reported vanished.
    pub topology_min_windows: u32,
    /// Silent edges are forgotten after this long, seconds.
    pub topology_ttl_secs: u64,
    /// YAML file mapping service → `team`, `channel`, `tier`; every alert
    /// names the owners of its service and of the release it names, and
    /// Alertmanager gets `team` and `tier` labels. Empty = no owners.
    pub owners_file: String,
    /// Closed windows and deployment events kept (and saved at shutdown in
    /// the data directory) so a restarted daemon rebuilds its baselines,
    /// releases and open incidents instead of relearning (with the reported
    /// incidents not yet answered and the ids taken); 0 = off, seconds.
    /// About 100 KB per 10-second window for a 15-service fleet.
    pub journal_secs: u64,
    /// A reported incident is answered once event time has passed its
    /// `started_at` by this long (rounded up to a graph window), so the
    /// windows around its start are in; seconds.
    pub incident_margin_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            detect_window_secs: 30,
            reattribute_secs: 600,
            topology_settle_secs: 900,
            topology_vanish_secs: 600,
            topology_min_windows: 30,
            topology_ttl_secs: 3600,
            owners_file: String::new(),
            journal_secs: 2400,
            incident_margin_secs: 60,
        }
    }
}

/// Everything the analyzer needs, validated.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The release index.
    pub release: crate::release::Settings,
    /// Detection.
    pub detect: crate::detect::Settings,
    /// Attribution and verdicts.
    pub attribute: crate::attribute::Settings,
    /// Window length of the graph stage, nanoseconds.
    pub window_ns: u64,
    pub(crate) detect_window_ns: u64,
    pub(crate) reattribute_ns: u64,
    pub(crate) topology_settle_ns: u64,
    pub(crate) topology_vanish_ns: u64,
    pub(crate) topology_min_windows: u32,
    pub(crate) topology_ttl_ns: u64,
    /// Owners of services (empty when no owners file).
    pub owners: super::Owners,
    /// Event time the journal keeps, nanoseconds (0 = off).
    pub journal_ns: u64,
    /// How long after its start a reported incident is answered, nanoseconds.
    pub incident_margin_ns: u64,
}

impl Settings {
    /// Combines validated stage settings with the `analysis:` section.
    ///
    /// # Errors
    /// Every invalid `analysis.*` value.
    pub fn new(
        config: &Config,
        release: crate::release::Settings,
        detect: crate::detect::Settings,
        attribute: crate::attribute::Settings,
        window_ns: u64,
    ) -> Result<Self, Vec<Invalid>> {
        let mut errors = Vec::new();
        const MAX_SECS: u64 = 1_000_000_000;
        for (key, value) in [
            ("analysis.reattribute_secs", config.reattribute_secs),
            ("analysis.topology_settle_secs", config.topology_settle_secs),
            ("analysis.topology_vanish_secs", config.topology_vanish_secs),
            ("analysis.topology_ttl_secs", config.topology_ttl_secs),
            ("analysis.journal_secs", config.journal_secs),
            ("analysis.incident_margin_secs", config.incident_margin_secs),
        ] {
            if value > MAX_SECS {
                errors.push(Invalid::new(key, format!("must be at most {MAX_SECS}")));
            }
        }
        let window_secs = window_ns / Timestamp::SECOND;
        if config.detect_window_secs == 0
            || window_secs == 0
            || !config.detect_window_secs.is_multiple_of(window_secs)
        {
            errors.push(Invalid::new(
                "analysis.detect_window_secs",
                format!("must be a positive multiple of graph.window_secs ({window_secs})"),
            ));
        }
        if config.topology_vanish_secs == 0 {
            errors.push(Invalid::new(
                "analysis.topology_vanish_secs",
                "must be at least 1",
            ));
        }
        if config.topology_ttl_secs < config.topology_vanish_secs {
            errors.push(Invalid::new(
                "analysis.topology_ttl_secs",
                "must be at least analysis.topology_vanish_secs",
            ));
        }
        let owners = if config.owners_file.is_empty() {
            super::Owners::default()
        } else {
            // The one file this section names; read here so a bad file is a
            // configuration error reported with the others.
            match std::fs::read_to_string(&config.owners_file) {
                Ok(text) => super::Owners::parse(&text).unwrap_or_else(|e| {
                    errors.push(Invalid::new("analysis.owners_file", e));
                    super::Owners::default()
                }),
                Err(e) => {
                    errors.push(Invalid::new(
                        "analysis.owners_file",
                        format!("cannot read {}: {e}", config.owners_file),
                    ));
                    super::Owners::default()
                }
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let s = Timestamp::SECOND;
        Ok(Self {
            release,
            detect,
            attribute,
            window_ns,
            detect_window_ns: config.detect_window_secs * s,
            reattribute_ns: config.reattribute_secs * s,
            topology_settle_ns: config.topology_settle_secs * s,
            topology_vanish_ns: config.topology_vanish_secs * s,
            topology_min_windows: config.topology_min_windows,
            topology_ttl_ns: config.topology_ttl_secs * s,
            owners,
            journal_ns: config.journal_secs * s,
            incident_margin_ns: config.incident_margin_secs * s,
        })
    }
}

impl Default for Settings {
    fn default() -> Self {
        let c = Config::default();
        let s = Timestamp::SECOND;
        Self {
            release: crate::release::Settings::default(),
            detect: crate::detect::Settings::default(),
            attribute: crate::attribute::Settings::default(),
            window_ns: 10 * s,
            detect_window_ns: c.detect_window_secs * s,
            reattribute_ns: c.reattribute_secs * s,
            topology_settle_ns: c.topology_settle_secs * s,
            topology_vanish_ns: c.topology_vanish_secs * s,
            topology_min_windows: c.topology_min_windows,
            topology_ttl_ns: c.topology_ttl_secs * s,
            owners: super::Owners::default(),
            journal_ns: c.journal_secs * s,
            incident_margin_ns: c.incident_margin_secs * s,
        }
    }
}
