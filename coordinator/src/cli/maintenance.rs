//! `mevfleet maintenance run|status|cancel`: rolling maintenance. `run`
//! commits the plan, then follows it host by host (the leader carries it
//! out, and a new leader resumes it) and exits 0 when every host is done,
//! 1 when the plan stopped, naming the host and why.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::{Args, Subcommand};
use mevfleet_common::command::Target as Selector;
use mevfleet_common::maintenance::{MaintenanceSpec, MaintenanceView};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};

use super::broadcast::parse_duration;
use super::connect::{request, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::{written, CliError};

/// `mevfleet maintenance` subcommands.
#[derive(Debug, Subcommand)]
pub enum MaintenanceCommand {
    /// Run ACTION host by host: drain, run, wait until healthy, go on.
    Run(RunArgs),
    /// The latest plans and where each host stands.
    Status {
        /// How many plans.
        #[arg(long, default_value_t = 1)]
        limit: usize,
    },
    /// Cancel the running plan (hosts in progress are undrained).
    Cancel,
}

/// `mevfleet maintenance run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which hosts: ids `host-a,host-b`, labels `chain=ethereum`, or `all`.
    #[arg(long, value_name = "SEL")]
    pub target: String,
    /// How many hosts at once.
    #[arg(long, default_value_t = 1)]
    pub max_parallel: u32,
    /// Healthy nodes every chain keeps throughout.
    #[arg(long, default_value_t = 1)]
    pub min_healthy: u32,
    /// Kill the action after this long (default: the action's own timeout).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// The longest a host may take per phase (drain, run, recover).
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10m")]
    pub step_timeout: Duration,
    /// Start the plan and return.
    #[arg(long)]
    pub no_wait: bool,
    /// The action (as named in the agents' configs, or a built-in).
    pub action: String,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Runs a `maintenance` subcommand.
pub async fn run(
    command: &MaintenanceCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        MaintenanceCommand::Run(args) => start(args, target, output).await,
        MaintenanceCommand::Status { limit } => {
            let (plans, waiting) = plans(target, *limit).await?;
            show(&plans, waiting.as_deref(), output)
        }
        MaintenanceCommand::Cancel => {
            match request(target, &AdminRequest::CancelMaintenance).await? {
                AdminResponse::Written(receipt) => written(&receipt, output),
                other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
            }
        }
    }
}

async fn plans(
    target: &Target,
    limit: usize,
) -> Result<(Vec<MaintenanceView>, Option<String>), CliError> {
    match request(target, &AdminRequest::MaintenanceStatus { limit }).await? {
        AdminResponse::Maintenance { plans, waiting } => Ok((plans, waiting)),
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

/// How often `run` looks at the plan.
const POLL: Duration = Duration::from_millis(250);

async fn start(args: &RunArgs, target: &Target, output: OutputFormat) -> Result<(), CliError> {
    let selector = Selector::parse(&args.target).map_err(|err| CliError::Usage(err.to_string()))?;
    if args.max_parallel == 0 {
        return Err(CliError::Usage("--max-parallel must be at least 1".into()));
    }
    if args.step_timeout.is_zero() {
        return Err(CliError::Usage("--step-timeout must be more than 0".into()));
    }
    let spec = MaintenanceSpec {
        target: selector,
        action: args.action.clone(),
        args: args.args.clone(),
        timeout_ms: args.timeout.map(|t| t.as_millis() as u64),
        max_parallel: args.max_parallel,
        min_healthy: args.min_healthy,
        step_timeout_ms: args.step_timeout.as_millis() as u64,
    };
    let started = match request(target, &AdminRequest::StartMaintenance(spec)).await? {
        AdminResponse::Maintenance { mut plans, .. } if !plans.is_empty() => plans.remove(0),
        other => return Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    };
    let table = matches!(output, OutputFormat::Table);
    if table {
        let hosts: Vec<&str> = started.hosts.iter().map(|h| h.host.as_str()).collect();
        println!(
            "maintenance {}: {} on {} (max {} at once, every chain keeps {} healthy)",
            started.id,
            started.action,
            hosts.join(", "),
            started.max_parallel,
            started.min_healthy
        );
    }
    if args.no_wait {
        return show(&[started], None, output);
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut last_waiting: Option<String> = None;
    let plan = loop {
        let (plans, waiting) = plans(target, 1).await?;
        let Some(plan) = plans.into_iter().find(|p| p.id == started.id) else {
            return Err(CliError::Failed(format!(
                "maintenance {} is gone",
                started.id
            )));
        };
        if table {
            for host in &plan.hosts {
                if seen.get(&host.host) != Some(&host.phase) {
                    println!("  {:<16} {}", host.host, host.phase);
                    seen.insert(host.host.clone(), host.phase.clone());
                }
            }
            if waiting != last_waiting {
                if let Some(why) = &waiting {
                    println!("  {why}");
                }
                last_waiting = waiting;
            }
        }
        if plan.state != "running" {
            break plan;
        }
        tokio::time::sleep(POLL).await;
    };
    if !table {
        print_json(&plan)?;
    }
    match plan.state.as_str() {
        "done" => Ok(()),
        state => {
            let failed = plan
                .hosts
                .iter()
                .find(|h| h.phase == "failed")
                .map(|h| {
                    format!(
                        " at {}: {}",
                        h.host,
                        h.reason.as_deref().unwrap_or("failed")
                    )
                })
                .unwrap_or_default();
            Err(CliError::Failed(format!(
                "maintenance {} {state}{failed}",
                plan.id
            )))
        }
    }
}

fn show(
    plans: &[MaintenanceView],
    waiting: Option<&str>,
    output: OutputFormat,
) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => print_json(&serde_json::json!({"plans": plans, "waiting": waiting})),
        OutputFormat::Table => {
            if plans.is_empty() {
                println!("no maintenance has run");
            }
            for plan in plans {
                println!(
                    "maintenance {}: {} {} ({}; by {}, max {} at once, min {} healthy)",
                    plan.id,
                    plan.action,
                    plan.args.join(" "),
                    plan.state,
                    plan.issued_by,
                    plan.max_parallel,
                    plan.min_healthy
                );
                let rows: Vec<Vec<String>> = plan
                    .hosts
                    .iter()
                    .map(|h| {
                        vec![
                            h.host.clone(),
                            h.phase.clone(),
                            h.command_id
                                .map(|c| c.to_string())
                                .unwrap_or_else(|| "-".into()),
                            h.reason.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                println!(
                    "{}",
                    render_table(&["HOST", "PHASE", "COMMAND", "REASON"], &rows)
                );
            }
            if let Some(why) = waiting {
                println!("{why}");
            }
            Ok(())
        }
    }
}
