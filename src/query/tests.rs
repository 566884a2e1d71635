//! Query unit tests.
