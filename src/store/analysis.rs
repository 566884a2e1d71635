//! What the analysis stage publishes for readers: the most recent alerts
//! (bounded), the releases the index holds, and the reported incidents with
//! their answers (bounded).
//!
//! Never does: analysis or I/O; readers get clones, never a lock held
//! across an await.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use crate::model::{Alert, Incident, IncidentAnswer, OwnerRef, Release};

/// Alerts kept for the API.
pub const RECENT_ALERTS: usize = 1000;

/// Reported incidents kept for the API.
pub const RECENT_INCIDENTS: usize = 1000;

/// A reported incident as the API shows it: received, and answered once
/// the analysis stage has.
#[derive(Clone, Debug, PartialEq)]
pub struct IncidentEntry {
    /// The incident as received.
    pub incident: Incident,
    /// The answer, once given.
    pub answer: Option<IncidentAnswer>,
}

#[derive(Debug, Default)]
struct Inner {
    alerts: VecDeque<Alert>,
    releases: Vec<Release>,
    owners: Vec<OwnerRef>,
    incidents: VecDeque<IncidentEntry>,
}

/// Shared, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Published {
    inner: Arc<RwLock<Inner>>,
}

impl Published {
    /// Records an alert; the oldest is forgotten beyond [`RECENT_ALERTS`].
    pub fn alert(&self, alert: Alert) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.alerts.len() == RECENT_ALERTS {
            inner.alerts.pop_front();
        }
        inner.alerts.push_back(alert);
    }

    /// Replaces the release list.
    pub fn releases(&self, releases: Vec<Release>) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .releases = releases;
    }

    /// Sets the owners (from the owners file), sorted by service.
    pub fn owners(&self, owners: Vec<OwnerRef>) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).owners = owners;
    }

    /// The owners, sorted by service.
    pub fn owner_list(&self) -> Vec<OwnerRef> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .owners
            .clone()
    }

    /// The recent alerts, oldest first.
    pub fn recent_alerts(&self) -> Vec<Alert> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.alerts.iter().cloned().collect()
    }

    /// Records a received incident (pending); a re-delivered id is kept once.
    pub fn incident_received(&self, incident: &Incident) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.incidents.iter().any(|e| e.incident.id == incident.id) {
            return;
        }
        if inner.incidents.len() == RECENT_INCIDENTS {
            inner.incidents.pop_front();
        }
        inner.incidents.push_back(IncidentEntry {
            incident: incident.clone(),
            answer: None,
        });
    }

    /// Records the answer to an incident.
    pub fn incident_answered(&self, answer: IncidentAnswer) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match inner
            .incidents
            .iter_mut()
            .find(|e| e.incident.id == answer.incident.id)
        {
            Some(entry) => entry.answer = Some(answer),
            None => {
                if inner.incidents.len() == RECENT_INCIDENTS {
                    inner.incidents.pop_front();
                }
                inner.incidents.push_back(IncidentEntry {
                    incident: answer.incident.clone(),
                    answer: Some(answer),
                });
            }
        }
    }

    /// The recent incidents, oldest received first.
    pub fn incident_list(&self) -> Vec<IncidentEntry> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.incidents.iter().cloned().collect()
    }

    /// One incident by id.
    pub fn incident(&self, id: &str) -> Option<IncidentEntry> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .incidents
            .iter()
            .find(|e| e.incident.id == id)
            .cloned()
    }

    /// The releases, as last published.
    pub fn release_list(&self) -> Vec<Release> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .releases
            .clone()
    }
}
