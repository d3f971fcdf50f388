//! `mevfleet broadcast` and `mevfleet commands`: run an action on many
//! agents and follow it. The command is committed before anything runs, so
//! an agent that is offline gets it when it comes back (until it expires);
//! the CLI waits for every connected target, shows progress, prints each
//! agent's result and exits 0 only when every targeted agent succeeded.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use clap::Args;
use mevfleet_common::command::{CommandSpec, CommandView, Target as Selector};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};

use super::connect::{request, Target};
use super::fleet::read_view;
use super::output::{print_json, render_table, OutputFormat};
use super::CliError;

/// `mevfleet broadcast` arguments.
#[derive(Debug, Args)]
pub struct BroadcastArgs {
    /// Which agents: `all`, ids `host-a,host-b`, or labels `chain=ethereum,region=eu`.
    #[arg(long, default_value = "all", value_name = "SEL")]
    pub target: String,
    /// Kill the action after this long (`30s`, `5m`); default: the action's own timeout.
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// How long an offline agent may still receive it (`1h`, `2d`; at most 7d).
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "1h")]
    pub expires: Duration,
    /// Print the command id and return without waiting for results.
    #[arg(long)]
    pub no_wait: bool,
    /// The longest to wait for results.
    #[arg(long, value_name = "D", value_parser = parse_duration, default_value = "10m")]
    pub wait: Duration,
    /// The action (as named in the agents' configs).
    pub action: String,
    /// Its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `mevfleet commands` arguments.
#[derive(Debug, Args)]
pub struct CommandsArgs {
    /// One command, with every agent's result.
    pub id: Option<u64>,
    /// How many of the latest commands to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

/// Reads `500ms`, `30s`, `5m`, `2h`, `1d` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: expected e.g. 30s, 5m, 2h, 1d"))?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{text}`: use ms, s, m, h or d"
            ))
        }
    };
    Ok(Duration::from_millis(number.saturating_mul(ms)))
}

/// After issuing, the time a connected agent has to take the command
/// before the CLI stops waiting for an agent that is not connected.
const DELIVERY_GRACE: Duration = Duration::from_secs(2);

/// How often the CLI reads the command's progress.
const POLL: Duration = Duration::from_millis(200);

/// Issues a command and, unless told not to, waits for its results.
pub async fn broadcast(
    args: &BroadcastArgs,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let selector = Selector::parse(&args.target).map_err(|err| CliError::Usage(err.to_string()))?;
    if args.expires.is_zero() || args.expires > Duration::from_secs(7 * 86_400) {
        return Err(CliError::Usage(format!(
            "--expires must be between 1ms and 7d, not {:?}",
            args.expires
        )));
    }
    if args.timeout.is_some_and(|t| t.is_zero()) {
        return Err(CliError::Usage("--timeout must be more than 0".into()));
    }
    let spec = CommandSpec {
        target: selector,
        action: args.action.clone(),
        args: args.args.clone(),
        timeout_ms: args.timeout.map(|t| t.as_millis() as u64),
        expires_in_ms: args.expires.as_millis() as u64,
    };
    let (id, targets) = match request(target, &AdminRequest::Broadcast(spec)).await? {
        AdminResponse::Issued {
            command_id,
            targets,
        } => (command_id, targets),
        other => return Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    };
    if args.no_wait {
        return match output {
            OutputFormat::Json => print_json(&serde_json::json!({
                "command_id": id,
                "targets": targets,
            })),
            OutputFormat::Table => {
                println!("command {id} issued to {}", targets.join(", "));
                Ok(())
            }
        };
    }
    let issued = Instant::now();
    let progress = std::io::stderr().is_terminal() && matches!(output, OutputFormat::Table);
    let view = loop {
        let view = read_command(target, id).await?;
        let done = view
            .results
            .iter()
            .filter(|r| r.status != "pending")
            .count();
        if progress {
            draw_progress(done, view.results.len());
        }
        if view.settled() || issued.elapsed() > args.wait {
            break view;
        }
        if issued.elapsed() > DELIVERY_GRACE {
            // Stop waiting once only agents that are away are left.
            let connected: BTreeSet<String> = read_view(target)
                .await?
                .agents
                .into_iter()
                .filter(|a| a.connected)
                .map(|a| a.id)
                .collect();
            let waiting_on_connected = view
                .results
                .iter()
                .any(|r| r.status == "pending" && (r.running || connected.contains(&r.agent)));
            if !waiting_on_connected {
                break view;
            }
        }
        tokio::time::sleep(POLL).await;
    };
    if progress {
        eprintln!();
    }
    show(&view, output)?;
    verdict(&view)
}

