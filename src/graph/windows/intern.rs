//! Shared strings for the keys of emitted window series.
//!
//! The aggregates of an open window are keyed by the `Arc<str>`s of the
//! batch that first hit each series, so every window would otherwise carry
//! its own copies of every service, version and operation name; the analysis
//! stage keeps 40 minutes of closed windows, where those copies cost more
//! than the statistics themselves. [`Interner`] maps each string of an
//! emitted key to one shared allocation, and forgets strings nobody else
//! holds any more, so it never outgrows what is alive downstream.
//!
//! The engine also passes each batch resource's strings through it (see
//! [`super::Windows::share_resource`]): the same names then have the same
//! allocation in every batch, so map lookups downstream usually settle
//! equality by comparing pointers.
//!
//! Never does: change a key's value (only which allocation holds it).

use std::sync::Arc;

use foldhash::HashSet;

use crate::model::SeriesKey;

/// Strings are pruned when the set has doubled since the last prune.
const MIN_PRUNE: usize = 1024;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    set: HashSet<Arc<str>>,
    prune_at: usize,
}

impl Interner {
    /// The shared allocation equal to `s` (`s` itself when it is new).
    pub(crate) fn get(&mut self, s: &mut Arc<str>) {
        match self.set.get(&**s) {
            Some(shared) => {
                if !Arc::ptr_eq(shared, s) {
                    *s = shared.clone();
                }
            }
            None => {
                self.set.insert(s.clone());
            }
        }
    }

    /// Replaces every string of `key` by its shared allocation.
    pub(crate) fn key(&mut self, key: &mut SeriesKey) {
        match key {
            SeriesKey::Service {
                environment,
                service,
            } => {
                self.get(environment);
                self.get(service);
            }
            SeriesKey::Edge {
                environment,
                client,
                server,
                ..
            } => {
                self.get(environment);
                self.get(client);
                self.get(server);
            }
            SeriesKey::EdgeByClientVersion {
                environment,
                client,
                client_version: version,
                server,
            }
            | SeriesKey::EdgeByServerVersion {
                environment,
                client,
                server,
                server_version: version,
            } => {
                self.get(environment);
                self.get(client);
                self.get(version);
                self.get(server);
            }
            SeriesKey::Operation {
                environment,
                service,
                operation: name,
            }
            | SeriesKey::ServiceVersion {
                environment,
                service,
                version: name,
            } => {
                self.get(environment);
                self.get(service);
                self.get(name);
            }
        }
    }

    /// Forgets strings only the interner holds, once the set has doubled.
    pub(crate) fn prune(&mut self) {
        if self.set.len() < self.prune_at.max(MIN_PRUNE) {
            return;
        }
        self.set.retain(|s| Arc::strong_count(s) > 1);
        self.prune_at = 2 * self.set.len();
    }

    /// Strings held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> SeriesKey {
        SeriesKey::Service {
            environment: Arc::from("prod"),
            service: Arc::from(name),
        }
    }

    #[test]
    fn equal_strings_share_one_allocation_and_keep_their_value() {
        let mut interner = Interner::default();
        let (mut a, mut b) = (service("checkout"), service("checkout"));
        interner.key(&mut a);
        interner.key(&mut b);
        assert_eq!(a, service("checkout"));
        let (SeriesKey::Service { service: x, .. }, SeriesKey::Service { service: y, .. }) =
            (&a, &b)
        else {
            unreachable!()
        };
        assert!(Arc::ptr_eq(x, y));
    }

    #[test]
    fn strings_nobody_holds_are_forgotten() {
        let mut interner = Interner::default();
        let mut kept = Vec::new();
        for i in 0..2 * MIN_PRUNE {
            let mut key = service(&format!("svc-{i}"));
            interner.key(&mut key);
            if i % 2 == 0 {
                kept.push(key);
            }
        }
        interner.prune();
        // "prod" plus every kept service name.
        assert_eq!(interner.len(), 1 + kept.len());
    }
}
