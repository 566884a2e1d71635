//! Read-only queries on the release index. Every list is sorted by
//! (`started_at`, key), so answers are deterministic.
//!
//! Never does: mutation, I/O.

use std::sync::Arc;

use super::index::{ReleaseIndex, ServiceKey, ServiceState};
use crate::model::{Release, ReleaseKey, TimelinePoint, Timestamp};

fn skey(service: &str, environment: &str) -> ServiceKey {
    (Arc::from(environment), Arc::from(service))
}

fn sort(list: &mut [&Release]) {
    list.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| a.key.cmp(&b.key))
    });
}

impl ReleaseIndex {
    fn state(&self, service: &str, environment: &str) -> Option<&ServiceState> {
        self.services.get(&skey(service, environment))
    }

    /// Releases in `environment` that may explain something happening in
    /// `[from, to]`: started or exposed in that interval, or still in progress
    /// (rolling or canary) then. An in-progress release never exposed counts
    /// only until `merge_tolerance` after its start (an announced release
    /// whose version spans never show stops being a candidate).
    pub fn candidates(&self, environment: &str, from: Timestamp, to: Timestamp) -> Vec<&Release> {
        let tol = self.settings.merge_tolerance_nanos;
        let start: ServiceKey = (Arc::from(environment), Arc::from(""));
        let within = |t: Timestamp| from <= t && t <= to;
        let mut out: Vec<&Release> = self
            .services
            .range(start..)
            .take_while(|(k, _)| &*k.0 == environment)
            .flat_map(|(_, st)| st.releases.iter())
            .filter(|r| {
                let exposed_in = r.exposure_start.is_some_and(within);
                let in_progress = r.state.in_progress()
                    && r.exposure_or_start() <= to
                    && (r.exposure_start.is_some()
                        || r.started_at.nanos().saturating_add(tol) >= from.nanos());
                within(r.started_at) || exposed_in || in_progress
            })
            .collect();
        sort(&mut out);
        out
    }

    /// The most recent release with this key.
    pub fn release(&self, key: &ReleaseKey) -> Option<&Release> {
        self.state(&key.service, &key.environment)?
            .releases
            .iter()
            .rev()
            .find(|r| r.key.version == key.version)
    }

    /// The version that ran before the most recent release of `version`.
    pub fn previous_version(
        &self,
        service: &str,
        environment: &str,
        version: &str,
    ) -> Option<&str> {
        let key = ReleaseKey {
            service: Arc::from(service),
            environment: Arc::from(environment),
            version: Arc::from(version),
        };
        self.release(&key)?.previous_version.as_deref()
    }

    /// Share of instances and traffic over time for the most recent release
    /// with this key.
    pub fn timeline(&self, key: &ReleaseKey) -> Option<&[TimelinePoint]> {
        self.release(key).map(|r| r.timeline.as_slice())
    }

    /// Every release started or exposed at or after `since`, all environments.
    pub fn releases_since(&self, since: Timestamp) -> Vec<&Release> {
        let mut out: Vec<&Release> = self
            .services
            .values()
            .flat_map(|st| st.releases.iter())
            .filter(|r| r.started_at >= since || r.exposure_start.is_some_and(|e| e >= since))
            .collect();
        sort(&mut out);
        out
    }

    /// All releases kept for one service, oldest first.
    pub fn releases_of(&self, service: &str, environment: &str) -> &[Release] {
        self.state(service, environment)
            .map_or(&[], |st| st.releases.as_slice())
    }

    /// The version with the largest share in the last window seen.
    pub fn current_version(&self, service: &str, environment: &str) -> Option<&str> {
        self.state(service, environment)?.dominant.as_deref()
    }

    /// When `service.removed` retired the service, unless traffic or a deploy
    /// brought it back since.
    pub fn retired_at(&self, service: &str, environment: &str) -> Option<Timestamp> {
        self.state(service, environment)?.retired_at
    }

    /// (service, environment) pairs tracked.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// Releases kept, all services.
    pub fn release_count(&self) -> usize {
        self.services.values().map(|st| st.releases.len()).sum()
    }

    /// (source, id) pairs remembered for deduplication.
    pub fn dedup_len(&self) -> usize {
        self.dedup.len()
    }
}
