//! Integration tests.

// The Kafka span consumer against a real broker (scripts/test.sh starts it).
mod kafka_real;
mod support;
