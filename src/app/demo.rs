//! `epicenter demo`: the daemon on embedded defaults plus the built-in
//! simulator sending it real OTLP over HTTP, with a live terminal view.
//! Stops cleanly on Ctrl-C: the simulator first, then the daemon.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::model::GraphSnapshot;
use crate::sim::send::{Pacing, SimTarget, SimulateOptions, SimulateReport};
use crate::sim::{BatchOptions, Scenario, Topology};

/// How often the live view is redrawn.
const REFRESH: Duration = Duration::from_secs(2);

/// Runs the demo until `shutdown` is cancelled.
///
/// # Errors
/// When the daemon cannot start (a port in use, an unusable data directory).
pub async fn run(
    settings: Settings,
    seed: u64,
    rate: f64,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = crate::telemetry::new_registry();
    let daemon_stop = CancellationToken::new();
    let running = super::start(settings, registry, daemon_stop.clone()).await?;
    let Some(http) = running.otlp_http_addr else {
        anyhow::bail!("the demo needs the OTLP/HTTP receiver; enable ingest.otlp");
    };
    let api = running.api_addr;

    let sim_stop = CancellationToken::new();
    let options = SimulateOptions {
        target: SimTarget::OtlpHttp {
            url: format!("http://{http}"),
        },
        topology: Topology::default_fleet(),
        scenario: Scenario::steady(None),
        seed,
        rate_rps: rate,
        start: super::wall_clock_now(),
        pacing: Pacing::RealTime { speed: 1.0 },
        batch: BatchOptions::default(),
        deployments_out: None,
        deployments_format: crate::sim::DeployFormat::Plain,
    };
    let simulator = tokio::spawn(crate::sim::send::run_simulate(options, sim_stop.clone()));

    let mut previous: Option<Arc<GraphSnapshot>> = None;
    let mut tick = tokio::time::interval(REFRESH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {
                let current = running.snapshots.latest();
                let mut screen = String::from("\x1b[2J\x1b[H");
                screen.push_str(&crate::sim::view::render_live_view(
                    &current,
                    previous.as_deref(),
                    REFRESH.as_secs_f64(),
                ));
                screen.push_str(&format!(
                    "\nAPI:      curl http://{api}/api/v1/graph   (?format=dot)\n\
                     Metrics:  curl http://{api}/metrics\n\
                     OTLP:     grpc {} · http http://{http}/v1/traces\n\
                     Ctrl-C stops the simulator, then the daemon.\n",
                    running.otlp_grpc_addr.map(|a| a.to_string()).unwrap_or_default(),
                ));
                let mut out = std::io::stderr().lock();
                let _ignored = out.write_all(screen.as_bytes());
                previous = Some(current);
            }
        }
    }
    sim_stop.cancel();
    match simulator.await {
        Ok(Ok(report)) => eprintln!("simulator stopped: {}", describe(&report)),
        Ok(Err(error)) => eprintln!("simulator failed: {error:#}"),
        Err(error) => eprintln!("simulator task failed: {error}"),
    }
    daemon_stop.cancel();
    running.wait().await
}

/// One line about a simulator run.
pub fn describe(report: &SimulateReport) -> String {
    format!(
        "{} spans in {} batches over {:.0} s of event time: {} sent, {} failed, {} retries",
        report.spans,
        report.batches,
        report.simulated_secs,
        report.sent,
        report.failed,
        report.retries
    )
}
