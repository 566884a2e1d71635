//! Messaging in trace generation: a producer span per published message,
//! and each consumer's processing of it, later, as a child or through a span
//! link (the topic's link mode).
//!
//! Never does: I/O, clock. All randomness comes from the per-trace `Rng`.

use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::{Link, SpanKind};

use crate::model::ConnectionType;

use super::super::attrs;
use super::super::topology::LinkMode;
use super::super::truth::Node;
use super::{FLAGS_LOCAL, Gen, ms};

impl Gen<'_> {
    /// Publishes one message; consumers process it later. Returns (end, failed).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn publish(
        &mut self,
        svc: usize,
        version: &Arc<str>,
        resource: u32,
        phase: u64,
        topic: usize,
        trace: [u8; 16],
        parent: [u8; 8],
        start: u64,
        depth: u32,
    ) -> (u64, bool) {
        let c = self.c;
        let t = &c.topics[topic];
        let sc = c.services[svc].semconv;
        let producer_id = self.rng.span_id();
        let end = start + ms(self.rng.lognormal(0.6, 0.4));
        let partition = (self.rng.next_u64() % u64::from(t.partitions)) as u32;
        self.st.emit(
            resource,
            phase,
            Span {
                trace_id: trace.to_vec(),
                span_id: producer_id.to_vec(),
                parent_span_id: parent.to_vec(),
                flags: FLAGS_LOCAL,
                name: format!("send {}", t.name),
                kind: SpanKind::Producer as i32,
                start_time_unix_nano: start,
                end_time_unix_nano: end,
                attributes: attrs::messaging(sc, &t.system, &t.name, &t.address, None, partition),
                ..Span::default()
            },
        );
        for (csvc, cop, _) in &t.consumers {
            let delay = ms(self
                .rng
                .lognormal(t.queue_delay.median_ms, t.queue_delay.sigma));
            let link = Link {
                trace_id: trace.to_vec(),
                span_id: producer_id.to_vec(),
                flags: FLAGS_LOCAL,
                ..Link::default()
            };
            let (ctrace, cparent, links) = match t.link_mode {
                LinkMode::Parent => (trace, producer_id, Vec::new()),
                LinkMode::Link => {
                    self.st.truth.traces += 1;
                    (self.rng.trace_id(), [0; 8], vec![link])
                }
                LinkMode::Both => (trace, producer_id, vec![link]),
            };
            let caller = Some((svc, version.clone()));
            let (_, failed) = self.serve(
                *csvc,
                *cop,
                ctrace,
                cparent,
                end + delay,
                caller,
                links,
                depth + 1,
            );
            let key = (
                Node::Service(svc),
                Node::Service(*csvc),
                ConnectionType::MessagingSystem,
            );
            self.st.truth.edges.entry(key).or_default().add(failed);
        }
        (end, false)
    }
}
