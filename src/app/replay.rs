//! `epicenter replay`: the daemon's pipeline over recorded span files.
//!
//! Reads every file completely, orders all spans by event time (end time,
//! then input position, so ties are stable), and feeds the same graph core
//! the daemon runs, with the same defaults, in fixed-size chunks. Every
//! closed window then goes through the same [`Analyzer`] the daemon's
//! analysis task drives, with every deployment event queued up front (the
//! analyzer applies each before the first window that ends after it). The
//! output therefore depends only on the input, never on how it was batched,
//! which file it came from, or how many threads ran.
//!
//! Deployment files hold JSON documents one after another (JSON lines, or
//! pretty-printed) or a JSON array of them, each in any form the daemon
//! accepts (CDEvents v0.4/v0.5 bare or as a structured CloudEvent, or the
//! plain form). An invalid event is reported on stderr and skipped.
//!
//! Incident files (`--incidents`) hold reported incidents the same way, in
//! any form the daemon accepts; each is answered when the replay's event
//! time passes its due time, exactly as the daemon answers one that arrived
//! before that.
//!
//! Memory: every decoded span is held until it is sorted (about 250 bytes
//! per span; 300,000 spans ≈ 75 MB).

use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::analyze::Analyzer;
use crate::config::Settings;
use crate::graph::Graph;
use crate::ingest::deploy::decode_deploy_event;
use crate::ingest::file::SpanFile;
use crate::ingest::incident::decode_incident;
use crate::model::{
    Alert, DeployEvent, GraphSnapshot, Incident, ResourceInfo, Span, SpanBatch, WindowStats,
};

/// Spans per chunk handed to the graph; chunking never changes the result.
const CHUNK: usize = 4096;

/// What to replay and where to write.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Span files, OTLP JSON lines (`.gz` accepted).
    pub spans: Vec<PathBuf>,
    /// Deployment event files.
    pub deployments: Vec<PathBuf>,
    /// Reported incident files (JSON documents one after another, or an array).
    pub incidents: Vec<PathBuf>,
    /// Alerts output (`-` = stdout).
    pub alerts: PathBuf,
    /// Final graph output, JSON.
    pub graph: Option<PathBuf>,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
}

impl From<&super::cli::ReplayArgs> for ReplayOptions {
    fn from(args: &super::cli::ReplayArgs) -> Self {
        Self {
            spans: args.spans.clone(),
            deployments: args.deployments.clone(),
            incidents: args.incidents.clone(),
            alerts: args.alerts.clone(),
            graph: args.graph.clone(),
            progress: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }
}

/// What a replay did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Lines read across all files.
    pub lines: u64,
    /// Lines that failed to decode (reported on stderr, skipped).
    pub bad_lines: u64,
    /// Spans accepted.
    pub spans: u64,
    /// Spans rejected by validation (ids, timestamps, missing service.name).
    pub rejected_spans: u64,
    /// Windows closed.
    pub windows: u64,
    /// Edges in the final graph.
    pub edges: u64,
    /// Deployment events read (valid and understood).
    pub deployments: u64,
    /// Deployment events that were invalid (reported on stderr, skipped).
    pub bad_deployments: u64,
    /// Incidents read (valid, to answer).
    pub incidents: u64,
    /// Incidents that were invalid (reported on stderr, skipped).
    pub bad_incidents: u64,
    /// Alerts written.
    pub alerts: u64,
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replayed {} spans from {} lines ({} bad lines, {} spans rejected): \
             {} deployment events ({} invalid), {} incidents ({} invalid), {} windows, \
             {} edges, {} alerts",
            self.spans,
            self.lines,
            self.bad_lines,
            self.rejected_spans,
            self.deployments,
            self.bad_deployments,
            self.incidents,
            self.bad_incidents,
            self.windows,
            self.edges,
            self.alerts
        )
    }
}

/// One span with its resource, ready to be sorted.
struct Entry {
    span: Span,
    resource: Arc<ResourceInfo>,
}

/// Everything a replay produced, for callers in this process
/// (`epicenter report` builds its report from it).
#[derive(Debug)]
pub struct ReplayRun {
    /// Counts.
    pub report: ReplayReport,
    /// Every alert, in emission order.
    pub alerts: Vec<Alert>,
    /// The final graph.
    pub snapshot: GraphSnapshot,
    /// The analyzer after the last window (its release index holds every release).
    pub analyzer: Analyzer,
}

