//! `epicenter graph`: fetches the live graph from a daemon's API and prints
//! it as a table, JSON or Graphviz dot.

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::Value;

use super::cli::{GraphArgs, GraphFormat};

/// Fetches and formats the graph.
///
/// # Errors
/// When the daemon cannot be reached or answers with an error.
pub async fn print(args: &GraphArgs) -> anyhow::Result<String> {
    let mut url = format!("{}/api/v1/graph", args.server.trim_end_matches('/'));
    let mut query = Vec::new();
    if let Some(service) = &args.service {
        query.push(format!("service={service}"));
    }
    if let Some(depth) = args.depth {
        query.push(format!("depth={depth}"));
    }
    if matches!(args.format, GraphFormat::Dot) {
        query.push("format=dot".into());
    }
    if !query.is_empty() {
        url = format!("{url}?{}", query.join("&"));
    }
    let response = reqwest::get(&url)
        .await
        .with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().await.context("reading the response")?;
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}: {body}");
    }
    Ok(match args.format {
        GraphFormat::Dot => body,
        GraphFormat::Json => body + "\n",
        GraphFormat::Table => table(&serde_json::from_str(&body).context("parsing the graph")?),
    })
}

/// Renders the API's graph JSON as two aligned tables.
pub fn table(graph: &Value) -> String {
    let empty = Vec::new();
    let nodes = graph["nodes"].as_array().unwrap_or(&empty);
    let edges = graph["edges"].as_array().unwrap_or(&empty);
    let mut out = String::new();
    let _ignored = writeln!(out, "{:<32} {:<10} VERSIONS", "NODE", "KIND");
    for node in nodes {
        let versions: Vec<String> = node["versions"]
            .as_array()
            .map(|v| v.iter().map(|x| text(&x["version"]).to_string()).collect())
            .unwrap_or_default();
        let _ignored = writeln!(
            out,
            "{:<32} {:<10} {}",
            text(&node["name"]),
            text(&node["kind"]),
            versions.join(",")
        );
    }
    let _ignored = writeln!(out);
    let _ignored = writeln!(
        out,
        "{:<24} {:<24} {:<17} {:>10} {:>8} {:>10}",
        "CLIENT", "SERVER", "TYPE", "REQUESTS", "FAILED", "P99 MS"
    );
    for edge in edges {
        let p99 = edge["server_latency_seconds"]["p99"]
            .as_f64()
            .unwrap_or(0.0)
            * 1e3;
        let _ignored = writeln!(
            out,
            "{:<24} {:<24} {:<17} {:>10} {:>8} {:>10.1}",
            text(&edge["client"]),
            text(&edge["server"]),
            text(&edge["connection_type"]),
            edge["requests"].as_u64().unwrap_or(0),
            edge["failed"].as_u64().unwrap_or(0),
            p99
        );
    }
    out
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}
