//! Domain types and the messages that flow between stages.
//!
//! Everything here is plain data: no I/O, no clock, no async, no metrics.
//! Every stage speaks these types, so a change here is a change to the
//! contract between stages (see `src/lib.rs` for the pipeline map).

pub mod alert;
pub mod anomaly;
pub mod blob;
pub mod checkpoint;
pub mod ids;
pub mod incident;
pub mod release;
pub mod rollout;
pub mod snapshot;
pub mod span;
pub mod time;
pub mod validate;
pub mod window;

pub use alert::{
    ALERT_SCHEMA, Alert, AlertAnomaly, AlertOrigin, AlertType, CounterReason, EdgeRef, Evidence,
    EvidenceDetail, IncidentRef, OwnerRef, ReleaseRef, Severity, Suspect, TopologyInfo, Verdict,
    VerdictInfo, alert_id, incident_alert_id, series_label, series_scope,
};
pub use anomaly::{Anomaly, Origin, Signal};
pub use checkpoint::{Checkpoint, GraphOutput, JournalSnapshot, LazyPart, PartitionOffset};
pub use ids::{SpanId, TraceId};
pub use incident::{Culprit, Incident, IncidentAnswer, IncidentSource};
pub use release::{DeployEvent, DeployKind, ReleaseKey, ReleaseOrigin};
pub use rollout::{ChangeKind, Release, ReleaseChange, ReleaseState, RollbackCause, TimelinePoint};
pub use snapshot::{
    BucketCounts, EdgeSnapshot, GraphSnapshot, NodeKind, NodeSnapshot, PairingStats,
};
pub use span::{
    ConnectionType, PeerAttrs, ResourceInfo, Span, SpanBatch, SpanKind, SpanLink, SpanSource,
};
pub use time::Timestamp;
pub use validate::Invalid;
pub use window::{LatencySummary, SeriesKey, SeriesStats, WindowStats};