/// Runs the replay. Blocking; call from `spawn_blocking` in async contexts.
///
/// # Errors
/// When an input file cannot be opened or an output cannot be written.
/// A line that fails to decode is reported and skipped, not an error.
pub fn replay(settings: &Settings, options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    replay_into(settings, options, None)
}

/// [`replay`], also filling the durable history in `history` (issue 4):
/// one batch per window, built by the function the daemon's analysis task
/// uses, so both fill the history alike.
///
/// # Errors
/// As [`replay`], and when a history write failed (each failure is also
/// logged).
pub fn replay_into(
    settings: &Settings,
    options: &ReplayOptions,
    history: Option<&crate::history::HistoryStore>,
) -> anyhow::Result<ReplayReport> {
    let run = run_with(settings, options, &mut |_| {}, history)?;
    // The output file is always written, even empty, so callers can rely on it.
    write_alerts(&options.alerts, &run.alerts)?;
    if let Some(path) = &options.graph {
        let json = crate::api::graph_json(&run.snapshot);
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing graph to {}", path.display()))?;
    }
    Ok(run.report)
}

/// The replay pipeline without its outputs: every closed window is shown
/// to `on_window` (in event-time order) after the analyzer has seen it.
/// `options.alerts` and `options.graph` are not written.
///
/// # Errors
/// When an input file cannot be opened or read.
pub fn run(
    settings: &Settings,
    options: &ReplayOptions,
    on_window: &mut dyn FnMut(&WindowStats),
) -> anyhow::Result<ReplayRun> {
    run_with(settings, options, on_window, None)
}

/// [`run`], writing each step's history batch to `history` when given.
fn run_with(
    settings: &Settings,
    options: &ReplayOptions,
    on_window: &mut dyn FnMut(&WindowStats),
    history: Option<&crate::history::HistoryStore>,
) -> anyhow::Result<ReplayRun> {
    let history_metrics = crate::history::Metrics::default();
    let write = |batch: crate::history::Batch| {
        if let Some(store) = history {
            crate::history::write_logged(store, &batch, &history_metrics);
        }
    };
    let mut report = ReplayReport::default();
    let mut entries = read_all(options, &mut report)?;
    // Event-time order; the stable sort keeps input order among equal times.
    entries.sort_by_key(|entry| entry.span.end);

    let mut analyzer = Analyzer::new(settings.analysis.clone());
    for event in read_deployments(&options.deployments, &mut report)? {
        analyzer.on_deploy(event);
    }
    // Incidents are queued up front too: each is answered at the window
    // that passes its due time, as the daemon answers one that arrived in time.
    let mut early_alerts: Vec<Alert> = Vec::new();
    for incident in read_incidents(&options.incidents, &mut report)? {
        let outcome = analyzer.on_incident(incident.clone());
        write(crate::analyze::record::incident_batch(&incident, &outcome));
        early_alerts.extend(outcome.alerts);
    }
    let mut graph = Graph::new(&settings.graph);
    let mut alerts: Vec<Alert> = early_alerts;
    let mut analyze =
        |windows: Vec<WindowStats>, report: &mut ReplayReport, analyzer: &mut Analyzer| {
            for window in windows {
                report.windows += 1;
                let outcome = analyzer.on_window(&window);
                write(crate::analyze::history_batch(analyzer, &window, &outcome));
                alerts.extend(outcome.alerts);
                on_window(&window);
            }
        };
    let bar = progress_bar(options.progress, entries.len() as u64);
    for chunk in entries.chunks(CHUNK) {
        graph.observe(&to_batch(chunk));
        analyze(graph.take_closed_windows(), &mut report, &mut analyzer);
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    analyze(graph.finish(), &mut report, &mut analyzer);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(store) = history {
        store.flush().context("flushing the history")?;
        let failed = history_metrics.write_error_count();
        anyhow::ensure!(failed == 0, "{failed} history writes failed (see the log)");
    }
    let snapshot = graph.snapshot();
    report.edges = snapshot.edges.len() as u64;
    report.alerts = alerts.len() as u64;
    Ok(ReplayRun {
        report,
        alerts,
        snapshot,
        analyzer,
    })
}

fn read_all(options: &ReplayOptions, report: &mut ReplayReport) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for path in &options.spans {
        let file = SpanFile::open(path).with_context(|| format!("opening {}", path.display()))?;
        for line in file {
            report.lines += 1;
            match line {
                Ok(decoded) => {
                    report.rejected_spans += decoded.rejected.total();
                    let resources: Vec<Arc<ResourceInfo>> =
                        decoded.batch.resources.into_iter().map(Arc::new).collect();
                    for span in decoded.batch.spans {
                        let resource = Arc::clone(&resources[span.resource as usize]);
                        entries.push(Entry { span, resource });
                    }
                }
                Err(error) => {
                    report.bad_lines += 1;
                    eprintln!("{}: {error}", path.display());
                }
            }
        }
    }
    report.spans = entries.len() as u64;
    Ok(entries)
}

