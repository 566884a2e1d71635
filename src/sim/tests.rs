//! Unit tests of the simulator core.
