//! What the analysis stage publishes for readers: the most recent alerts
//! (bounded) and the releases the index holds.
//!
//! Never does: analysis or I/O; readers get clones, never a lock held
//! across an await.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use crate::model::{Alert, OwnerRef, Release};

/// Alerts kept for the API.
pub const RECENT_ALERTS: usize = 1000;

#[derive(Debug, Default)]
struct Inner {
    alerts: VecDeque<Alert>,
    releases: Vec<Release>,
    owners: Vec<OwnerRef>,
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

    /// The releases, as last published.
    pub fn release_list(&self) -> Vec<Release> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .releases
            .clone()
    }
}
