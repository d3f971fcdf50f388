//! The start-up every mevfleet daemon shares: `--config FILE`,
//! `--log-format`, `--check-config`; config and credentials checked before
//! anything is bound (exit 2 with a message naming the file and key); then
//! the runtime, and an exit code that tells a supervisor what happened.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config_file::ConfigError;
use crate::telemetry::{self, LogFormat};

/// The flags every daemon takes.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {
    /// The TOML config file (see deploy/*.example.toml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Check the config and the credentials it names, then exit.
    #[arg(long)]
    pub check_config: bool,
}

/// How a daemon's run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Stopped on request, every task drained in time.
    Clean,
    /// A critical task failed, or tasks did not drain in time.
    Unclean,
}

/// How many runtime worker threads a daemon uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// One per core (tokio's default).
    PerCore,
    /// At most this many, whatever the core count: for guests on a host
    /// whose cores belong to something else (the agent beside a chain node).
    AtMost(usize),
}

/// Loads the config with `load`, then runs `run` on a multi-threaded runtime.
/// Exit codes: 0 clean stop or a valid `--check-config`; 2 bad config or
/// credentials; 1 anything that failed while running.
pub fn main<C, L, R, F, E>(args: DaemonArgs, threads: Threads, load: L, run: R) -> ExitCode
where
    L: FnOnce(&Path) -> Result<C, ConfigError>,
    R: FnOnce(C) -> F,
    F: Future<Output = Result<RunOutcome, E>>,
    E: std::fmt::Display,
{
    telemetry::init(args.log_format, "info");
    let config = match load(&args.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("config {} is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Threads::AtMost(most) = threads {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        builder.worker_threads(cores.min(most).max(1));
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(RunOutcome::Clean) => ExitCode::SUCCESS,
        Ok(RunOutcome::Unclean) => ExitCode::from(1),
        Err(err) => {
            tracing::error!(error = %err, "failed");
            eprintln!("error: {err}");
            ExitCode::from(1)
        }
    }
}
