//! The command line: argument definitions and one function per subcommand.
//! Each returns the process exit code (0 ok, 1 failure, 64 bad usage/config).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{self, Settings, Source};

/// Exit status for an invalid command line or configuration (sysexits `EX_USAGE`).
pub const EX_USAGE: u8 = 64;

/// Epicenter: what changed, and what did it break?
#[derive(Debug, Parser)]
#[command(name = "epicenter", version, about, long_about = None)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (embedded defaults: OTLP on localhost, no Kafka).
    Run(RunArgs),
    /// Run the pipeline over recorded span files, in event-time order.
    Replay(ReplayArgs),
    /// Start the daemon and a simulated fleet that sends it real OTLP; live view.
    Demo(DemoArgs),
    /// Send simulated traffic to an OTLP endpoint, Kafka, or a file.
    Simulate(crate::sim::cli::SimulateArgs),
    /// Print the live graph of a running daemon.
    Graph(GraphArgs),
    /// Validate a configuration file and print every error.
    CheckConfig(ConfigArgs),
    /// Verify or export the hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Query the durable history: which release, a release's report, impact, lists.
    Query(super::query_cmd::QueryArgs),
    /// Write a Markdown post-mortem draft with SVG charts.
    Report(ReportArgs),
}

/// `epicenter report`: what to report on, where the data comes from, where
/// to write.
#[derive(Debug, Args, Clone)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["incident", "service"])))]
#[command(group(clap::ArgGroup::new("data").required(true).args(["spans", "data_dir", "server"])))]
pub struct ReportArgs {
    /// The incident: a reported incident's id (with --incidents), or the id
    /// of an anomaly, attribution or resolved alert.
    #[arg(long, value_name = "ID", conflicts_with_all = ["service", "at"])]
    pub incident: Option<String>,
    /// The service (with --at).
    #[arg(long, value_name = "S", requires = "at")]
    pub service: Option<String>,
    /// The time of interest, RFC 3339 (`2026-03-02T09:20:00Z`).
    #[arg(long, value_name = "T", requires = "service")]
    pub at: Option<String>,
    /// The service's environment [default: the one with most traffic].
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
    /// Directory to write into (created when missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
    /// File stem [default: postmortem-SERVICE-YYYYMMDDTHHMM].
    #[arg(long, value_name = "STEM")]
    pub name: Option<String>,
    /// Recorded spans to replay in-process (OTLP JSON lines, `.gz` accepted).
    #[arg(long, num_args = 1.., value_name = "FILE", conflicts_with_all = ["data_dir", "server"])]
    pub spans: Vec<PathBuf>,
    /// Deployment event files for the replay (with --spans).
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "spans")]
    pub deployments: Vec<PathBuf>,
    /// Reported incident files for the replay (with --spans); `--incident ID`
    /// then finds an incident by its reporter's id.
    #[arg(long, num_args = 1.., value_name = "FILE", requires = "spans")]
    pub incidents: Vec<PathBuf>,
    /// A data directory holding `history.redb`, read offline (read-only; no
    /// daemon may hold it: use --server then).
    #[arg(long, value_name = "DIR", conflicts_with = "server")]
    pub data_dir: Option<PathBuf>,
    /// Base URL of a running daemon whose history the report reads
    /// (e.g. http://127.0.0.1:9470).
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// YAML configuration (detection settings for the replay, attribution
    /// settings for `--data-dir`, and the owners file).
    #[arg(long, env = "EPICENTER_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `epicenter audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain (archive, then live segments); exit 1 naming
    /// the first altered, removed or reordered record.
    Verify(AuditVerifyArgs),
    /// Verify, then write every segment in order to one `.jsonl.gz` and a
    /// manifest with the head hash to `OUT.manifest.json`.
    Export(AuditExportArgs),
}

/// `epicenter audit verify`.
#[derive(Debug, Args, Clone)]
pub struct AuditVerifyArgs {
    /// The daemon's data directory (holding `audit/`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
}

