//! `mevfleet-agent --config FILE`: the node-host agent.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use clap::Parser;
use mevfleet_agent::config::{AgentConfig, ValidAgentConfig};
use mevfleet_agent::relay;
use mevfleet_agent::runtime;
use mevfleet_common::config_file::{self, ConfigError, KeyError};
use mevfleet_common::daemon::{self, DaemonArgs, RunOutcome, Threads};
use mevfleet_common::identity::Role;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::Credentials;
use tracing::info;

/// The mevfleet agent: probes this host's chain nodes, hosts the execution
/// gateway and runs the actions the coordinators ask for.
#[derive(Debug, Parser)]
#[command(name = "mevfleet-agent", version, about)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    // A guest on a node host: the cores belong to the chain node.
    daemon::main(Args::parse().daemon, Threads::AtMost(2), load, run)
}

/// The config, the credentials and the relay key, all checked before any
/// port is bound.
type Loaded = (ValidAgentConfig, Credentials, Option<PrivateKeySigner>);

fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let config = config_file::load::<AgentConfig>(path)?;
    let creds = config
        .config
        .tls
        .load(Role::Agent, Some(&config.config.agent_id))
        .map_err(|err| ConfigError::at(path, err))?;
    let relay_key =
        match &config.config.relay_key {
            Some(key) => Some(relay::load_key(key).map_err(|err| {
                ConfigError::at(path, KeyError::new("relay_key", err.to_string()))
            })?),
            None => None,
        };
    Ok((config, creds, relay_key))
}

/// Runs until SIGTERM/SIGINT or a critical failure.
async fn run((config, creds, relay_key): Loaded) -> anyhow::Result<RunOutcome> {
    let shutdown = Shutdown::new();
    shutdown.cancel_on_signals()?;
    let agent = runtime::start(&config, &creds, relay_key, &shutdown).await?;
    info!(
        agent.id = %config.config.agent_id,
        chains = config.chains.len(),
        http = %agent.http_addr,
        spool_pending = agent.spool.len(),
        version = mevfleet_common::VERSION,
        "agent started"
    );
    mevfleet_common::notify::ready(&shutdown);
    shutdown.cancelled().await;
    mevfleet_common::notify::stopping();
    let clean = shutdown.wait(Duration::from_secs(10)).await && !shutdown.has_failed();
    info!(clean, "agent stopped");
    Ok(if clean {
        RunOutcome::Clean
    } else {
        RunOutcome::Unclean
    })
}
