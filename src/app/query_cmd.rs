//! `epicenter query ...`: history queries against a running daemon
//! (`--server URL`, over the HTTP API) or offline (`--data-dir DIR`,
//! opening `DIR/history.redb` read-only; a daemon holding the file is
//! reported with a hint to use `--server`). Tables by default, `--json`
//! for the API's JSON.
//!
//! Never does: compute an answer differently from the API: both go
//! through [`crate::query::answer`].

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::query::Request;

/// `epicenter query`.
#[derive(Debug, Args, Clone)]
pub struct QueryArgs {
    /// Base URL of a running daemon (e.g. http://127.0.0.1:9470).
    #[arg(long, global = true, value_name = "URL", conflicts_with = "data_dir")]
    pub server: Option<String>,
    /// A data directory holding `history.redb` (read-only; no daemon may hold it).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration (attribution lookback and soak, owners file) for offline queries.
    #[arg(long, global = true, env = "EPICENTER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// The query.
    #[command(subcommand)]
    pub command: QueryCommand,
}

/// The queries. Times: RFC 3339, `now`, or relative (`-2h`, `-30m`, `-1d`)
/// counted back from the newest window the history holds.
#[derive(Debug, Subcommand, Clone)]
pub enum QueryCommand {
    /// Which releases explain what happened to SERVICE around T (or in T1..T2).
    WhichRelease {
        /// The service.
        #[arg(long)]
        service: String,
        /// Around this time (one detection window before to four after).
        #[arg(long, allow_hyphen_values = true, conflicts_with_all = ["from", "to"])]
        at: Option<String>,
        /// Period start.
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// Period end (default: the newest window held).
        #[arg(long, allow_hyphen_values = true, requires = "from")]
        to: Option<String>,
        /// Environment, when the service runs in several.
        #[arg(long)]
        environment: Option<String>,
    },
    /// What SERVICE@VERSION changed.
    Release {
        /// `SERVICE@VERSION`.
        release: String,
        /// Environment, when several have it.
        #[arg(long)]
        environment: Option<String>,
    },
    /// Releases started since T.
    Releases {
        /// Start (default: everything held).
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// End.
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
    },
    /// Anomalies with an onset since T.
    Anomalies {
        /// Start (default: everything held).
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// End.
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
    },
    /// Alerts stored since T.
    Alerts {
        /// Start (default: everything held).
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// End.
        #[arg(long, allow_hyphen_values = true)]
        until: Option<String>,
    },
    /// Blast radius of changing SERVICE, and its risk class.
    Impact {
        /// The service.
        service: String,
        /// Traffic period start (default: one hour before --to).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// Traffic period end (default: the newest window held).
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Environment.
        #[arg(long)]
        environment: Option<String>,
    },
    /// Per-window requests, error ratio and latency of SERVICE.
    Series {
        /// The service.
        service: String,
        /// Only this version.
        #[arg(long)]
        version: Option<String>,
        /// Start (default: one hour before --to).
        #[arg(long, allow_hyphen_values = true)]
        from: Option<String>,
        /// End (default: the newest window held).
        #[arg(long, allow_hyphen_values = true)]
        to: Option<String>,
        /// Environment.
        #[arg(long)]
        environment: Option<String>,
    },
}

impl From<QueryCommand> for Request {
    fn from(command: QueryCommand) -> Self {
        match command {
            QueryCommand::WhichRelease {
                service,
                at,
                from,
                to,
                environment,
            } => Self::WhichRelease {
                service,
                environment,
                at,
                from,
                to,
            },
            QueryCommand::Release {
                release,
                environment,
            } => Self::Release {
                release,
                environment,
            },
            QueryCommand::Releases { since, until } => Self::Releases { since, until },
            QueryCommand::Anomalies { since, until } => Self::Anomalies { since, until },
            QueryCommand::Alerts { since, until } => Self::Alerts { since, until },
            QueryCommand::Impact {
                service,
                from,
                to,
                environment,
            } => Self::Impact {
                service,
                environment,
                from,
                to,
            },
            QueryCommand::Series {
                service,
                version,
                from,
                to,
                environment,
            } => Self::Series {
                service,
                environment,
                version,
                from,
                to,
            },
        }
    }
}

