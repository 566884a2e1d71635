//! `epicenter report`: a post-mortem draft from recorded input. The replay
//! pipeline runs in this process over the span and deployment files, and
//! [`ReplaySource`] answers the report's questions from what it produced:
//! the alerts, the release index, every closed window's per-service series,
//! the final graph (for dependents) and the owners file.
//!
//! The history store (`--data-dir`) and a running daemon (`--server`) are
//! read by [`super::report_sources::HistorySource`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::analyze::Owners;
use crate::config::Settings;
use crate::model::{
    Alert, GraphSnapshot, NodeKind, OwnerRef, Release, SeriesKey, Timestamp, WindowStats,
};
use crate::report::{
    Dependent, IncidentInfo, ReportSource, SeriesPoint, Subject, assemble, default_stem, render,
};

use super::cli::{ConfigArgs, EX_USAGE, load_settings};

use super::replay::{ReplayOptions, ReplayReport, run};
use super::report_sources::HistorySource;

/// A report source the command can hold, and whether reading it failed.
trait Source {
    fn as_report_source(&self) -> &dyn ReportSource;
    fn failure(&self) -> Option<anyhow::Error>;
}

impl Source for ReplaySource {
    fn as_report_source(&self) -> &dyn ReportSource {
        self
    }
    fn failure(&self) -> Option<anyhow::Error> {
        None
    }
}

impl Source for HistorySource {
    fn as_report_source(&self) -> &dyn ReportSource {
        self
    }
    fn failure(&self) -> Option<anyhow::Error> {
        self.take_failure()
    }
}

/// Dependents are followed this many hops upstream at most.
const MAX_DEPTH: u32 = 6;

/// A report source over one in-process replay.
#[derive(Debug)]
pub struct ReplaySource {
    description: String,
    alerts: Vec<Alert>,
    releases: Vec<Release>,
    /// Per-window points by (environment, service), in time order.
    series: BTreeMap<(String, String), Vec<SeriesPoint>>,
    snapshot: GraphSnapshot,
    owners: Owners,
    /// What the replay read and produced.
    pub report: ReplayReport,
}

fn point(window: &WindowStats, stats: &crate::model::SeriesStats) -> SeriesPoint {
    SeriesPoint {
        at: window.start,
        requests: stats.requests,
        error_ratio: if stats.requests == 0 {
            0.0
        } else {
            stats.errors as f64 / stats.requests as f64
        },
        latency_p50_secs: stats.latency.p50,
        latency_p99_secs: stats.latency.p99,
    }
}

impl ReplaySource {
    /// Replays `spans` and `deployments` with `settings` and keeps what a
    /// report needs. Blocking.
    ///
    /// # Errors
    /// When an input file cannot be opened or read.
    pub fn replay(
        settings: &Settings,
        spans: &[PathBuf],
        deployments: &[PathBuf],
        incidents: &[PathBuf],
    ) -> anyhow::Result<Self> {
        let options = ReplayOptions {
            spans: spans.to_vec(),
            deployments: deployments.to_vec(),
            incidents: incidents.to_vec(),
            alerts: PathBuf::new(),
            graph: None,
            progress: false,
        };
        let mut series: BTreeMap<(String, String), Vec<SeriesPoint>> = BTreeMap::new();
        let result = run(settings, &options, &mut |window| {
            for (key, stats) in &window.series {
                if let SeriesKey::Service {
                    environment,
                    service,
                } = key
                {
                    series
                        .entry((environment.to_string(), service.to_string()))
                        .or_default()
                        .push(point(window, stats));
                }
            }
        })?;
        let releases = result
            .analyzer
            .releases()
            .releases_since(Timestamp::default())
            .into_iter()
            .cloned()
            .collect();
        let names: Vec<String> = spans.iter().map(|p| p.display().to_string()).collect();
        Ok(Self {
            description: format!("a replay of {}", names.join(", ")),
            alerts: result.alerts,
            releases,
            series,
            snapshot: result.snapshot,
            owners: settings.analysis.owners.clone(),
            report: result.report,
        })
    }

    /// Every alert the replay produced.
    pub fn alerts(&self) -> &[Alert] {
        &self.alerts
    }
}

impl ReportSource for ReplaySource {
    fn describe(&self) -> String {
        self.description.clone()
    }

    /// A reported incident (`--incidents`) by its id, answered by an
    /// alert of the replay; else an anomaly, attribution or resolved
    /// alert's own id.
    fn incident(&self, id: &str) -> Option<IncidentInfo> {
        super::report_sources::incident_in(&self.alerts, id)
    }

    fn alerts(&self, from: Timestamp, to: Timestamp) -> Vec<Alert> {
        let mut out: Vec<Alert> = self
            .alerts
            .iter()
            .filter(|a| from <= a.detected_at && a.detected_at <= to)
            .cloned()
            .collect();
        out.sort_by_key(|a| a.detected_at); // stable: emission order among equals
        out
    }

    fn releases(&self, environment: &str, from: Timestamp, to: Timestamp) -> Vec<Release> {
        let within = |t: Timestamp| from <= t && t <= to;
        self.releases
            .iter()
            .filter(|r| *r.key.environment == *environment)
            .filter(|r| {
                within(r.started_at)
                    || r.exposure_start.is_some_and(within)
                    || r.rolled_back_at.is_some_and(within)
            })
            .cloned()
            .collect()
    }