fn draw_progress(done: usize, total: usize) {
    const WIDTH: usize = 30;
    let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH);
    eprint!(
        "\r[{}{}] {done}/{total} agents",
        "#".repeat(filled),
        "-".repeat(WIDTH - filled)
    );
    let _ = std::io::stderr().flush();
}

async fn read_command(target: &Target, id: u64) -> Result<CommandView, CliError> {
    match request(
        target,
        &AdminRequest::Commands {
            id: Some(id),
            limit: 1,
        },
    )
    .await?
    {
        AdminResponse::Commands(mut views) if !views.is_empty() => Ok(views.remove(0)),
        AdminResponse::Commands(_) => Err(CliError::Failed(format!(
            "no command {id} (the fleet keeps the latest 10,000)"
        ))),
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

/// Exit 0 only when every targeted agent succeeded.
fn verdict(view: &CommandView) -> Result<(), CliError> {
    if view.all_ok() {
        return Ok(());
    }
    let others: Vec<String> = view
        .results
        .iter()
        .filter(|r| r.status != "ok")
        .map(|r| format!("{} {}", r.agent, r.status))
        .collect();
    Err(CliError::Failed(format!(
        "command {}: {} of {} agents did not succeed ({}); `mevfleet commands {}` shows late results",
        view.command_id,
        others.len(),
        view.results.len(),
        others.join(", "),
        view.command_id
    )))
}

fn last_line(text: &str) -> String {
    let line = text.trim_end().lines().last().unwrap_or_default();
    let mut cut: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        cut.push('…');
    }
    cut
}

fn show(view: &CommandView, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => print_json(view),
        OutputFormat::Table => {
            println!(
                "command {}: {} {} (target {}, by {})",
                view.command_id,
                view.action,
                view.args.join(" "),
                view.target,
                view.issued_by
            );
            let rows: Vec<Vec<String>> = view
                .results
                .iter()
                .map(|r| {
                    vec![
                        r.agent.clone(),
                        if r.running {
                            "pending (running)".into()
                        } else {
                            r.status.clone()
                        },
                        r.exit_code
                            .map(|c| c.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.duration_ms
                            .map(|ms| format!("{ms} ms"))
                            .unwrap_or_else(|| "-".into()),
                        last_line(&r.output),
                    ]
                })
                .collect();
            println!(
                "{}",
                render_table(&["AGENT", "STATUS", "EXIT", "DURATION", "OUTPUT"], &rows)
            );
            Ok(())
        }
    }
}

/// Shows one command with every agent's result, or the latest ones.
pub async fn commands(
    args: &CommandsArgs,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    if let Some(id) = args.id {
        return show(&read_command(target, id).await?, output);
    }
    let views = match request(
        target,
        &AdminRequest::Commands {
            id: None,
            limit: args.limit,
        },
    )
    .await?
    {
        AdminResponse::Commands(views) => views,
        other => return Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    };
    match output {
        OutputFormat::Json => print_json(&views),
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = views
                .iter()
                .map(|v| {
                    let count =
                        |status: &str| v.results.iter().filter(|r| r.status == status).count();
                    vec![
                        v.command_id.to_string(),
                        format!("{} {}", v.action, v.args.join(" "))
                            .trim()
                            .to_owned(),
                        v.target.clone(),
                        v.issued_by.clone(),
                        format!(
                            "{} ok, {} failed, {} rejected, {} timeout, {} pending",
                            count("ok"),
                            count("failed"),
                            count("rejected"),
                            count("timeout"),
                            count("pending")
                        ),
                    ]
                })
                .collect();
            println!(
                "{}",
                render_table(&["ID", "ACTION", "TARGET", "BY", "RESULTS"], &rows)
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_units_and_bad_ones_say_why() {
        for (text, ms) in [
            ("500ms", 500),
            ("30s", 30_000),
            ("30", 30_000),
            ("5m", 300_000),
            ("2h", 7_200_000),
            ("1d", 86_400_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for (text, why) in [("5x", "unknown unit `x`"), ("soon", "not a duration")] {
            let err = parse_duration(text).map(|d| format!("{d:?}"));
            assert!(
                err.as_ref().is_err_and(|e| e.contains(why)),
                "{text}: {err:?}"
            );
        }
    }
}
