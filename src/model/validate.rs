//! The one error shape every stage's configuration validation returns.
//!
//! Stages cannot depend on the `config` module (see `src/lib.rs`), so the shared
//! type lives here. `config::load` collects them from every stage and reports
//! them all at once.

use std::fmt;

/// One invalid configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Dotted key, e.g. `graph.window_secs`.
    pub key: String,
    /// What is wrong with it, lowercase, no trailing period.
    pub reason: String,
}

impl Invalid {
    /// Builds an error for `key`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.reason)
    }
}
