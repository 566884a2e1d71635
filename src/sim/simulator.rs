//! The simulator: root requests arrive as a Poisson process in event time,
//! each becomes a trace, finished spans wait for their instance's SDK flush,
//! and the collector cuts a batch every `collector_interval_ms`.
//!
//! Determinism: the output depends only on (topology, scenario, seed, start,
//! rate, options). Each trace draws from its own generator seeded by
//! (seed, trace number), so a change in one trace's shape does not shift
//! every later trace.
//!
//! Never does: I/O, clock.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::model::Timestamp;

use super::batch::assemble;
use super::compile::compile;
use super::compiled::Compiled;
use super::engine::Gen;
use super::rng::{Rng, mix};
use super::scenario::Scenario;
use super::state::State;
use super::topology::Topology;
use super::truth::{GroundTruth, ground_truth};
use super::{DeployRecord, SimError};

/// How spans are grouped into batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// The collector's batch timeout. Upstream's `batch` processor default is
    /// 200 ms; 1 s, common in production configurations, is the default
    /// here: every batch then mixes most of the fleet's instances.
    pub collector_interval_ms: u64,
    /// Most spans in one batch (the `batch` processor's `send_batch_size`: 8192).
    pub max_batch_spans: usize,
    /// SDK export period per instance. The spec default is 5 s; busy SDKs
    /// flush sooner (every 512 spans), so 2 s is the default here.
    pub sdk_flush_ms: u64,
}

impl Default for BatchOptions {
    fn default() -> Self {
        Self {
            collector_interval_ms: 1000,
            max_batch_spans: 8192,
            sdk_flush_ms: 2000,
        }
    }
}

/// Counters of what the simulator produced so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Traces started (root requests plus consumer traces in link mode).
    pub traces: u64,
    /// Spans generated (some may still wait for export).
    pub spans_generated: u64,
    /// Spans returned in batches.
    pub spans_emitted: u64,
    /// Non-empty batches returned.
    pub batches: u64,
}

/// A seeded, deterministic traffic simulator; see the module docs.
#[derive(Debug)]
pub struct Simulator {
    c: Compiled,
    st: State,
    seed: u64,
    rate: f64,
    start: u64,
    opts: BatchOptions,
    arrivals: Rng,
    next_arrival: u64,
    trace_no: u64,
    window_end: u64,
    horizon: u64,
    stats: SimStats,
}

/// Empty collector windows skipped in one `next_batch` call before an
/// empty request is returned (keeps an idle, endless simulation responsive).
const MAX_EMPTY_WINDOWS: u32 = 1000;

impl Simulator {
    /// A simulator of `topology` playing `scenario` from `start`, with
    /// `rate` root requests per second (before ramps and diurnal shape) and
    /// default [`BatchOptions`].
    ///
    /// # Errors
    /// [`SimError::Invalid`] with every problem of the topology or scenario.
    pub fn new(
        topology: Topology,
        scenario: Scenario,
        seed: u64,
        start: Timestamp,
        rate: f64,
    ) -> Result<Self, SimError> {
        Self::with_options(
            topology,
            scenario,
            seed,
            start,
            rate,
            BatchOptions::default(),
        )
    }

    /// Like [`Simulator::new`], with explicit batching options.
    ///
    /// # Errors
    /// [`SimError::Invalid`] with every problem of the topology, scenario or options.
    pub fn with_options(
        topology: Topology,
        scenario: Scenario,
        seed: u64,
        start: Timestamp,
        rate: f64,
        opts: BatchOptions,
    ) -> Result<Self, SimError> {
        let mut problems = Vec::new();
        if !(rate >= 0.0 && rate.is_finite()) {
            problems.push(super::TopologyError {
                path: "rate".to_owned(),
                reason: "must be a finite number >= 0".to_owned(),
            });
        }
        if opts.collector_interval_ms == 0 || opts.max_batch_spans == 0 || opts.sdk_flush_ms == 0 {
            problems.push(super::TopologyError {
                path: "batch_options".to_owned(),
                reason: "intervals and batch size must be > 0".to_owned(),
            });
        }
        if !problems.is_empty() {
            return Err(SimError::Invalid(problems));
        }
        let c = compile(&topology, &scenario, start)?;
        let st = State::new(&c, opts.sdk_flush_ms * 1_000_000);
        let mut arrivals = Rng::new(mix(&[seed, 0xA7]));
        let first = Self::gap(&c, &mut arrivals, start.nanos(), rate);
        Ok(Self {
            c,
            st,
            seed,
            rate,
            start: start.nanos(),
            opts,
            arrivals,
            next_arrival: start.nanos().saturating_add(first),
            trace_no: 0,
            window_end: start.nanos(),
            horizon: start.nanos(),
            stats: SimStats::default(),
        })
    }

