//! `mevfleet failover CHAIN [--to AGENT]`, `emergency-stop` and `resume`:
//! the executor role by hand. A failover reads the chain's epoch and best
//! standby from the leader's view and commits the move only if the epoch is
//! still the one it read.

use clap::Args;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};

use super::connect::{request, Target};
use super::fleet::{find_chain, read_view};
use super::output::OutputFormat;
use super::{written, CliError};

/// `mevfleet failover` arguments.
#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// The chain whose executor role moves.
    pub chain: String,
    /// The agent to move it to (default: the best healthy standby).
    #[arg(long, value_name = "AGENT")]
    pub to: Option<String>,
}

/// Moves a chain's executor role.
pub async fn failover(
    args: &FailoverArgs,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let view = read_view(target).await?;
    let chain = find_chain(&view, &args.chain)?;
    let agent = match &args.to {
        Some(agent) => agent.clone(),
        None => chain.standbys.first().cloned().ok_or_else(|| {
            CliError::Failed(format!(
                "{} has no healthy standby to take over; name one with --to",
                args.chain
            ))
        })?,
    };
    if chain.executor.as_deref() == Some(agent.as_str()) {
        return Err(CliError::Usage(format!(
            "{agent} already executes on {}",
            args.chain
        )));
    }
    let response = request(
        target,
        &AdminRequest::AssignExecutor {
            chain: args.chain.clone(),
            agent: agent.clone(),
            expected_epoch: chain.epoch.unwrap_or(0),
        },
    )
    .await?;
    match response {
        AdminResponse::Written(receipt) => {
            if matches!(output, OutputFormat::Table) && receipt.refused.is_none() {
                println!(
                    "{}: executor role moves from {} to {agent} (epoch {} -> {})",
                    args.chain,
                    chain.executor.as_deref().unwrap_or("nobody"),
                    chain.epoch.unwrap_or(0),
                    chain.epoch.unwrap_or(0) + 1
                );
            }
            written(&receipt, output)
        }
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

/// Halts (`true`) or resumes (`false`) every executor.
pub async fn emergency_stop(
    halted: bool,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    match request(target, &AdminRequest::EmergencyStop { halted }).await? {
        AdminResponse::Written(receipt) => {
            if matches!(output, OutputFormat::Table) && receipt.refused.is_none() {
                println!(
                    "{}",
                    if halted {
                        "emergency stop: every gateway refuses writes until `mevfleet resume`"
                    } else {
                        "resumed: executors may execute again"
                    }
                );
            }
            written(&receipt, output)
        }
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

/// `mevfleet safe-mode` arguments.
#[derive(Debug, Args)]
pub struct SafeModeArgs {
    /// The agent.
    pub agent: String,
    /// `on` (its gateways refuse every write) or `off`.
    #[arg(value_parser = ["on", "off"])]
    pub mode: String,
}

/// Puts one agent in or out of safe mode.
pub async fn safe_mode(
    args: &SafeModeArgs,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let view = read_view(target).await?;
    if !view.agents.iter().any(|a| a.id == args.agent) {
        let known: Vec<&str> = view.agents.iter().map(|a| a.id.as_str()).collect();
        return Err(CliError::Usage(format!(
            "no agent `{}` in the fleet (known: {})",
            args.agent,
            known.join(", ")
        )));
    }
    let on = args.mode == "on";
    match request(
        target,
        &AdminRequest::SafeMode {
            agent: args.agent.clone(),
            on,
        },
    )
    .await?
    {
        AdminResponse::Written(receipt) => {
            if matches!(output, OutputFormat::Table) && receipt.refused.is_none() {
                println!(
                    "{}: safe mode {}",
                    args.agent,
                    if on {
                        "on: its gateways refuse every write"
                    } else {
                        "off"
                    }
                );
            }
            written(&receipt, output)
        }
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}
