//! Normalization: the ONE place that turns OTLP fields and attributes into
//! the span model, shared by the protobuf and JSON decoders.
//!
//! Decoders parse a resource's attributes into [`ResourceAttrs`] and each span
//! into a [`RawSpan`] (all borrowed from the payload), and hand them to a
//! [`Normalizer`], which validates ids, times and UTF-8, resolves semantic
//! convention names, classifies errors, derives the operation, and allocates
//! only the strings it keeps (interned across batches by a bounded per-thread
//! interner, so a repeated string costs a hash lookup). Never does: parsing bytes.

pub(crate) mod attrs;
mod intern;
pub(crate) mod status;

use std::sync::Arc;

use crate::model::{
    PeerAttrs, ResourceInfo, Span, SpanBatch, SpanId, SpanKind, SpanLink, Timestamp, TraceId,
};

pub(crate) use attrs::{AttrValue, ResourceAttrs, SpanAttrs, Text};
use intern::Interner;

use super::outcome::{Decoded, RejectReason, Rejected};

/// An id as decoded from the payload: up to 16 bytes, or unparsable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawId {
    bytes: [u8; 16],
    /// Number of bytes, or [`RawId::INVALID`].
    len: u8,
}

impl RawId {
    const INVALID: u8 = u8::MAX;

    /// An id that could not be parsed (wrong length or alphabet).
    pub(crate) const fn invalid() -> Self {
        Self {
            bytes: [0; 16],
            len: Self::INVALID,
        }
    }

    /// Raw bytes; anything longer than 16 bytes is invalid.
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        let mut id = Self::default();
        match id.bytes.get_mut(..bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                id.len = bytes.len() as u8;
                id
            }
            None => Self::invalid(),
        }
    }

    fn trace_id(&self) -> Option<TraceId> {
        let id = TraceId::from_slice(self.bytes.get(..usize::from(self.len))?)?;
        (!id.is_zero()).then_some(id)
    }

    fn span_id(&self) -> Option<SpanId> {
        let id = SpanId::from_slice(self.bytes.get(..usize::from(self.len))?)?;
        (!id.is_zero()).then_some(id)
    }

    /// Empty means "no parent" (zero); otherwise exactly 8 bytes.
    fn parent_id(&self) -> Option<SpanId> {
        match self.len {
            0 => Some(SpanId::default()),
            8 => SpanId::from_slice(&self.bytes[..8]),
            _ => None,
        }
    }
}

/// One span as decoded, before validation. Borrowed from the payload.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RawSpan<'a> {
    pub(crate) trace_id: RawId,
    pub(crate) span_id: RawId,
    pub(crate) parent_span_id: RawId,
    pub(crate) name: Text<'a>,
    /// OTLP `SpanKind` number.
    pub(crate) kind: i32,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// OTLP `StatusCode` number (0 when there is no status).
    pub(crate) status_code: i32,
    pub(crate) attrs: SpanAttrs<'a>,
    /// Links as (trace id, span id); invalid ones are dropped at normalization.
    pub(crate) links: Vec<(RawId, RawId)>,
}

impl RawSpan<'_> {
    /// Clears the span for reuse, keeping the links' allocation.
    pub(crate) fn reset(&mut self) {
        let mut links = std::mem::take(&mut self.links);
        links.clear();
        *self = RawSpan {
            links,
            ..RawSpan::default()
        };
    }
}

/// A resource being normalized: its info (pushed into the batch with its
/// first valid span) or the reason all its spans are rejected.
#[derive(Clone, Debug)]
pub(crate) struct ResourceCtx {
    state: ResourceState,
    /// 0-based position of the resource in the payload, for messages.
    ordinal: usize,
    /// Resource-level fallbacks for client, producer and consumer spans.
    db_system: Option<Arc<str>>,
    messaging_system: Option<Arc<str>>,
}

#[derive(Clone, Debug)]
enum ResourceState {
    Rejected(RejectReason),
    Pending(ResourceInfo),
    Pushed(u32),
}

#[cfg(test)]
impl ResourceCtx {
    /// The service name, when the resource is valid.
    pub(crate) fn service(&self) -> Option<&str> {
        match &self.state {
            ResourceState::Pending(info) => Some(&info.service),
            _ => None,
        }
    }
}

/// Accumulates one payload's batch. See the module docs.
///
/// Borrows this thread's [`Interner`] while it lives and gives it back when
/// dropped (also when a payload fails half way).
#[derive(Debug)]
pub(crate) struct Normalizer {
    batch: SpanBatch,
    rejected: Rejected,
    interner: Interner,
    resources_seen: usize,
    scratch: Vec<u8>,
}

impl Drop for Normalizer {
    fn drop(&mut self) {
        std::mem::take(&mut self.interner).give_back();
    }
}