/// Rebuilds a batch from sorted entries, sharing resources by pointer.
fn to_batch(chunk: &[Entry]) -> SpanBatch {
    let mut batch = SpanBatch::default();
    let mut index: std::collections::HashMap<*const ResourceInfo, u32> = Default::default();
    for entry in chunk {
        let key = Arc::as_ptr(&entry.resource);
        let slot = match index.get(&key) {
            Some(slot) => *slot,
            None => {
                let slot = batch.resources.len() as u32;
                batch.resources.push((*entry.resource).clone());
                index.insert(key, slot);
                slot
            }
        };
        let mut span = entry.span.clone();
        span.resource = slot;
        batch.spans.push(span);
    }
    batch
}

/// Reads every deployment file; invalid events are reported and counted.
fn read_deployments(
    paths: &[PathBuf],
    report: &mut ReplayReport,
) -> anyhow::Result<Vec<DeployEvent>> {
    let mut counts = (0, 0);
    let events = read_documents(paths, "event", &mut counts, |bytes| {
        decode_deploy_event(bytes, &[]).map_err(|e| e.to_string())
    })?;
    report.deployments += counts.0;
    report.bad_deployments += counts.1;
    Ok(events)
}

/// Reads every incident file (documents one after another, or arrays);
/// invalid ones are reported and counted, well-formed ones with nothing to
/// answer are skipped.
fn read_incidents(paths: &[PathBuf], report: &mut ReplayReport) -> anyhow::Result<Vec<Incident>> {
    let mut counts = (0, 0);
    let incidents = read_documents(paths, "incident", &mut counts, |bytes| {
        decode_incident(bytes, &[]).map_err(|e| e.to_string())
    })?;
    report.incidents += counts.0;
    report.bad_incidents += counts.1;
    Ok(incidents)
}

/// Reads JSON documents (one after another, or arrays) from every file and
/// decodes each with `decode`; `counts` gets (decoded, bad). Bad documents
/// are reported on stderr, documents with nothing to decode are skipped.
fn read_documents<T>(
    paths: &[PathBuf],
    noun: &str,
    counts: &mut (u64, u64),
    decode: impl Fn(&[u8]) -> Result<Option<T>, String>,
) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for path in paths {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut documents = Vec::new();
        for (n, value) in serde_json::Deserializer::from_str(&text)
            .into_iter::<serde_json::Value>()
            .enumerate()
        {
            match value {
                Ok(serde_json::Value::Array(items)) => documents.extend(items),
                Ok(value) => documents.push(value),
                Err(error) => {
                    counts.1 += 1;
                    eprintln!("{}: document {}: {error}", path.display(), n + 1);
                    break;
                }
            }
        }
        for (n, document) in documents.iter().enumerate() {
            let bytes = serde_json::to_vec(document)?;
            match decode(&bytes) {
                Ok(Some(item)) => {
                    counts.0 += 1;
                    out.push(item);
                }
                Ok(None) => {}
                Err(error) => {
                    counts.1 += 1;
                    eprintln!("{}: {noun} {}: {error}", path.display(), n + 1);
                }
            }
        }
    }
    Ok(out)
}

fn write_alerts(path: &PathBuf, alerts: &[Alert]) -> anyhow::Result<()> {
    let mut text = String::new();
    for alert in alerts {
        text.push_str(&serde_json::to_string(alert)?);
        text.push('\n');
    }
    if path.as_os_str() == "-" {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn progress_bar(enabled: bool, total: u64) -> Option<indicatif::ProgressBar> {
    if !enabled {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} spans ({per_sec}, {eta})")
    {
        bar.set_style(style);
    }
    Some(bar)
}