/// Why a query failed: bad usage (exit 64) or anything else (exit 1).
#[derive(Debug)]
pub enum Failure {
    /// Neither or both of `--server` and `--data-dir`, or a bad configuration.
    Usage(String),
    /// The query failed.
    Failed(anyhow::Error),
}

/// Runs the query; returns the text to print.
///
/// # Errors
/// See [`Failure`].
pub async fn run(args: QueryArgs) -> Result<String, Failure> {
    let json = args.json;
    let request = Request::from(args.command.clone());
    let value = match (&args.server, &args.data_dir) {
        (Some(server), None) => fetch(server, &request).await.map_err(Failure::Failed)?,
        (None, Some(dir)) => {
            let config = super::cli::ConfigArgs {
                config: args.config.clone(),
                data_dir: Some(dir.clone()),
            };
            let settings = super::cli::load_settings(&config, None)
                .map_err(|_| Failure::Usage("invalid configuration".into()))?;
            let request = request.clone();
            tokio::task::spawn_blocking(move || offline(settings, &request))
                .await
                .map_err(|e| Failure::Failed(e.into()))?
                .map_err(Failure::Failed)?
        }
        _ => {
            return Err(Failure::Usage(
                "give --server URL (a running daemon) or --data-dir DIR (offline)".into(),
            ));
        }
    };
    if json {
        return Ok(serde_json::to_string_pretty(&value).unwrap_or_default() + "\n");
    }
    crate::query::request::render(&request, &value)
        .context("the answer is not in the expected shape")
        .map_err(Failure::Failed)
}

fn offline(
    settings: crate::config::Settings,
    request: &Request,
) -> anyhow::Result<serde_json::Value> {
    let reader = crate::history::HistoryReader::open_read_only(&settings.data_dir)?;
    let ctx = crate::query::Context {
        reader,
        settings: settings.analysis,
    };
    Ok(crate::query::answer(&ctx, request)?)
}

async fn fetch(server: &str, request: &Request) -> anyhow::Result<serde_json::Value> {
    get(server, request, false)
        .await?
        .ok_or_else(|| anyhow::anyhow!("404: nothing stored for that"))
}

/// The daemon's answer to `request`; `None` when it holds nothing for it
/// (404). Reports read through this.
///
/// # Errors
/// A bad URL, no answer, an answer that is not JSON, or any other failure status.
pub(super) async fn fetch_optional(
    server: &str,
    request: &Request,
) -> anyhow::Result<Option<serde_json::Value>> {
    get(server, request, true).await
}

async fn get(
    server: &str,
    request: &Request,
    absent_ok: bool,
) -> anyhow::Result<Option<serde_json::Value>> {
    get_path(server, &request.segments(), &request.params(), absent_ok).await
}

/// `GET` of the path `segments` (not yet percent-encoded) with `params` on
/// the daemon at `server`; `None` for a 404 when `absent_ok`.
///
/// # Errors
/// A bad URL, no answer, an answer that is not JSON, or any other failure status.
pub(super) async fn get_path(
    server: &str,
    path: &[String],
    params: &[(&'static str, String)],
    absent_ok: bool,
) -> anyhow::Result<Option<serde_json::Value>> {
    let mut url = reqwest::Url::parse(server).with_context(|| format!("bad --server {server}"))?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|()| anyhow::anyhow!("--server {server} cannot be a base URL"))?;
        segments.pop_if_empty();
        for s in path {
            segments.push(s);
        }
    }
    if !params.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
    }
    let response = reqwest::Client::new()
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if absent_ok && status == reqwest::StatusCode::NOT_FOUND {
        return Ok(None);
    }
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("GET {url}: the answer is not JSON"))?;
    if !status.is_success() {
        let message = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("no error message");
        anyhow::bail!("{status}: {message}");
    }
    Ok(Some(body))
}
