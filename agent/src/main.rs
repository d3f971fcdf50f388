//! `mevfleet-agent --config FILE`: the node-host agent.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mevfleet_agent::config::{AgentConfig, ValidAgentConfig};
use mevfleet_agent::uplink::{self, UplinkSettings};
use mevfleet_common::config_file::{self, ConfigError};
use mevfleet_common::identity::Role;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::telemetry::{self, LogFormat};
use mevfleet_common::tls::Credentials;
use tracing::{error, info};

/// The mevfleet agent: probes this host's chain nodes, hosts the execution
/// gateway and runs the actions the coordinators ask for.
#[derive(Debug, Parser)]
#[command(name = "mevfleet-agent", version, about)]
struct Args {
    /// The agent's TOML config file (see deploy/agent.example.toml).
    #[arg(long, value_name = "FILE", env = "MEVFLEET_AGENT_CONFIG")]
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
            error!(error = %err, "agent failed");
            ExitCode::from(1)
        }
    }
}

fn load(path: &std::path::Path) -> Result<(ValidAgentConfig, Credentials), ConfigError> {
    let config = config_file::load::<AgentConfig>(path)?;
    let creds = config
        .config
        .tls
        .load(Role::Agent, Some(&config.config.agent_id))
        .map_err(|err| ConfigError::Key {
            path: path.to_owned(),
            line: None,
            key: err.key,
            message: err.message,
        })?;
    Ok((config, creds))
}

/// Runs until SIGTERM/SIGINT or a critical failure; true on a clean stop.
async fn run(config: ValidAgentConfig, creds: Credentials) -> anyhow::Result<bool> {
    let shutdown = Shutdown::new();
    shutdown.cancel_on_signals()?;
    let agent = &config.config;
    info!(agent.id = %agent.agent_id, chains = config.chains.len(), version = mevfleet_common::VERSION, "agent starting");
    let settings = UplinkSettings::new(agent.agent_id.clone(), agent.coordinators.clone());
    let _uplink = uplink::spawn(settings, &creds, &shutdown)?;
    shutdown.cancelled().await;
    let drained = shutdown.wait(Duration::from_secs(10)).await;
    info!(clean = drained && !shutdown.has_failed(), "agent stopped");
    Ok(drained && !shutdown.has_failed())
}
