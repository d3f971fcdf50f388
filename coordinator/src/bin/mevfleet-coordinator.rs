//! `mevfleet-coordinator --config FILE`: one member of the coordinator cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mevfleet_common::config_file::{self, ConfigError};
use mevfleet_common::identity::Role;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::telemetry::{self, LogFormat};
use mevfleet_common::tls::{Credentials, TransportSettings};
use mevfleet_coordinator::config::{CoordinatorConfig, ValidCoordinatorConfig};
use mevfleet_coordinator::server::CoordinatorServer;
use tracing::{error, info, warn};

/// A mevfleet coordinator: holds the fleet's replicated state and makes its
/// decisions (failover, allocation, maintenance, commands).
#[derive(Debug, Parser)]
#[command(name = "mevfleet-coordinator", version, about)]
struct Args {
    /// The coordinator's TOML config file (see deploy/coordinator.example.toml).
    #[arg(long, value_name = "FILE", env = "MEVFLEET_COORDINATOR_CONFIG")]
    config: PathBuf,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// Check the config and the credentials it names, then exit.
    #[arg(long)]
    check_config: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    telemetry::init(args.log_format, "info");
    let (config, creds) = match load(&args.config) {
        Ok(loaded) => loaded,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if args.check_config {
        println!("config {} is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config, creds)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            error!(error = %err, "coordinator failed");
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

fn load(path: &Path) -> Result<(ValidCoordinatorConfig, Credentials), ConfigError> {
    let config = config_file::load::<CoordinatorConfig>(path)?;
    let creds = config
        .config
        .tls
        .load(Role::Coordinator, None)
        .map_err(|err| ConfigError::Key {
            path: path.to_owned(),
            line: None,
            key: err.key,
            message: err.message,
        })?;
    Ok((config, creds))
}

/// Runs until SIGTERM/SIGINT or a critical failure; true on a clean stop.
async fn run(config: ValidCoordinatorConfig, creds: Credentials) -> anyhow::Result<bool> {
    let shutdown = Shutdown::new();
    shutdown.cancel_on_signals()?;
    let settings = &config.config;
    if !settings.http.ip().is_loopback() {
        warn!(http = %settings.http, "HTTP listens beyond loopback: reads are open to that network");
    }
    let server = CoordinatorServer::bind(
        settings.listen,
        settings.node_id,
        &creds,
        TransportSettings::default(),
    )?;
    info!(
        node_id = settings.node_id,
        listen = %server.local_addr()?,
        peers = config.peers.len(),
        version = mevfleet_common::VERSION,
        "coordinator starting"
    );
    server.spawn(&shutdown);
    shutdown.cancelled().await;
    let drained = shutdown.wait(Duration::from_secs(10)).await;
    info!(
        clean = drained && !shutdown.has_failed(),
        "coordinator stopped"
    );
    Ok(drained && !shutdown.has_failed())
}
