//! The Kafka span consumer against a real broker (KRaft, started by
//! `scripts/test.sh`): Collector-style records in, span batches out, poison
//! records to the DLQ ([`delivery`]); offsets committed only after hand-off,
//! exactly-once hand-off across a restart and a rebalance, and backpressure
//! that pauses instead of dropping ([`offsets`]); deployment events on a
//! `cdevents` topic ([`deployments`]); the whole daemon with Kafka as
//! its source, stopped and restarted mid-stream ([`daemon`]), and killed
//! with `kill -9` again and again mid-stream ([`crash`]); and reported
//! incidents in, answers and CDEvents out, all on Kafka ([`incidents`]).

mod alignment;
mod crash;
mod daemon;
mod delivery;
mod deployments;
mod incidents;
mod offsets;