/// `epicenter audit export`.
#[derive(Debug, Args, Clone)]
pub struct AuditExportArgs {
    /// The daemon's data directory (holding `audit/`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The archive to write (gzip'd JSON lines), e.g. `audit-2026-03.jsonl.gz`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Options shared by every command that loads the configuration.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// YAML configuration file (see deploy/config/example.yaml).
    #[arg(long, env = "EPICENTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for durable state.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `epicenter run`.
#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, value_name = "ADDR")]
    pub otlp_grpc: Option<String>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, value_name = "ADDR")]
    pub otlp_http: Option<String>,
    /// API, /metrics and health listen address [default: 127.0.0.1:9470].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Kafka bootstrap servers; enables the Kafka span consumer.
    #[arg(long, value_name = "LIST")]
    pub kafka_brokers: Option<String>,
}

/// `epicenter replay`.
#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// OTLP JSON-lines span files (one TracesData per line; `.gz` accepted).
    #[arg(long, num_args = 1.., required = true, value_name = "FILE")]
    pub spans: Vec<PathBuf>,
    /// Deployment event files (JSON lines).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub deployments: Vec<PathBuf>,
    /// Reported incident files (JSON lines; plain, PagerDuty or CDEvents form).
    #[arg(long, num_args = 1.., value_name = "FILE")]
    pub incidents: Vec<PathBuf>,
    /// Where to write alerts, one JSON object per line (`-` for stdout).
    #[arg(long, value_name = "OUT")]
    pub alerts: PathBuf,
    /// Where to write the final graph as JSON.
    #[arg(long, value_name = "OUT")]
    pub graph: Option<PathBuf>,
    /// Configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `epicenter demo`.
#[derive(Debug, Args, Clone, Default)]
pub struct DemoArgs {
    /// Daemon options.
    #[command(flatten)]
    pub run: RunArgs,
    /// Simulator seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Simulated front-door requests per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
}

/// Output format of `epicenter graph`.
#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub enum GraphFormat {
    /// Aligned text table.
    #[default]
    Table,
    /// The API's JSON.
    Json,
    /// Graphviz.
    Dot,
}

/// `epicenter graph`.
#[derive(Debug, Args, Clone)]
pub struct GraphArgs {
    /// Base URL of a running daemon.
    #[arg(
        long,
        default_value = "http://127.0.0.1:9470",
        env = "EPICENTER_SERVER"
    )]
    pub server: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Table)]
    pub format: GraphFormat,
    /// Only the neighbourhood of this service.
    #[arg(long)]
    pub service: Option<String>,
    /// Neighbourhood depth (with --service).
    #[arg(long)]
    pub depth: Option<u32>,
}

/// Loads settings from the file, environment and these flags, or prints
/// every error and returns the usage exit code.
pub fn load_settings(config: &ConfigArgs, run: Option<&RunArgs>) -> Result<Settings, ExitCode> {
    let mut source = match Source::from_process(config.config.as_deref()) {
        Ok(source) => source,
        Err(errors) => {
            eprintln!("invalid configuration:\n{errors}");
            return Err(ExitCode::from(EX_USAGE));
        }
    };
    if let Some(dir) = &config.data_dir {
        source = source.flag("data_dir", dir.display().to_string());
    }
    if let Some(run) = run {
        if let Some(addr) = &run.otlp_grpc {
            source = source.flag("ingest.otlp.grpc_listen", addr.as_str());
        }
        if let Some(addr) = &run.otlp_http {
            source = source.flag("ingest.otlp.http_listen", addr.as_str());
        }
        if let Some(addr) = &run.listen {
            source = source.flag("api.listen", addr.as_str());
        }
        if let Some(brokers) = &run.kafka_brokers {
            source = source.flag("ingest.kafka.brokers", brokers.as_str());
        }
    }
    config::load(&source).map_err(|errors| {
        eprintln!("invalid configuration:\n{errors}");
        ExitCode::from(EX_USAGE)
    })
}

