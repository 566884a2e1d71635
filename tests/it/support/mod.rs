//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)] // each test module uses a different subset

pub mod alertmanager;
pub mod api;
pub mod collector;
pub mod exposition;
pub(crate) mod fixtures;
pub mod kafka;
pub mod otlp;
pub mod scenario_run;
