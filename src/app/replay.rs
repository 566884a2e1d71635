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
use crate::model::{Alert, DeployEvent, ResourceInfo, Span, SpanBatch, WindowStats};

/// Spans per chunk handed to the graph; chunking never changes the result.
const CHUNK: usize = 4096;

/// What to replay and where to write.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Span files, OTLP JSON lines (`.gz` accepted).
    pub spans: Vec<PathBuf>,
    /// Deployment event files.
    pub deployments: Vec<PathBuf>,
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
    /// Alerts written.
    pub alerts: u64,
}

impl fmt::Display for ReplayReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replayed {} spans from {} lines ({} bad lines, {} spans rejected): \
             {} deployment events ({} invalid), {} windows, {} edges, {} alerts",
            self.spans,
            self.lines,
            self.bad_lines,
            self.rejected_spans,
            self.deployments,
            self.bad_deployments,
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

/// Runs the replay. Blocking; call from `spawn_blocking` in async contexts.
///
/// # Errors
/// When an input file cannot be opened or an output cannot be written.
/// A line that fails to decode is reported and skipped, not an error.
pub fn replay(settings: &Settings, options: &ReplayOptions) -> anyhow::Result<ReplayReport> {
    replay_into(settings, options, None)
}

/// [`replay`], also filling the durable history in `history` (one batch
/// per window, built exactly as the daemon's analysis task builds it).
/// A failed history write is counted in the report's log and skipped.
///
/// # Errors
/// As [`replay`].
pub fn replay_into(
    settings: &Settings,
    options: &ReplayOptions,
    history: Option<&crate::history::HistoryStore>,
) -> anyhow::Result<ReplayReport> {
    let history_metrics = crate::history::Metrics::default();
    let mut report = ReplayReport::default();
    let mut entries = read_all(options, &mut report)?;
    // Event-time order; the stable sort keeps input order among equal times.
    entries.sort_by_key(|entry| entry.span.end);

    let mut analyzer = Analyzer::new(settings.analysis.clone());
    for event in read_deployments(&options.deployments, &mut report)? {
        analyzer.on_deploy(event);
    }
    let mut graph = Graph::new(&settings.graph);
    let mut alerts: Vec<Alert> = Vec::new();
    let mut analyze = |windows: Vec<WindowStats>, report: &mut ReplayReport| {
        for window in windows {
            report.windows += 1;
            let outcome = analyzer.on_window(&window);
            if let Some(store) = history {
                let batch = crate::analyze::history_batch(&analyzer, &window, &outcome);
                crate::history::write_logged(store, &batch, &history_metrics);
            }
            alerts.extend(outcome.alerts);
        }
    };
    let bar = progress_bar(options.progress, entries.len() as u64);
    for chunk in entries.chunks(CHUNK) {
        graph.observe(&to_batch(chunk));
        analyze(graph.take_closed_windows(), &mut report);
        if let Some(bar) = &bar {
            bar.inc(chunk.len() as u64);
        }
    }
    analyze(graph.finish(), &mut report);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(store) = history {
        store.flush().context("flushing the history")?;
        anyhow::ensure!(
            history_metrics.write_error_count() == 0,
            "{} history writes failed (see the log)",
            history_metrics.write_error_count()
        );
    }
    let snapshot = graph.snapshot();
    report.edges = snapshot.edges.len() as u64;
    report.alerts = alerts.len() as u64;
    // The output file is always written, even empty, so callers can rely on it.
    write_alerts(&options.alerts, &alerts)?;
    if let Some(path) = &options.graph {
        let json = crate::api::graph_json(&snapshot);
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing graph to {}", path.display()))?;
    }
    Ok(report)
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
    let mut events = Vec::new();
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
                    report.bad_deployments += 1;
                    eprintln!("{}: document {}: {error}", path.display(), n + 1);
                    break;
                }
            }
        }
        for (n, document) in documents.iter().enumerate() {
            let bytes = serde_json::to_vec(document)?;
            match decode_deploy_event(&bytes, &[]) {
                Ok(Some(event)) => {
                    report.deployments += 1;
                    events.push(event);
                }
                Ok(None) => {}
                Err(error) => {
                    report.bad_deployments += 1;
                    eprintln!("{}: event {}: {error}", path.display(), n + 1);
                }
            }
        }
    }
    Ok(events)
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