/// `epicenter check-config`.
pub fn check_config(args: ConfigArgs) -> ExitCode {
    match load_settings(&args, None) {
        Ok(_) => {
            eprintln!("configuration is valid");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `epicenter run`.
pub async fn run(args: RunArgs) -> ExitCode {
    let settings = match load_settings(&args.config, Some(&args)) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    init_logging(&settings);
    let registry = crate::telemetry::new_registry();
    match super::run(settings, registry, crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "daemon stopped with an error");
            ExitCode::FAILURE
        }
    }
}

/// `epicenter replay`.
pub async fn replay(args: ReplayArgs) -> ExitCode {
    let settings = match load_settings(&args.config, None) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    init_logging(&settings);
    let options = super::replay::ReplayOptions::from(&args);
    // `--data-dir` fills the durable history there (issue 4).
    let history = match &args.config.data_dir {
        Some(_) => {
            match crate::history::HistoryStore::open(&settings.data_dir, &settings.history) {
                Ok(mut store) => {
                    store.set_deferred_durability();
                    Some(store)
                }
                Err(error) => {
                    eprintln!("replay failed: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    match tokio::task::spawn_blocking(move || {
        super::replay::replay_into(&settings, &options, history.as_ref())
    })
    .await
    {
        Ok(Ok(report)) => {
            eprintln!("{report}");
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => {
            eprintln!("replay failed: {error:#}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("replay failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `epicenter demo`.
pub async fn demo(args: DemoArgs) -> ExitCode {
    let settings = match load_settings(&args.run.config, Some(&args.run)) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    init_logging_quiet(&settings);
    match super::demo::run(settings, args.seed, args.rate, crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `epicenter simulate`.
pub async fn simulate(args: crate::sim::cli::SimulateArgs) -> ExitCode {
    crate::telemetry::init_tracing(crate::telemetry::LogFormat::Text, "info");
    let options = match args.into_options(super::wall_clock_now()) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("simulate: {message}");
            return ExitCode::from(EX_USAGE);
        }
    };
    match crate::sim::send::run_simulate(options, crate::shutdown::signal()).await {
        Ok(report) => {
            eprintln!("{}", super::demo::describe(&report));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("simulate failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `epicenter graph`.
pub async fn graph(args: GraphArgs) -> ExitCode {
    match super::graph_cmd::print(&args).await {
        Ok(text) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ignored = out.write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("graph: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `epicenter audit verify|export`: 0 intact/exported, 1 broken or failed.
pub fn audit(command: AuditCommand) -> ExitCode {
    match command {
        AuditCommand::Verify(args) => match crate::audit::verify(&args.data_dir) {
            Ok(crate::audit::Outcome::Intact(report)) => {
                for note in &report.notes {
                    eprintln!("note: {note}");
                }
                eprintln!(
                    "audit log intact: {} records in {} segments, seq {}..{}, head {}",
                    report.records,
                    report.segments.len(),
                    report.first_seq,
                    report.head_seq,
                    report.head_hash
                );
                ExitCode::SUCCESS
            }
            Ok(crate::audit::Outcome::Broken(broken)) => {
                eprintln!("audit log BROKEN at {broken}");
                ExitCode::FAILURE
            }
            Err(error) => {
                eprintln!("audit verify: {error}");
                ExitCode::FAILURE
            }
        },
        AuditCommand::Export(args) => match crate::audit::export(&args.data_dir, &args.out) {
            Ok((manifest, manifest_path)) => {
                eprintln!(
                    "exported {} records ({} segments) to {}; manifest {} (head seq {}, hash {})",
                    manifest.records,
                    manifest.segments.len(),
                    args.out.display(),
                    manifest_path.display(),
                    manifest.head_seq,
                    manifest.head_hash
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("audit export: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// `epicenter query ...`: 0 answered, 1 failed, 64 bad usage.
pub async fn query(args: super::query_cmd::QueryArgs) -> ExitCode {
    use std::io::Write as _;
    match super::query_cmd::run(args).await {
        Ok(text) => {
            let _ignored = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(super::query_cmd::Failure::Usage(message)) => {
            eprintln!("query: {message}");
            ExitCode::from(EX_USAGE)
        }
        Err(super::query_cmd::Failure::Failed(error)) => {
            eprintln!("query: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `epicenter report`: 0 written, 1 failed, 64 bad usage.
pub async fn report(args: ReportArgs) -> ExitCode {
    match tokio::task::spawn_blocking(move || super::report_cmd::command(&args)).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("report failed: {error}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(settings: &Settings) {
    let format = if settings.log_json {
        crate::telemetry::LogFormat::Json
    } else {
        crate::telemetry::LogFormat::Text
    };
    crate::telemetry::init_tracing(format, &settings.log_level);
}

/// The demo owns the terminal: only warnings reach stderr.
fn init_logging_quiet(settings: &Settings) {
    let _ = settings;
    crate::telemetry::init_tracing(crate::telemetry::LogFormat::Text, "warn");
}