/// Why [`Normalizer::span`] could not keep a span (internal).
type Reject = (RejectReason, &'static str);

impl Normalizer {
    /// A normalizer expecting about `spans` spans.
    pub(crate) fn with_capacity(spans: usize) -> Self {
        Self {
            batch: SpanBatch {
                resources: Vec::new(),
                spans: Vec::with_capacity(spans),
            },
            rejected: Rejected::default(),
            interner: Interner::take_shared(),
            resources_seen: 0,
            scratch: Vec::new(),
        }
    }

    /// Starts a resource. Its spans follow through [`Normalizer::span`].
    pub(crate) fn resource(&mut self, attrs: ResourceAttrs<'_>) -> ResourceCtx {
        let ordinal = self.resources_seen;
        self.resources_seen += 1;
        let mut ctx = ResourceCtx {
            state: ResourceState::Rejected(RejectReason::MissingServiceName),
            ordinal,
            db_system: None,
            messaging_system: None,
        };
        match self.resource_info(attrs, &mut ctx) {
            Ok(info) => ctx.state = ResourceState::Pending(info),
            Err(reason) => ctx.state = ResourceState::Rejected(reason),
        }
        ctx
    }

    /// Starts a resource normalized before (a clone of what
    /// [`Normalizer::resource`] returned for the same encoded resource).
    pub(crate) fn reuse(&mut self, ctx: &ResourceCtx) -> ResourceCtx {
        debug_assert!(!matches!(ctx.state, ResourceState::Pushed(_)));
        let mut ctx = ctx.clone();
        ctx.ordinal = self.resources_seen;
        self.resources_seen += 1;
        ctx
    }

    fn resource_info(
        &mut self,
        a: ResourceAttrs<'_>,
        ctx: &mut ResourceCtx,
    ) -> Result<ResourceInfo, RejectReason> {
        let service = a.service_name.ok_or(RejectReason::MissingServiceName)?;
        let service = self.intern_text(&service)?;
        let version = a
            .service_version
            .or(a.vcs_ref_head_revision)
            .or(a.vcs_repository_ref_revision)
            .or(a.container_image_tags);
        let environment = a.environment_name.or(a.environment_legacy);
        let instance = a
            .service_instance_id
            .or(a.k8s_pod_uid)
            .or(a.k8s_pod_name)
            .or(a.host_name);
        let info = ResourceInfo {
            service,
            namespace: self.intern_lossy(a.service_namespace),
            version: self.intern_lossy(version),
            environment: self.intern_lossy(environment),
            instance: self.intern_lossy(instance),
        };
        ctx.db_system = self.kept(a.db_system_name.or(a.db_system_legacy).as_ref());
        ctx.messaging_system = self.kept(a.messaging_system.as_ref());
        Ok(info)
    }

    fn intern_text(&mut self, text: &[u8]) -> Result<Arc<str>, RejectReason> {
        self.interner
            .intern_bytes(text)
            .map_err(|_| RejectReason::InvalidUtf8)
    }

    /// Optional strings are kept even when not UTF-8, repaired with U+FFFD.
    fn intern_lossy(&mut self, text: Option<Text<'_>>) -> Option<Arc<str>> {
        text.map(|t| self.interner.intern_lossy(&t))
    }

    /// A kept attribute string; invalid UTF-8 is repaired with U+FFFD (only
    /// the span name, route, method and `service.name` must be valid).
    #[inline]
    fn kept(&mut self, value: Option<&Text<'_>>) -> Option<Arc<str>> {
        value.map(|v| self.interner.intern_lossy(v))
    }

    /// Normalizes one span of `res`, keeping it or counting its rejection.
    pub(crate) fn span(&mut self, res: &mut ResourceCtx, raw: &RawSpan<'_>) {
        let resource = match &res.state {
            ResourceState::Rejected(reason) => {
                let (reason, ordinal) = (*reason, res.ordinal);
                let what = match reason {
                    RejectReason::MissingServiceName => "has no service.name",
                    _ => "has a service.name that is not utf-8",
                };
                self.rejected.record(reason, 1, || {
                    format!("resource {ordinal} {what}; its spans are dropped")
                });
                return;
            }
            ResourceState::Pending(_) => self.batch.resources.len() as u32,
            ResourceState::Pushed(index) => *index,
        };
        match self.build_span(res, resource, raw) {
            Ok(span) => {
                if let ResourceState::Pending(info) =
                    std::mem::replace(&mut res.state, ResourceState::Pushed(resource))
                {
                    self.batch.resources.push(info);
                }
                self.batch.spans.push(span);
            }
            Err((reason, field)) => {
                self.rejected
                    .record(reason, 1, || describe(raw, reason, field));
            }
        }
    }

    fn build_span(
        &mut self,
        res: &ResourceCtx,
        resource: u32,
        raw: &RawSpan<'_>,
    ) -> Result<Span, Reject> {
        let trace_id = raw
            .trace_id
            .trace_id()
            .ok_or((RejectReason::InvalidTraceId, ""))?;
        let span_id = raw
            .span_id
            .span_id()
            .ok_or((RejectReason::InvalidSpanId, ""))?;
        let parent_span_id = raw
            .parent_span_id
            .parent_id()
            .ok_or((RejectReason::InvalidParentSpanId, ""))?;
        if raw.start == 0 || raw.end == 0 {
            return Err((RejectReason::MissingTimestamp, ""));
        }
        if raw.end < raw.start {
            return Err((RejectReason::EndBeforeStart, ""));
        }
        let kind = SpanKind::from_otlp(raw.kind);
        let a = &raw.attrs;
        let operation = self.operation(kind, &raw.name, a)?;
        let error = status::is_error(kind, raw.status_code, a);
        let client_side = matches!(kind, SpanKind::Client | SpanKind::Producer);
        let uses_resource = client_side || kind == SpanKind::Consumer;
        let peer = PeerAttrs {
            peer_service: self.kept(a.peer_service.as_ref().or(a.peer_service_legacy.as_ref())),
            db_system: self
                .kept(a.db_system_name.as_ref().or(a.db_system_legacy.as_ref()))
                .or_else(|| res.db_system.clone().filter(|_| uses_resource)),
            db_namespace: self.kept(a.db_namespace.as_ref().or(a.db_name_legacy.as_ref())),
            server_address: self.kept(
                a.server_address
                    .as_ref()
                    .or(a.net_peer_name.as_ref().filter(|_| client_side)),
            ),
            server_port: port(a.server_port.or(a.net_peer_port)),
            network_peer_address: self.kept(
                a.network_peer_address
                    .as_ref()
                    .or(a.net_sock_peer_addr.as_ref()),
            ),
            network_peer_port: port(a.network_peer_port),
            messaging_system: self
                .kept(a.messaging_system.as_ref())
                .or_else(|| res.messaging_system.clone().filter(|_| uses_resource)),
            messaging_destination: self.kept(
                a.messaging_destination
                    .as_ref()
                    .or(a.messaging_destination_legacy.as_ref()),
            ),
        };
        let links = raw
            .links
            .iter()
            .filter_map(|(t, s)| {
                Some(SpanLink {
                    trace_id: t.trace_id()?,
                    span_id: s.span_id()?,
                })
            })
            .collect();
        Ok(Span {
            trace_id,
            span_id,
            parent_span_id,
            resource,
            kind,
            start: Timestamp(raw.start),
            end: Timestamp(raw.end),
            error,
            operation,
            peer,
            links,
        })
    }

    /// SERVER and CONSUMER spans with `http.route`: `"{method} {route}"` (or
    /// just the route without a method); every other span: its name. The name
    /// must be UTF-8 in both cases (checked first), then the route, then the
    /// method.
    fn operation(
        &mut self,
        kind: SpanKind,
        name: &[u8],
        a: &SpanAttrs<'_>,
    ) -> Result<Arc<str>, Reject> {
        let route = match &a.http_route {
            Some(route) if matches!(kind, SpanKind::Server | SpanKind::Consumer) => route,
            _ => return self.interner.intern_bytes(name).map_err(|_| utf8("name")),
        };
        let method = a.http_method.as_ref().or(a.http_method_legacy.as_ref());
        self.scratch.clear();
        if let Some(method) = method {
            self.scratch.extend_from_slice(method);
            self.scratch.push(b' ');
        }
        self.scratch.extend_from_slice(route);
        // A cached operation is valid UTF-8, and so are its parts (they are
        // split at an ASCII space); the name still has to be checked.
        let cached = self.interner.get(&self.scratch);
        std::str::from_utf8(name).map_err(|_| utf8("name"))?;
        if let Some(found) = cached {
            return Ok(found);
        }
        std::str::from_utf8(route).map_err(|_| utf8("http.route"))?;
        if let Some(method) = method {
            std::str::from_utf8(method).map_err(|_| utf8("http method"))?;
        }
        Ok(self.interner.intern_lossy(&self.scratch))
    }

    /// Ends the payload (the interner goes back to the thread on drop).
    pub(crate) fn finish(mut self) -> Decoded {
        Decoded {
            batch: std::mem::take(&mut self.batch),
            rejected: std::mem::take(&mut self.rejected),
        }
    }
}

fn utf8(field: &'static str) -> Reject {
    (RejectReason::InvalidUtf8, field)
}

fn port(value: Option<i64>) -> Option<u16> {
    value.and_then(|p| u16::try_from(p).ok())
}

/// The message for the first rejected span of a payload.
fn describe(raw: &RawSpan<'_>, reason: RejectReason, field: &str) -> String {
    let ids = match (raw.trace_id.trace_id(), raw.span_id.span_id()) {
        (Some(t), Some(s)) => format!(" (trace {t}, span {s})"),
        _ => String::new(),
    };
    let field = if field.is_empty() {
        String::new()
    } else {
        format!(" in {field}")
    };
    format!("span dropped{ids}: {}{field}", reason.describe())
}

#[cfg(test)]
mod tests;