    fn series(
        &self,
        service: &str,
        environment: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<SeriesPoint> {
        self.series
            .get(&(environment.to_string(), service.to_string()))
            .map(|points| {
                points
                    .iter()
                    .filter(|p| from <= p.at && p.at <= to)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Upstream services in the final graph (edges carry no environment, so
    /// this covers every environment). The share of a dependent is its
    /// estimated part of the service's inbound requests, assuming calls flow
    /// through each hop in proportion to its requests.
    fn dependents(&self, service: &str, _environment: &str) -> Vec<Dependent> {
        let is_service = |name: &str| {
            self.snapshot
                .nodes
                .iter()
                .any(|n| &*n.name == name && n.kind == NodeKind::Service)
        };
        let inbound = |server: &str| -> u64 {
            self.snapshot
                .edges
                .iter()
                .filter(|e| &*e.server == server)
                .map(|e| e.requests)
                .sum()
        };
        let mut share: BTreeMap<String, f64> = BTreeMap::from([(service.to_string(), 1.0)]);
        let mut depth_of: BTreeMap<String, u32> = BTreeMap::new();
        let mut frontier: BTreeSet<String> = BTreeSet::from([service.to_string()]);
        for depth in 1..=MAX_DEPTH {
            let mut next = BTreeSet::new();
            for server in &frontier {
                let total = inbound(server);
                let server_share = share.get(server).copied().unwrap_or(0.0);
                for edge in self.snapshot.edges.iter().filter(|e| &*e.server == server) {
                    let client = edge.client.to_string();
                    if client == service || !is_service(&client) || total == 0 {
                        continue;
                    }
                    *share.entry(client.clone()).or_default() +=
                        server_share * edge.requests as f64 / total as f64;
                    if !depth_of.contains_key(&client) {
                        depth_of.insert(client.clone(), depth);
                        next.insert(client);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        let mut out: Vec<Dependent> = depth_of
            .into_iter()
            .map(|(name, depth)| Dependent {
                traffic_share: share.get(&name).map(|s| s.min(1.0)),
                service: name,
                depth,
            })
            .collect();
        out.sort_by(|a, b| a.depth.cmp(&b.depth).then(a.service.cmp(&b.service)));
        out
    }

    fn owner(&self, service: &str) -> Option<OwnerRef> {
        self.owners.of(service)
    }

    /// The environment with the most requests for `service`.
    fn environment_of(&self, service: &str) -> Option<String> {
        self.series
            .iter()
            .filter(|((_, s), _)| s == service)
            .map(|((env, _), points)| (points.iter().map(|p| p.requests).sum::<u64>(), env))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
            .map(|(_, env)| env.clone())
    }
}

/// Runs `epicenter report` (blocking): 0 written, 1 failed, 64 bad usage.
pub fn command(args: &super::cli::ReportArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("report: {message}");
        ExitCode::from(EX_USAGE)
    };
    let subject = match (&args.incident, &args.service, &args.at) {
        (Some(id), _, _) => Subject::Incident(id.clone()),
        (None, Some(service), Some(at)) => match Timestamp::parse_rfc3339(at) {
            Some(at) => Subject::Service {
                service: service.clone(),
                environment: args.environment.clone(),
                at,
            },
            None => return usage(format!("--at {at}: not an RFC 3339 time")),
        },
        _ => return usage("give --incident ID, or --service S with --at T".to_string()),
    };
    let config = ConfigArgs {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
    };
    let settings = match load_settings(&config, None) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    crate::telemetry::init_tracing(crate::telemetry::LogFormat::Text, "warn");
    let opened = match (&args.server, &args.data_dir) {
        (Some(url), _) => HistorySource::server(url, settings.analysis.owners.clone())
            .map(|s| Box::new(s) as Box<dyn Source>),
        (None, Some(_)) => HistorySource::offline(&settings.data_dir, settings.analysis.clone())
            .map(|s| Box::new(s) as Box<dyn Source>),
        (None, None) if !args.spans.is_empty() => {
            ReplaySource::replay(&settings, &args.spans, &args.deployments, &args.incidents)
                .map(|s| {
                    eprintln!("{}", s.report);
                    Box::new(s) as Box<dyn Source>
                })
                .map_err(|e| e.context("replay failed"))
        }
        (None, None) => {
            return usage("give --spans FILE..., --data-dir DIR or --server URL".to_string());
        }
    };
    let source = match opened {
        Ok(source) => source,
        Err(error) => {
            eprintln!("report: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let assembled = assemble(source.as_report_source(), &subject);
    if let Some(error) = source.failure() {
        eprintln!(
            "report: reading {} failed: {error:#}",
            source.as_report_source().describe()
        );
        return ExitCode::FAILURE;
    }
    let input = match assembled {
        Ok(input) => input,
        Err(error) => {
            eprintln!("report: {error}");
            return ExitCode::FAILURE;
        }
    };
    let stem = args
        .name
        .clone()
        .unwrap_or_else(|| default_stem(&input.service, input.at));
    match render(&input, &stem).write(&args.out) {
        Ok(paths) => {
            for path in paths {
                eprintln!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("report: {error}");
            ExitCode::FAILURE
        }
    }
}
