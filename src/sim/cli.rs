//! `epicenter simulate` arguments (clap), for `main.rs` to embed, and their
//! conversion into [`SimulateOptions`].
//!
//! Never does: I/O, clock (the caller passes "now").

use std::path::PathBuf;

use crate::model::Timestamp;

use super::presets::{PRESET_NAMES, preset};
use super::send::{Pacing, SimTarget, SimulateOptions};
use super::simulator::BatchOptions;
use super::{DeployFormat, Topology};

/// Send simulated traffic of a realistic fleet to an OTLP receiver, Kafka or a file.
#[derive(Clone, Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["otlp", "kafka", "out"])))]
pub struct SimulateArgs {
    /// OTLP/HTTP base URL (`/v1/traces` is appended), e.g. http://127.0.0.1:4318.
    #[arg(long, value_name = "URL")]
    pub otlp: Option<String>,
    /// Kafka bootstrap servers; records go to --topic.
    #[arg(long, value_name = "BROKERS")]
    pub kafka: Option<String>,
    /// Write OTLP/JSON lines (one TracesData per line; gzip if the name ends in .gz).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Kafka topic.
    #[arg(long, default_value = "otlp_spans")]
    pub topic: String,
    /// One Kafka record per trace, keyed by the trace id (the Collector's `partition_traces_by_id`).
    #[arg(long)]
    pub key_by_trace_id: bool,
    /// PRNG seed: the same seed gives the same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Root requests per second.
    #[arg(long, default_value_t = 50.0)]
    pub rate: f64,
    /// Seconds of event time to simulate (default: the scenario's, else until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Event time runs X times as fast as wall time; 0 = as fast as possible
    /// (default: 1 for --otlp/--kafka, 0 for --out).
    #[arg(long, value_name = "X")]
    pub speed: Option<f64>,
    /// A built-in scenario (see `epicenter simulate --help`): steady, rollout, bad-release, …
    #[arg(long, default_value = "steady", value_parser = clap::builder::PossibleValuesParser::new(PRESET_NAMES))]
    pub scenario: String,
    /// Seconds of clean traffic before a scenario's first event.
    #[arg(long, default_value_t = 900.0, value_name = "SECS")]
    pub warmup: f64,
    /// A generated fleet of N services instead of the built-in shop.
    #[arg(long, value_name = "N")]
    pub services: Option<usize>,
    /// Event time of the first span (RFC 3339; default now).
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Also write the scenario's deployment records as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub deployments_out: Option<PathBuf>,
    /// Form of the deployment records.
    #[arg(long, value_enum, default_value = "plain")]
    pub deployments_format: DeployFormat,
}

impl SimulateArgs {
    /// Builds the options; `now` is the wall clock, used when `--start` is absent.
    ///
    /// # Errors
    /// A message naming the bad argument.
    pub fn into_options(self, now: Timestamp) -> Result<SimulateOptions, String> {
        let target = match (self.otlp, self.kafka, self.out) {
            (Some(url), None, None) => SimTarget::OtlpHttp { url },
            (None, Some(brokers), None) => SimTarget::Kafka {
                brokers,
                topic: self.topic,
                key_by_trace_id: self.key_by_trace_id,
            },
            (None, None, Some(path)) => SimTarget::File { path },
            _ => return Err("give exactly one of --otlp, --kafka, --out".to_owned()),
        };
        let speed = self
            .speed
            .unwrap_or(if matches!(target, SimTarget::File { .. }) {
                0.0
            } else {
                1.0
            });
        let pacing = match speed {
            0.0 => Pacing::AsFastAsPossible,
            s if s > 0.0 && s.is_finite() => Pacing::RealTime { speed: s },
            _ => return Err(format!("--speed must be >= 0, got {speed}")),
        };
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            return Err(format!("--rate must be >= 0, got {}", self.rate));
        }
        let start = match &self.start {
            Some(text) => Timestamp::parse_rfc3339(text)
                .ok_or_else(|| format!("--start: not RFC 3339: {text}"))?,
            None => now,
        };
        let p = preset(&self.scenario, self.warmup)
            .ok_or_else(|| format!("unknown scenario {}", self.scenario))?;
        let topology = match self.services {
            Some(n) if n > 0 => Topology::generated(n, self.seed),
            Some(_) => return Err("--services must be > 0".to_owned()),
            None => p.topology,
        };
        if self.services.is_some() && !p.scenario.events.is_empty() {
            return Err(
                "scenarios other than steady need the built-in fleet (drop --services)".to_owned(),
            );
        }
        let mut scenario = p.scenario;
        if let Some(d) = self.duration {
            if !(d > 0.0 && d.is_finite()) {
                return Err(format!("--duration must be > 0, got {d}"));
            }
            scenario.duration_secs = Some(d);
        }
        Ok(SimulateOptions {
            target,
            topology,
            scenario,
            seed: self.seed,
            rate_rps: self.rate,
            start,
            pacing,
            batch: BatchOptions::default(),
            deployments_out: self.deployments_out,
            deployments_format: self.deployments_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(args: &[&str]) -> Result<SimulateOptions, String> {
        let cli = Cli::try_parse_from(std::iter::once("simulate").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.args.into_options(Timestamp::from_secs(1_800_000_000))
    }

    #[test]
    fn a_target_is_required_and_exclusive() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--otlp", "http://x", "--out", "f.jsonl"]).is_err());
    }

    #[test]
    fn defaults_pace_network_targets_and_rush_files() {
        let o = parse(&["--otlp", "http://127.0.0.1:4318"]).unwrap();
        assert_eq!(o.pacing, Pacing::RealTime { speed: 1.0 });
        assert_eq!(o.start, Timestamp::from_secs(1_800_000_000));
        assert_eq!(o.scenario.duration_secs, None);
        let o = parse(&["--out", "x.jsonl.gz", "--duration", "60", "--seed", "9"]).unwrap();
        assert_eq!(o.pacing, Pacing::AsFastAsPossible);
        assert_eq!((o.seed, o.scenario.duration_secs), (9, Some(60.0)));
        let o = parse(&["--kafka", "b:9092", "--key-by-trace-id", "--speed", "10"]).unwrap();
        assert_eq!(
            o.target,
            SimTarget::Kafka {
                brokers: "b:9092".into(),
                topic: "otlp_spans".into(),
                key_by_trace_id: true
            }
        );
        assert_eq!(o.pacing, Pacing::RealTime { speed: 10.0 });
    }

    #[test]
    fn bad_values_are_reported() {
        assert!(
            parse(&["--out", "f", "--speed=-1"])
                .unwrap_err()
                .contains("--speed")
        );
        assert!(
            parse(&["--out", "f", "--start", "yesterday"])
                .unwrap_err()
                .contains("--start")
        );
        assert!(parse(&["--out", "f", "--scenario", "nope"]).is_err());
        let o = parse(&[
            "--out",
            "f",
            "--start",
            "2026-03-02T09:00:00Z",
            "--services",
            "50",
        ])
        .unwrap();
        assert_eq!(o.topology.services.len(), 50);
        assert_eq!(
            o.start,
            Timestamp::parse_rfc3339("2026-03-02T09:00:00Z").unwrap()
        );
    }
}
