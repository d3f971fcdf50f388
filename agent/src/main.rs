//! `mevfleet-agent --config FILE`: the node-host agent; and
//! `mevfleet-agent enroll --token T --coordinators A,B --dir D`: joining the
//! fleet with a one-time token.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use alloy::signers::local::PrivateKeySigner;
use clap::Parser;
use mevfleet_agent::config::{AgentConfig, ValidAgentConfig};
use mevfleet_agent::enroll::{self, EnrollOptions};
use mevfleet_agent::relay;
use mevfleet_agent::runtime;
use mevfleet_common::config_file::{self, ConfigError, KeyError};
use mevfleet_common::daemon::{self, DaemonArgs, RunOutcome, Threads};
use mevfleet_common::identity::Role;
use mevfleet_common::join_token::JoinToken;
use mevfleet_common::net::{parse_host_port_list, HostPort};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::Credentials;
use tracing::info;

/// The mevfleet agent: probes this host's chain nodes, hosts the execution
/// gateway and runs the actions the coordinators ask for.
#[derive(Debug, Parser)]
#[command(
    name = "mevfleet-agent",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<AgentCommand>,
    #[command(flatten)]
    daemon: Option<DaemonArgs>,
}

#[derive(Debug, clap::Subcommand)]
enum AgentCommand {
    /// Join the fleet with a one-time token from `mevfleet token create`:
    /// make this host's key, get its certificate, write a ready config.
    Enroll(EnrollArgs),
}

#[derive(Debug, clap::Args)]
struct EnrollArgs {
    /// The join token (the line `mevfleet token create` printed).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "MEVFLEET_JOIN_TOKEN",
        hide_env_values = true
    )]
    token: String,
    /// Coordinator addresses, host:port[,host:port...], asked in turn.
    #[arg(long, value_name = "ADDR[,ADDR]", value_parser = parse_coordinators)]
    coordinators: Option<Coordinators>,
    /// Where to write ca.pem, <id>.pem and <id>.key (0600).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The agent id (default: this host's name).
    #[arg(long, value_name = "ID")]
    agent_id: Option<String>,
    /// A config to start from: its chains, services and actions are kept.
    #[arg(long, value_name = "FILE")]
    config_template: Option<PathBuf>,
    /// Where to write the ready config (default: DIR/agent.toml).
    #[arg(long, value_name = "FILE")]
    config_out: Option<PathBuf>,
    /// Replace credentials or a config already there.
    #[arg(long)]
    force: bool,
}

/// The parsed `--coordinators` list.
#[derive(Clone, Debug)]
struct Coordinators(Vec<HostPort>);

fn parse_coordinators(text: &str) -> Result<Coordinators, String> {
    parse_host_port_list(text)
        .map(Coordinators)
        .map_err(|err| err.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    match (args.command, args.daemon) {
        (Some(AgentCommand::Enroll(enroll)), _) => run_enroll(enroll),
        // A guest on a node host: the cores belong to the chain node. One
        // worker thread: the agent needs concurrency, not parallelism (its
        // disk syncs run on the blocking pool), and a second worker cost
        // about 60 % more CPU in cross-thread wake-ups (agent-footprint,
        // 2.2 % of a core with two workers, 1.35 % with one).
        (None, Some(daemon)) => daemon::main(daemon, Threads::AtMost(1), load, run),
        (None, None) => {
            eprintln!("error: --config FILE is required (or `mevfleet-agent enroll`; see --help)");
            ExitCode::from(2)
        }
    }
}

/// `mevfleet-agent enroll`: exit 0 enrolled, 1 refused, 2 bad usage, 3 no
/// coordinator reachable.
fn run_enroll(args: EnrollArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let token: JoinToken = match args.token.parse() {
        Ok(token) => token,
        Err(err) => return usage(format!("--token: {err}")),
    };
    let coordinators = args.coordinators.map(|list| list.0).unwrap_or_default();
    if coordinators.is_empty() {
        return usage("--coordinators HOST:PORT[,HOST:PORT] is required".into());
    }
    let Some(agent_id) = args.agent_id.or_else(enroll::hostname_agent_id) else {
        return usage("this host's name is not a valid agent id: pass --agent-id ID".into());
    };
    let options = EnrollOptions {
        token,
        coordinators,
        config_out: args
            .config_out
            .unwrap_or_else(|| args.dir.join("agent.toml")),
        dir: args.dir,
        agent_id,
        template: args.config_template,
        force: args.force,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(enroll::enroll(&options)) {
        Ok(report) => {
            println!(
                "enrolled as agent {} by {} (log index {})",
                report.agent_id, report.coordinator, report.index
            );
            for file in &report.files {
                println!("  wrote {}", file.display());
            }
            println!("  wrote {}", report.config.display());
            if !report.labels.is_empty() {
                let labels: Vec<String> = report
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!("  labels from the token: {}", labels.join(","));
            }
            println!(
                "start it with: mevfleet-agent --config {}",
                report.config.display()
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
    }
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
