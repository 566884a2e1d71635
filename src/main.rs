//! Process entry point. Everything interesting happens in [`epicenter::app`].

use std::process::ExitCode;

use clap::Parser;
use epicenter::app::cli::{Cli, Command};

/// jemalloc with background threads that return freed pages to the OS
/// after 100 ms (`.cargo/config.toml`): with glibc's malloc a 5,000-service
/// daemon kept ≈0.2 GB more resident (README, Performance).
/// Tunable at run time with `_RJEM_MALLOC_CONF`; off with
/// `--no-default-features` (to profile with heaptrack).
#[cfg(all(target_os = "linux", feature = "jemalloc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Run(args) => epicenter::app::cli::run(args).await,
            Command::Replay(args) => epicenter::app::cli::replay(args).await,
            Command::Demo(args) => epicenter::app::cli::demo(args).await,
            Command::Simulate(args) => epicenter::app::cli::simulate(args).await,
            Command::Graph(args) => epicenter::app::cli::graph(args).await,
            Command::CheckConfig(args) => epicenter::app::cli::check_config(args),
            Command::Audit(command) => epicenter::app::cli::audit(command),
            Command::Query(args) => epicenter::app::cli::query(args).await,
            Command::Report(args) => epicenter::app::cli::report(args).await,
        }
    });
    // Do not wait for stray blocking tasks (stdin readers, DNS) at exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}
