//! `mevfleet alloc show|set`: resource allocation by chain priority. The
//! policy is committed; the leader turns it (and, with `--dynamic`, each
//! chain's recent gateway activity) into cgroup weights that every agent
//! applies to its chains' services.

use clap::Subcommand;
use mevfleet_common::alloc::{parse_priorities, Allocation, Priority};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use std::collections::BTreeMap;

use super::connect::{request, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::{written, CliError};

/// `mevfleet alloc` subcommands.
#[derive(Debug, Subcommand)]
pub enum AllocCommand {
    /// The priorities, the mode and each chain's weight now.
    Show,
    /// Set the priorities (replacing the previous ones).
    Set {
        /// Priorities: `ethereum=high,arbitrum=medium,base=medium`.
        #[arg(long, value_parser = parse_priorities)]
        priority: BTreeMap<String, Priority>,
        /// Let each chain's recent activity raise its weight (up to twice).
        #[arg(long)]
        dynamic: bool,
    },
}

/// Runs an `alloc` subcommand.
pub async fn run(
    command: &AllocCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        AllocCommand::Set { priority, dynamic } => {
            let allocation = Allocation {
                priorities: priority.clone(),
                dynamic: *dynamic,
            };
            match request(target, &AdminRequest::SetAllocation(allocation)).await? {
                AdminResponse::Written(receipt) => written(&receipt, output),
                other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
            }
        }
        AllocCommand::Show => match request(target, &AdminRequest::GetAllocation).await? {
            AdminResponse::Allocation {
                allocation,
                weights,
            } => match output {
                OutputFormat::Json => print_json(&serde_json::json!({
                    "dynamic": allocation.dynamic,
                    "priorities": allocation.priorities.iter().map(|(c, p)| (c.clone(), p.to_string())).collect::<BTreeMap<_, _>>(),
                    "weights": weights,
                })),
                OutputFormat::Table => {
                    if allocation.priorities.is_empty() {
                        println!("no allocation is set: every service keeps its own weights");
                        return Ok(());
                    }
                    println!(
                        "mode: {}",
                        if allocation.dynamic {
                            "dynamic"
                        } else {
                            "static"
                        }
                    );
                    let rows: Vec<Vec<String>> = allocation
                        .priorities
                        .iter()
                        .map(|(chain, priority)| {
                            vec![
                                chain.clone(),
                                priority.to_string(),
                                weights
                                    .get(chain)
                                    .map(|w| w.to_string())
                                    .unwrap_or_default(),
                            ]
                        })
                        .collect();
                    println!("{}", render_table(&["CHAIN", "PRIORITY", "WEIGHT"], &rows));
                    Ok(())
                }
            },
            other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
        },
    }
}
