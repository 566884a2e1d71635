//! Live service dependency graph, in event time.
//!
//! Pairs each CLIENT or PRODUCER span with the SERVER or CONSUMER span that
//! answers it, then aggregates requests, failures and latency per edge
//! (cumulative, for the live graph) and per window (for detection).
//!
//! Inputs: [`SpanBatch`](crate::model::SpanBatch). Outputs: one
//! [`WindowStats`](crate::model::WindowStats) per closed window and a
//! [`GraphSnapshot`](crate::model::GraphSnapshot) for readers.
//!
//! # Rules
//!
//! * **Event time.** The watermark is `max span end seen - lateness_secs` and
//!   only moves forward. A span that ends before the watermark is **late**: it
//!   is counted and ignored entirely (no pairing, edge, node or window); a
//!   half waiting for it expires as if it never came.
//! * **Pairing** (SERVICE_GRAPH.md §2, §7): CLIENT/PRODUCER halves are held
//!   under their own `(trace, span)`; SERVER/CONSUMER spans look for their
//!   parent, and CONSUMER spans also for every linked span (across traces),
//!   in either arrival order. Two halves pair only when their ends are within
//!   `pairing_ttl_secs` of each other. Producers (and clients) serve every
//!   consumer (server) that arrives while they are held: fan-out.
//!   PRODUCER/CONSUMER pairs are `messaging_system` edges. An edge failed if
//!   either side failed. Repeats of a held `(trace, span)` are ignored.
//! * **Expiry.** A half expires when `watermark > end + pairing_ttl_secs`.
//!   If it never paired: a CLIENT with `db.*` attributes becomes a
//!   `database` edge to a database node (only now, so a real SERVER span
//!   always wins over database attributes); another CLIENT/PRODUCER becomes a
//!   `virtual_node` edge to its named peer; a *root* SERVER/CONSUMER becomes a
//!   `virtual_node` edge from its `peer.service`, messaging node, or `user`
//!   (root spans are held under their own id, so they never collide). With
//!   no name, or for a non-root server whose caller was lost, it is counted
//!   `unpaired`: there is no `unknown` node. See [`naming`] for the order.
//! * **Windows** are `[k*w, (k+1)*w)` by end time (an edge's is its client's
//!   end, or the server's when the client is virtual). A window closes when
//!   `watermark >= window end + pairing_ttl_secs`, once every half ending in
//!   it has paired or expired. Series: Service, Operation, ServiceVersion
//!   (server-side spans as they arrive), Edge, EdgeByClientVersion,
//!   EdgeByServerVersion (server-side latency; the known side's latency for
//!   virtual sides).
//! * **Determinism.** Given spans that arrive within the lateness bound, the
//!   closed windows and the snapshot are identical for every arrival order
//!   and batch split, and across runs: outputs are sorted, sums are exact
//!   integers, exemplars keep the latest event time, expiry runs in
//!   `(expire_at, key)` order. Cardinality limits, when reached, keep what
//!   came first.
//!
//! # Bounds
//!
//! Held halves ≤ `max_pending_spans` (new halves are rejected when full, so a
//! flood cannot evict good halves); nodes ≤ `max_nodes`; edges ≤ `max_edges`;
//! operations per service ≤ `max_operations_per_service` (`__other__`
//! beyond); idle edges and nodes leave after `edge_idle_secs`. Every drop is
//! counted in [`ObserveOutcome`]/[`AdvanceOutcome`].
//!
//! Memory (measured by the `*_memory_*` unit tests): an edge costs about
//! 1.7 KB when its latencies span three powers of two: its two
//! one-significant-digit HDR quantile sketches hold 64 B per power of two
//! seen (see [`hdr`]; 1.9 KB each at worst, latencies from 1 µs to 1 h,
//! 5.2 KB per edge); a held half costs 161 B. At the defaults (65 536 edges,
//! 500 000 halves) the stage is bounded by about 420 MB plus hash-map slack
//! in that worst case; a 5 000-service fleet with ~3 edges per service
//! needs about 25 MB for its edges.
//!
//! Hash maps use `foldhash` (seeded per map, much faster than SipHash on
//! short keys); no iteration order ever reaches an output.
//!
//! Nothing here performs I/O or reads the clock except [`task`], which is the
//! only async part and reads wall time only to advance an idle watermark.

pub mod config;
mod edges;
mod engine;
mod expiry;
mod hdr;
mod latency;
pub mod metrics;
pub mod naming;
mod nodes;
mod outcome;
mod pairing;
mod prefetch;
mod sketch;
mod state;
pub mod task;
mod windows;

pub use config::{Config, Settings, TEMPO_BUCKETS};
pub use engine::Graph;
pub use metrics::Metrics;
pub use nodes::OTHER_OPERATION;
pub use outcome::{AdvanceOutcome, EdgeDrops, ExpiredCounts, Expiry, HalfKind, ObserveOutcome};
pub use state::{GraphState, RestoreError};
pub use task::{Inputs, TaskSettings, run};
pub use windows::MAX_EMPTY_WINDOWS;

#[cfg(test)]
pub(crate) mod tests;
