//! The `mevfleet` admin CLI: global flags, commands, and the contract's exit
//! codes (0 success, 1 failed or partial, 2 bad usage or config, 3 no
//! coordinator reachable).

mod alloc;
mod broadcast;
mod ca;
mod cluster;
mod connect;
mod dev;
mod execution;
mod fleet;
mod maintenance;
mod mempool;
mod mev;
mod output;
mod ping;
mod settings;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mevfleet_common::net::{parse_host_port_list, HostPort};
use mevfleet_common::wire::admin::WriteReceipt;

pub use output::OutputFormat;

/// mevfleet: the control plane for MEV and blockchain node fleets.
#[derive(Debug, Parser)]
#[command(name = "mevfleet", version, about, propagate_version = true)]
pub struct Cli {
    /// Coordinator addresses, host:port[,host:port...].
    #[arg(long, global = true, value_name = "ADDR[,ADDR]", env = "MEVFLEET_COORDINATORS", value_parser = parse_coordinators)]
    pub coordinators: Option<CoordinatorList>,
    /// Credentials folder: ca.pem, <name>.pem and <name>.key.
    #[arg(long, global = true, value_name = "DIR", env = "MEVFLEET_CREDS")]
    pub creds: Option<PathBuf>,
    /// Which credentials in --creds to use, when it holds several.
    #[arg(long, global = true, value_name = "NAME", env = "MEVFLEET_IDENTITY")]
    pub identity: Option<String>,
    /// Output format of reading commands.
    #[arg(
        short = 'o',
        long = "output",
        global = true,
        value_name = "FORMAT",
        default_value = "table"
    )]
    pub output: OutputFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The parsed `--coordinators` list.
#[derive(Clone, Debug)]
pub struct CoordinatorList(pub Vec<HostPort>);

fn parse_coordinators(text: &str) -> Result<CoordinatorList, String> {
    let list = parse_host_port_list(text).map_err(|err| err.to_string())?;
    if list.is_empty() {
        return Err("expected at least one host:port".into());
    }
    Ok(CoordinatorList(list))
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the fleet CA and issue certificates.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    /// A whole fleet on this machine: 3 coordinators, 2 agents, anvil nodes.
    Dev(dev::DevArgs),
    /// The coordinator cluster: status, add and remove members.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Agents: presence, last heartbeat, and each chain node's state,
    /// head, lag, peers and RPC latency.
    Agents,
    /// Chains: executor, epoch, healthy nodes, best head, standbys.
    Chains,
    /// GREEN, YELLOW or RED, with the reasons.
    Status,
    /// The morning checklist: cluster, node sync, MEV system, services,
    /// disk, overnight alerts. Exits 1 when an item fails.
    Check,
    /// Move a chain's executor role (to the best standby, or --to AGENT).
    Failover(execution::FailoverArgs),
    /// Halt every executor fleet-wide: every gateway refuses writes.
    EmergencyStop,
    /// Undo an emergency stop.
    Resume,
    /// Put one agent in safe mode (its gateways refuse every write) or out.
    SafeMode(execution::SafeModeArgs),
    /// The mempool of each streamed chain: rates, pool, fees, gas spikes,
    /// high-value transactions and which agent sees transactions first.
    Mempool(mempool::MempoolArgs),
    /// The executor gateways' MEV guards.
    #[command(subcommand)]
    Mev(mev::MevCommand),
    /// Run an action on many agents and wait for their results.
    Broadcast(broadcast::BroadcastArgs),
    /// Fleet commands: the latest, or one by id with every agent's result.
    Commands(broadcast::CommandsArgs),
    /// Resource allocation by chain priority: show, set.
    #[command(subcommand)]
    Alloc(alloc::AllocCommand),
    /// Rolling maintenance: run an action host by host, keeping chains healthy.
    #[command(subcommand)]
    Maintenance(maintenance::MaintenanceCommand),
    /// Check that each coordinator answers and accepts these credentials.
    Ping,
    /// Replicated cluster settings: list, set, unset.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
    /// One-time join tokens for enrolling new agents: create, list.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// A CLI failure, carrying its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage or bad input files: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed or was partial: exit 1.
    #[error("{0}")]
    Failed(String),
    /// No coordinator could be reached: exit 3.
    #[error("{0}")]
    Unreachable(String),
}

impl CliError {
    /// The contract's exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
        })
    }
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match &cli.command {
        Command::Ca(command) => ca::run(command, cli.output),
        Command::Dev(args) => dev::run(args).await,
        Command::Cluster(command) => {
            cluster::run(command, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Ping => ping::run(&connect::Target::from_cli(&cli)?, cli.output).await,
        Command::Failover(args) => {
            execution::failover(args, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::EmergencyStop => {
            execution::emergency_stop(true, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Mempool(args) => {
            mempool::run(args, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Mev(command) => {
            mev::run(command, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Broadcast(args) => {
            broadcast::broadcast(args, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Alloc(command) => {
            alloc::run(command, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Maintenance(command) => {
            maintenance::run(command, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Commands(args) => {
            broadcast::commands(args, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::SafeMode(args) => {
            execution::safe_mode(args, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Resume => {
            execution::emergency_stop(false, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Agents => fleet_command(fleet::FleetCommand::Agents, &cli).await,
        Command::Chains => fleet_command(fleet::FleetCommand::Chains, &cli).await,
        Command::Status => fleet_command(fleet::FleetCommand::Status, &cli).await,
        Command::Check => fleet_command(fleet::FleetCommand::Check, &cli).await,
        Command::Settings(command) => {
            settings::run(command, &connect::Target::from_cli(&cli)?, cli.output).await
        }
        Command::Token(command) => {
            token::run(command, &connect::Target::from_cli(&cli)?, cli.output).await
        }
    }
}

async fn fleet_command(command: fleet::FleetCommand, cli: &Cli) -> Result<(), CliError> {
    fleet::run(command, &connect::Target::from_cli(cli)?, cli.output).await
}

/// Prints a write's receipt; a write the state refused is a failure.
fn written(receipt: &WriteReceipt, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => output::print_json(receipt)?,
        OutputFormat::Table => println!("committed at log index {}", receipt.index),
    }
    match &receipt.refused {
        Some(reason) => Err(CliError::Failed(format!("refused: {reason}"))),
        None => Ok(()),
    }
}
