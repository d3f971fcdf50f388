//! `mevfleet cluster status|add|remove`: the coordinator cluster's members.

use clap::Subcommand;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse, ClusterStatus};

use super::connect::{request, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::{written, CliError};

/// `mevfleet cluster ...`
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The leader, the term and every member with its role, health and last applied index.
    Status,
    /// Add a member: it joins as a learner and becomes a voter once caught up.
    /// Start it first with an empty [peers] table.
    Add {
        /// The new member's node id.
        #[arg(long)]
        id: u64,
        /// The new member's QUIC address, host:port.
        #[arg(long, value_name = "HOST:PORT")]
        addr: String,
    },
    /// Remove a member.
    Remove {
        /// The member's node id.
        #[arg(long)]
        id: u64,
    },
}

/// Runs a `cluster` command.
pub async fn run(
    command: &ClusterCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let ask = match command {
        ClusterCommand::Status => AdminRequest::ClusterStatus,
        ClusterCommand::Add { id, addr } => AdminRequest::AddMember {
            id: *id,
            addr: addr.clone(),
        },
        ClusterCommand::Remove { id } => AdminRequest::RemoveMember { id: *id },
    };
    match request(target, &ask).await? {
        AdminResponse::ClusterStatus(status) => show_status(&status, output),
        AdminResponse::Written(receipt) => written(&receipt, output),
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

fn show_status(status: &ClusterStatus, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => print_json(status)?,
        OutputFormat::Table => {
            let leader = status
                .leader
                .map(|id| id.to_string())
                .unwrap_or_else(|| "none".into());
            println!("leader: {leader}  term: {}", status.term);
            let rows: Vec<Vec<String>> = status
                .members
                .iter()
                .map(|m| {
                    vec![
                        m.id.to_string(),
                        m.addr.clone(),
                        m.role.clone(),
                        if m.healthy { "yes" } else { "NO" }.into(),
                        m.last_applied
                            .map(|i| i.to_string())
                            .unwrap_or_else(|| "-".into()),
                        if m.voter { "yes" } else { "no" }.into(),
                    ]
                })
                .collect();
            println!(
                "{}",
                render_table(
                    &["ID", "ADDR", "ROLE", "HEALTHY", "LAST_APPLIED", "VOTER"],
                    &rows
                )
            );
        }
    }
    if status.leader.is_none() {
        return Err(CliError::Failed("the cluster has no leader".into()));
    }
    Ok(())
}
