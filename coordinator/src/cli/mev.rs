//! `mevfleet mev stats|profits|config`: execution outcomes (success rate,
//! expected profit by strategy) and the write guards of a chain's executor
//! gateway (the runbook's MEV config): show them, or change some and keep
//! the rest.

use clap::{Args, Subcommand};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::agent::Guards;
use mevfleet_common::wire::fleet::{MevReport, MevStats};
use serde_json::json;

use super::connect::{request, Target};
use super::fleet::{find_chain, read_view};
use super::output::{print_json, render_table, OutputFormat};
use super::CliError;

/// `mevfleet mev ...`
#[derive(Debug, Subcommand)]
pub enum MevCommand {
    /// Writes accepted and refused, success rate, over the last hour and day.
    Stats,
    /// Expected profit of the writes that succeeded, by strategy, last hour and day.
    Profits,
    /// Show or change a chain's write guards.
    Config(ConfigArgs),
}

/// `mevfleet mev config` arguments.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The chain.
    pub chain: String,
    /// Let writes out without an operator (true or false).
    #[arg(long, value_name = "BOOL")]
    pub auto_execute: Option<bool>,
    /// The highest fee cap a transaction may carry, in gwei.
    #[arg(long, value_name = "GWEI", value_parser = positive_amount)]
    pub max_gas_price_gwei: Option<f64>,
    /// Remove the gas price cap.
    #[arg(long, conflicts_with = "max_gas_price_gwei")]
    pub no_max_gas_price: bool,
    /// The lowest expected profit a write must declare, in ETH.
    #[arg(long, value_name = "ETH", value_parser = positive_amount)]
    pub min_profit_eth: Option<f64>,
    /// Remove the minimum profit.
    #[arg(long, conflicts_with = "min_profit_eth")]
    pub no_min_profit: bool,
    /// The strategies allowed, comma-separated; an empty list allows any.
    #[arg(long, value_name = "NAME[,NAME]", value_delimiter = ',', num_args = 0..)]
    pub strategies: Option<Vec<String>>,
}

fn positive_amount(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("`{text}` is not a non-negative number")),
    }
}

impl ConfigArgs {
    fn changes_anything(&self) -> bool {
        self.auto_execute.is_some()
            || self.max_gas_price_gwei.is_some()
            || self.no_max_gas_price
            || self.min_profit_eth.is_some()
            || self.no_min_profit
            || self.strategies.is_some()
    }

    fn apply(&self, mut guards: Guards) -> Guards {
        if let Some(on) = self.auto_execute {
            guards.auto_execute = on;
        }
        if let Some(gwei) = self.max_gas_price_gwei {
            guards.max_gas_price_wei = Some((gwei * 1e9).round() as u128);
        }
        if self.no_max_gas_price {
            guards.max_gas_price_wei = None;
        }
        if let Some(eth) = self.min_profit_eth {
            guards.min_profit_wei = Some((eth * 1e18).round() as u128);
        }
        if self.no_min_profit {
            guards.min_profit_wei = None;
        }
        if let Some(strategies) = &self.strategies {
            guards.strategies = strategies
                .iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        guards
    }
}

/// Runs a `mev` command.
pub async fn run(
    command: &MevCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    let view = read_view(target).await?;
    let args = match command {
        MevCommand::Stats => return stats(&view.mev, output),
        MevCommand::Profits => return profits(&view.mev, output),
        MevCommand::Config(args) => args,
    };
    let current = find_chain(&view, &args.chain)?.guards.clone();
    if !args.changes_anything() {
        return show(&args.chain, &current, output);
    }
    let guards = args.apply(current);
    match request(
        target,
        &AdminRequest::SetGuards {
            chain: args.chain.clone(),
            guards: guards.clone(),
        },
    )
    .await?
    {
        AdminResponse::Written(receipt) => match receipt.refused {
            Some(reason) => Err(CliError::Failed(format!("refused: {reason}"))),
            None => show(&args.chain, &guards, output),
        },
        other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    }
}

fn show(chain: &str, guards: &Guards, output: OutputFormat) -> Result<(), CliError> {
    let gwei = guards.max_gas_price_wei.map(|wei| wei as f64 / 1e9);
    let eth = guards.min_profit_wei.map(|wei| wei as f64 / 1e18);
    match output {
        OutputFormat::Json => print_json(&json!({
            "chain": chain,
            "auto_execute": guards.auto_execute,
            "max_gas_price_gwei": gwei,
            "min_profit_eth": eth,
            "strategies": guards.strategies,
        })),
        OutputFormat::Table => {
            let rows = vec![vec![
                chain.to_owned(),
                guards.auto_execute.to_string(),
                gwei.map(|g| format!("{g}")).unwrap_or_else(|| "-".into()),
                eth.map(|e| format!("{e}")).unwrap_or_else(|| "-".into()),
                if guards.strategies.is_empty() {
                    "any".into()
                } else {
                    guards.strategies.join(",")
                },
            ]];
            println!(
                "{}",
                render_table(
                    &[
                        "CHAIN",
                        "AUTO EXECUTE",
                        "MAX GAS GWEI",
                        "MIN PROFIT ETH",
                        "STRATEGIES"
                    ],
                    &rows
                )
            );
            Ok(())
        }
    }
}

fn rate(rate: Option<f64>) -> String {
    rate.map(|r| format!("{:.1} %", r * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn stats(mev: &MevReport, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => print_json(&json!({
            "success_rate": mev.last_day.success_rate,
            "last_hour": mev.last_hour,
            "last_day": mev.last_day,
        })),
        OutputFormat::Table => {
            let row = |name: &str, s: &MevStats| {
                vec![
                    name.to_owned(),
                    s.accepted.to_string(),
                    s.refused.to_string(),
                    s.succeeded.to_string(),
                    s.failed.to_string(),
                    s.pending.to_string(),
                    rate(s.success_rate),
                    s.missed.to_string(),
                    format!("{:.6}", s.missed_profit_eth),
                ]
            };
            println!(
                "{}",
                render_table(
                    &[
                        "WINDOW",
                        "ACCEPTED",
                        "REFUSED",
                        "SUCCEEDED",
                        "FAILED",
                        "PENDING",
                        "SUCCESS RATE",
                        "MISSED",
                        "MISSED ETH"
                    ],
                    &[row("1h", &mev.last_hour), row("24h", &mev.last_day)]
                )
            );
            Ok(())
        }
    }
}

fn profits(mev: &MevReport, output: OutputFormat) -> Result<(), CliError> {
    match output {
        OutputFormat::Json => print_json(&json!({
            "daily_total": mev.last_day.total_profit_eth,
            "hourly_total": mev.last_hour.total_profit_eth,
            "by_strategy_24h": mev.last_day.profit_by_strategy,
        })),
        OutputFormat::Table => {
            let mut rows: Vec<Vec<String>> = mev
                .last_day
                .profit_by_strategy
                .iter()
                .map(|(strategy, eth)| {
                    let hour = mev
                        .last_hour
                        .profit_by_strategy
                        .get(strategy)
                        .copied()
                        .unwrap_or(0.0);
                    vec![strategy.clone(), format!("{hour:.6}"), format!("{eth:.6}")]
                })
                .collect();
            rows.push(vec![
                "total".into(),
                format!("{:.6}", mev.last_hour.total_profit_eth),
                format!("{:.6}", mev.last_day.total_profit_eth),
            ]);
            println!(
                "{}",
                render_table(&["STRATEGY", "1H ETH", "24H ETH"], &rows)
            );
            Ok(())
        }
    }
}
