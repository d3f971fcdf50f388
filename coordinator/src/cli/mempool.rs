//! `mevfleet mempool [--chain C] [--watch]`: each streamed chain's arrival
//! rate, pool counts, fees and gas spike, its high-value transactions and
//! which agent sees transactions first, from the leader's window. With
//! `--watch` it prints again every second until interrupted (one JSON
//! document a line with `-o json`).

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use mevfleet_common::mempool::MempoolView;
use mevfleet_common::wire::fleet::FleetView;

use super::connect::Target;
use super::fleet::{find_chain, read_view};
use super::output::{print_json, render_table, OutputFormat};
use super::CliError;

/// `mevfleet mempool` arguments.
#[derive(Debug, Args)]
pub struct MempoolArgs {
    /// Only this chain.
    #[arg(long, value_name = "CHAIN")]
    pub chain: Option<String>,
    /// Print again every second until interrupted.
    #[arg(long)]
    pub watch: bool,
}

/// Runs `mevfleet mempool`.
pub async fn run(
    args: &MempoolArgs,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    loop {
        let view = read_view(target).await?;
        let chains = select(&view, args.chain.as_deref())?;
        match output {
            OutputFormat::Json if args.watch => {
                let line = serde_json::to_string(&chains)
                    .map_err(|err| CliError::Failed(format!("cannot encode JSON: {err}")))?;
                println!("{line}");
            }
            OutputFormat::Json => print_json(&chains)?,
            OutputFormat::Table => {
                if args.watch && std::io::stdout().is_terminal() {
                    // Clear the screen and go home, like watch(1).
                    print!("\x1b[2J\x1b[H");
                }
                println!("{}", render(&chains));
            }
        }
        if !args.watch {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

/// The chains asked for; a chain the fleet does not serve is a usage error.
fn select(view: &FleetView, chain: Option<&str>) -> Result<Vec<MempoolView>, CliError> {
    let Some(name) = chain else {
        return Ok(view.mempool.clone());
    };
    if !view.mempool.iter().any(|m| m.chain == name) {
        // Known to the fleet but not streamed (yet): an empty answer.
        find_chain(view, name)?;
    }
    Ok(view
        .mempool
        .iter()
        .filter(|m| m.chain == name)
        .cloned()
        .collect())
}

fn gwei(value: Option<f64>) -> String {
    value
        .map(|v| format!("{v:.2}"))
        .unwrap_or_else(|| "-".into())
}

fn count(value: Option<u64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// The tables: chains, then each chain's high-value list and first-seen table.
pub fn render(chains: &[MempoolView]) -> String {
    if chains.is_empty() {
        return "no mempool data: no agent streams a mempool (mempool = true on a chain with a ws URL)".into();
    }
    let rows: Vec<Vec<String>> = chains
        .iter()
        .map(|c| {
            vec![
                c.chain.clone(),
                format!("{:.0}", c.rate_per_s),
                count(c.pending),
                count(c.queued),
                gwei(c.fee_p50_gwei),
                gwei(c.fee_p90_gwei),
                gwei(c.trailing_p50_gwei),
                if c.gas_spike { "SPIKE" } else { "-" }.into(),
                c.agents.iter().filter(|a| a.streaming).count().to_string(),
            ]
        })
        .collect();
    let mut out = render_table(
        &[
            "CHAIN", "TX/S", "PENDING", "QUEUED", "P50 GWEI", "P90 GWEI", "TRAILING", "GAS",
            "STREAMS",
        ],
        &rows,
    );
    for chain in chains {
        if !chain.high_value.is_empty() {
            let rows: Vec<Vec<String>> = chain
                .high_value
                .iter()
                .map(|tx| {
                    vec![
                        tx.hash.clone(),
                        format!("{:.4}", tx.value_wei.parse::<f64>().unwrap_or(0.0) / 1e18),
                        tx.first_seen_by.clone(),
                    ]
                })
                .collect();
            out.push_str(&format!("\n\n{} high value\n", chain.chain));
            out.push_str(&render_table(&["HASH", "ETH", "FIRST SEEN BY"], &rows));
        }
        if !chain.first_seen.is_empty() {
            let rows: Vec<Vec<String>> = chain
                .first_seen
                .iter()
                .map(|row| {
                    vec![
                        row.agent.clone(),
                        format!("{:.0} %", row.share * 100.0),
                        row.median_lead_ms
                            .map(|ms| format!("{ms:.1} ms"))
                            .unwrap_or_else(|| "-".into()),
                        format!("{}/{}", row.first, row.seen),
                    ]
                })
                .collect();
            out.push_str(&format!("\n\n{} first seen\n", chain.chain));
            out.push_str(&render_table(
                &["AGENT", "SHARE", "MEDIAN LEAD", "FIRST/SEEN"],
                &rows,
            ));
        }
        let streaming: Vec<Vec<String>> = chain
            .agents
            .iter()
            .filter(|a| a.streaming)
            .map(|a| {
                let delay = |i: usize| {
                    a.forward_delay_ms
                        .map(|d| format!("{:.2} ms", d[i]))
                        .unwrap_or_else(|| "-".into())
                };
                vec![
                    a.agent.clone(),
                    a.rate_per_s.to_string(),
                    a.dropped_total.to_string(),
                    delay(0),
                    delay(1),
                ]
            })
            .collect();
        if !streaming.is_empty() {
            out.push_str(&format!("\n\n{} agents\n", chain.chain));
            out.push_str(&render_table(
                &["AGENT", "TX/S", "DROPPED", "FORWARD P50", "FORWARD P99"],
                &streaming,
            ));
        }
        let down: Vec<String> = chain
            .agents
            .iter()
            .filter(|a| !a.streaming)
            .map(|a| {
                format!(
                    "{} ({})",
                    a.agent,
                    a.error.as_deref().unwrap_or("not streaming")
                )
            })
            .collect();
        if !down.is_empty() {
            out.push_str(&format!(
                "\n\n{} streams down: {}",
                chain.chain,
                down.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use mevfleet_common::mempool::{AgentMempoolView, MempoolView};

    #[test]
    fn the_agents_table_shows_each_forward_delay() {
        let agent = |id: &str, delay: Option<[f64; 2]>| AgentMempoolView {
            agent: id.into(),
            streaming: true,
            rate_per_s: 7,
            arrivals_total: 70,
            dropped_total: 0,
            pending: None,
            queued: None,
            fee_p50_gwei: None,
            error: None,
            forward_delay_ms: delay,
        };
        let chain = MempoolView {
            chain: "ethereum".into(),
            agents: vec![agent("host-a", Some([0.4, 1.25])), agent("host-b", None)],
            ..MempoolView::default()
        };
        let text = super::render(&[chain]);
        let row = |id: &str| {
            text.lines()
                .find(|line| line.starts_with(id))
                .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        };
        assert_eq!(row("host-a").as_deref(), Some("host-a 7 0 0.40 ms 1.25 ms"));
        assert_eq!(row("host-b").as_deref(), Some("host-b 7 0 - -"));
    }
}
