//! `mevfleet agents`, `chains`, `status` and `check`: the fleet as the leader
//! sees it, from one read of the fleet view.

use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::fleet::{ChainView, CheckResult, FleetView, Presence};
use serde_json::json;

use super::connect::{request, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::CliError;

/// Which view of the fleet to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetCommand {
    /// Agents and their chain nodes.
    Agents,
    /// Chains: executor, standbys, best head.
    Chains,
    /// GREEN, YELLOW or RED with the reasons.
    Status,
    /// The morning checklist; fails when an item fails.
    Check,
}

/// The fleet view, from the leader.
pub async fn read_view(target: &Target) -> Result<FleetView, CliError> {
    match request(target, &AdminRequest::FleetView).await? {
        AdminResponse::Fleet(view) => Ok(*view),
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

/// One chain of the view; an unknown name is a usage error naming the known ones.
pub fn find_chain<'a>(view: &'a FleetView, name: &str) -> Result<&'a ChainView, CliError> {
    view.chains.iter().find(|c| c.chain == name).ok_or_else(|| {
        let known: Vec<&str> = view.chains.iter().map(|c| c.chain.as_str()).collect();
        CliError::Usage(format!(
            "no chain `{name}` in the fleet (known: {})",
            known.join(", ")
        ))
    })
}

/// Reads the fleet view and prints the part asked for.
pub async fn run(
    command: FleetCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let view = read_view(target).await?;
    match (command, output) {
        (FleetCommand::Agents, OutputFormat::Json) => print_json(&view.agents),
        (FleetCommand::Agents, OutputFormat::Table) => {
            println!("{}", agents_table(&view));
            Ok(())
        }
        (FleetCommand::Chains, OutputFormat::Json) => print_json(&view.chains),
        (FleetCommand::Chains, OutputFormat::Table) => {
            println!("{}", chains_table(&view));
            Ok(())
        }
        (FleetCommand::Status, OutputFormat::Json) => print_json(&view.status),
        (FleetCommand::Status, OutputFormat::Table) => {
            println!("{}", view.status.level.as_str());
            for reason in &view.status.reasons {
                println!("  {:<6}  {}", reason.level.as_str(), reason.text);
            }
            Ok(())
        }
        (FleetCommand::Check, output) => check(&view, output),
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

fn seen(view: &FleetView, last_seen_ms: Option<u64>) -> String {
    match last_seen_ms {
        Some(at) => format!("{:.1}s ago", view.at_ms.saturating_sub(at) as f64 / 1000.0),
        None => "never".into(),
    }
}

fn presence(presence: Presence) -> &'static str {
    match presence {
        Presence::Connected => "connected",
        Presence::Reconnecting => "reconnecting",
        Presence::Lost => "LOST",
    }
}

/// One row per agent and chain.
pub fn agents_table(view: &FleetView) -> String {
    let mut rows = Vec::new();
    for agent in &view.agents {
        let first = vec![
            agent.id.clone(),
            presence(agent.presence).into(),
            seen(view, agent.last_seen_ms),
        ];
        if agent.chains.is_empty() {
            rows.push([first.clone(), vec!["-".into(); 6]].concat());
        }
        for (i, chain) in agent.chains.iter().enumerate() {
            let lead = if i == 0 {
                first.clone()
            } else {
                vec![String::new(); 3]
            };
            rows.push(
                [
                    lead,
                    vec![
                        chain.chain.clone(),
                        chain.state.clone(),
                        opt(chain.head),
                        opt(chain.lag),
                        opt(chain.peers),
                        chain
                            .rpc_latency_ms
                            .map(|ms| format!("{ms:.1} ms"))
                            .unwrap_or_else(|| "-".into()),
                    ],
                ]
                .concat(),
            );
        }
    }
    render_table(
        &[
            "AGENT",
            "PRESENCE",
            "LAST SEEN",
            "CHAIN",
            "STATE",
            "HEAD",
            "LAG",
            "PEERS",
            "LATENCY",
        ],
        &rows,
    )
}

/// One row per chain.
pub fn chains_table(view: &FleetView) -> String {
    let rows: Vec<Vec<String>> = view
        .chains
        .iter()
        .map(|chain| {
            vec![
                chain.chain.clone(),
                opt(chain.executor.clone()),
                opt(chain.epoch),
                format!("{}/{}", chain.healthy, chain.nodes),
                opt(chain.best_head),
                if chain.standbys.is_empty() {
                    "-".into()
                } else {
                    chain.standbys.join(",")
                },
            ]
        })
        .collect();
    render_table(
        &[
            "CHAIN",
            "EXECUTOR",
            "EPOCH",
            "HEALTHY",
            "BEST HEAD",
            "STANDBYS",
        ],
        &rows,
    )
}

fn check(view: &FleetView, output: OutputFormat) -> Result<(), CliError> {
    let failed = view
        .checks
        .iter()
        .filter(|item| item.result == CheckResult::Fail)
        .count();
    match output {
        OutputFormat::Json => print_json(&json!({
            "passed": failed == 0,
            "status": view.status.level,
            "items": view.checks,
            "events": view.events,
        }))?,
        OutputFormat::Table => {
            let mut section = "";
            for item in &view.checks {
                if item.section != section {
                    section = &item.section;
                    println!("{}", section.to_uppercase());
                }
                let mark = match item.result {
                    CheckResult::Pass => "ok  ",
                    CheckResult::Warn => "WARN",
                    CheckResult::Fail => "FAIL",
                };
                println!("  [{mark}] {:<28} {}", item.subject, item.detail);
            }
            println!("overall: {}", view.status.level.as_str());
        }
    }
    if failed > 0 {
        return Err(CliError::Failed(format!("{failed} check(s) failed")));
    }
    Ok(())
}