    /// Time to the next root arrival after `t`, nanoseconds.
    fn gap(c: &Compiled, rng: &mut Rng, t: u64, rate: f64) -> u64 {
        let lambda = rate * c.traffic_multiplier(t);
        if lambda <= 0.0 {
            // Nobody arrives; look again in a second (a ramp may start).
            return 1_000_000_000;
        }
        ((rng.exponential(lambda) * 1e9) as u64).max(1)
    }

    /// Generates every root request arriving before `until` (and before the end).
    fn generate_until(&mut self, until: u64) {
        let stop = self.c.end.map_or(until, |e| e.min(until));
        while self.next_arrival < stop {
            let at = self.next_arrival;
            self.st.apply_changes(&self.c, at);
            let mut rng = Rng::new(mix(&[self.seed, self.trace_no]));
            let env = rng.weighted(&self.c.env_weights).unwrap_or(0);
            Gen {
                c: &self.c,
                st: &mut self.st,
                rng,
                env,
            }
            .root(at);
            self.trace_no += 1;
            let gap = Self::gap(&self.c, &mut self.arrivals, at, self.rate);
            self.next_arrival = at.saturating_add(gap);
        }
    }

    /// The next collector batch, or `None` when the scenario has ended and
    /// every span was returned. Batches advance in event time; one may be
    /// empty only after a long stretch without traffic.
    pub fn next_batch(&mut self) -> Option<ExportTraceServiceRequest> {
        let interval = self.opts.collector_interval_ms * 1_000_000;
        let mut empty = 0u32;
        loop {
            let ready = self
                .st
                .pending
                .peek()
                .is_some_and(|p| p.export_at < self.window_end);
            if ready {
                let mut spans = Vec::new();
                while spans.len() < self.opts.max_batch_spans {
                    match self.st.pending.peek() {
                        Some(p) if p.export_at < self.window_end => {}
                        _ => break,
                    }
                    if let Some(p) = self.st.pending.pop() {
                        spans.push(p);
                    }
                }
                self.horizon = match self.st.pending.peek() {
                    Some(p) if p.export_at < self.window_end => p.export_at,
                    _ => self.window_end,
                };
                self.stats.spans_emitted += spans.len() as u64;
                self.stats.batches += 1;
                return Some(assemble(spans, &self.st.resources));
            }
            self.horizon = self.window_end;
            let ended = self.c.end.is_some_and(|e| self.window_end >= e);
            if ended && self.st.pending.is_empty() {
                return None;
            }
            if empty >= MAX_EMPTY_WINDOWS {
                return Some(ExportTraceServiceRequest::default());
            }
            empty += 1;
            self.window_end = self.window_end.saturating_add(interval);
            self.generate_until(self.window_end);
        }
    }

    /// Event time up to which every span has been returned: all later
    /// batches hold spans exported at or after this instant.
    pub fn simulated_until(&self) -> Timestamp {
        Timestamp(self.horizon)
    }

    /// The simulation start.
    pub fn start(&self) -> Timestamp {
        Timestamp(self.start)
    }

    /// When root traffic stops, if the scenario has a duration.
    pub fn end(&self) -> Option<Timestamp> {
        self.c.end.map(Timestamp)
    }

    /// Every deployment record of the scenario, sorted by start time
    /// (known up front; a sender emits each once `simulated_until` passes it).
    pub fn deploy_events(&self) -> &[DeployRecord] {
        &self.c.deploys
    }

    /// Counters so far.
    pub fn stats(&self) -> SimStats {
        SimStats {
            traces: self.st.truth.traces,
            spans_generated: self.st.truth.spans,
            ..self.stats
        }
    }

    /// Requests and failures per edge and per (service, version) generated so
    /// far; after `next_batch` returned `None` it matches the output exactly.
    pub fn truth(&self) -> GroundTruth {
        ground_truth(&self.c, &self.st.truth)
    }
}
