//! Execution outcomes as figures, a pure function of the committed outcome
//! records: writes accepted and refused, how many succeeded on chain, the
//! success rate, the expected profit of what succeeded, by strategy, and
//! the opportunities missed, by cause.

use mevfleet_common::report::Execution;
use mevfleet_common::wire::fleet::{MevReport, MevStats};

use crate::state::ExecutionEntry;

const HOUR_MS: u64 = 3_600_000;

/// Why a refused write was refused, from its error code.
fn refusal_cause(execution: &Execution) -> &'static str {
    match execution.refusal_code {
        Some(-32001) => "not_executor",
        Some(-32002) => "halted",
        Some(-32003) => "guard",
        _ => "rejected",
    }
}

fn miss(stats: &mut MevStats, cause: &str, execution: &Execution, large_wei: u128) {
    let wei = execution.expected_profit_wei.unwrap_or(0);
    let eth = wei as f64 / 1e18;
    stats.missed += 1;
    stats.missed_profit_eth += eth;
    if wei >= large_wei {
        stats.large_misses += 1;
    }
    let missed = stats.missed_by_cause.entry(cause.to_owned()).or_default();
    missed.count += 1;
    missed.profit_eth += eth;
}

/// The figures over the `window_ms` before `now_ms`; a miss expecting at
/// least `large_wei` counts as large (`alerts.missed_opportunity_eth`).
pub fn stats(entries: &[ExecutionEntry], now_ms: u64, window_ms: u64, large_wei: u128) -> MevStats {
    let since = now_ms.saturating_sub(window_ms);
    let mut stats = MevStats {
        window_ms,
        ..MevStats::default()
    };
    for entry in entries.iter().filter(|e| e.execution.at_ms >= since) {
        let execution = &entry.execution;
        if !execution.accepted {
            stats.refused += 1;
            miss(&mut stats, refusal_cause(execution), execution, large_wei);
            continue;
        }
        stats.accepted += 1;
        match &entry.inclusion {
            None => stats.pending += 1,
            Some(inclusion) if inclusion.block.is_some() && inclusion.success => {
                stats.succeeded += 1;
                let eth = execution.expected_profit_wei.unwrap_or(0) as f64 / 1e18;
                let strategy = execution.strategy.clone().unwrap_or_else(|| "-".into());
                *stats.profit_by_strategy.entry(strategy).or_default() += eth;
                stats.total_profit_eth += eth;
            }
            Some(inclusion) => {
                stats.failed += 1;
                let cause = if inclusion.block.is_some() {
                    "reverted"
                } else {
                    "not_included"
                };
                miss(&mut stats, cause, execution, large_wei);
            }
        }
    }
    let settled = stats.succeeded + stats.failed;
    stats.success_rate = (settled > 0).then(|| stats.succeeded as f64 / settled as f64);
    stats
}

/// The last hour and the last day.
pub fn report(entries: &[ExecutionEntry], now_ms: u64, large_wei: u128) -> MevReport {
    MevReport {
        last_hour: stats(entries, now_ms, HOUR_MS, large_wei),
        last_day: stats(entries, now_ms, 24 * HOUR_MS, large_wei),
    }
}

#[cfg(test)]
mod tests {
    use mevfleet_common::report::{Execution, Inclusion};

    use super::*;

    const NOW: u64 = 100 * HOUR_MS;
    /// The runbook's 0.1 ETH.
    const LARGE: u128 = 100_000_000_000_000_000;

    fn entry(
        at_ms: u64,
        accepted: bool,
        strategy: Option<&str>,
        profit_eth: u128,
        fate: Option<(Option<u64>, bool)>,
    ) -> ExecutionEntry {
        ExecutionEntry {
            agent: "host-a".into(),
            execution: Execution {
                chain: "ethereum".into(),
                method: "eth_sendRawTransaction".into(),
                hash: accepted.then(|| format!("0x{at_ms:x}")),
                strategy: strategy.map(str::to_owned),
                expected_profit_wei: Some(profit_eth * 10u128.pow(17)),
                epoch: 1,
                at_ms,
                accepted,
                reason: (!accepted).then(|| "guard".into()),
                refusal_code: (!accepted).then_some(-32003),
            },
            inclusion: fate.map(|(block, success)| Inclusion {
                chain: "ethereum".into(),
                hash: format!("0x{at_ms:x}"),
                block,
                success,
                at_ms,
            }),
        }
    }

    #[test]
    fn outcomes_count_by_fate_and_profit_by_strategy() {
        let entries = vec![
            entry(
                NOW - 30 * HOUR_MS,
                true,
                Some("arb"),
                5,
                Some((Some(1), true)),
            ), // outside the day
            entry(
                NOW - 2 * HOUR_MS,
                true,
                Some("arb"),
                2,
                Some((Some(2), true)),
            ),
            entry(NOW - 1000, true, Some("arb"), 1, Some((Some(3), true))),
            entry(
                NOW - 900,
                true,
                Some("liquidation"),
                3,
                Some((Some(3), false)),
            ), // reverted
            entry(NOW - 800, true, None, 4, Some((None, false))), // never included
            entry(NOW - 700, true, Some("arb"), 1, None),         // pending
            entry(NOW - 600, false, Some("arb"), 1, None),        // refused
        ];
        let hour = stats(&entries, NOW, HOUR_MS, LARGE);
        assert_eq!(
            (
                hour.accepted,
                hour.refused,
                hour.succeeded,
                hour.failed,
                hour.pending
            ),
            (4, 1, 1, 2, 1)
        );
        assert_eq!(hour.success_rate, Some(1.0 / 3.0));
        assert!((hour.total_profit_eth - 0.1).abs() < 1e-12, "{hour:?}");
        let day = report(&entries, NOW, LARGE).last_day;
        assert_eq!(day.succeeded, 2);
        assert!(
            (day.profit_by_strategy["arb"] - 0.3).abs() < 1e-12,
            "{day:?}"
        );
        assert!(stats(&[], NOW, HOUR_MS, LARGE).success_rate.is_none());

        // missed: the refusal (0.1, a guard), the revert (0.3), the one never included (0.4)
        assert_eq!(hour.missed, 3);
        assert!((hour.missed_profit_eth - 0.8).abs() < 1e-12, "{hour:?}");
        assert_eq!(hour.large_misses, 3);
        let causes: Vec<(&str, u64)> = hour
            .missed_by_cause
            .iter()
            .map(|(cause, missed)| (cause.as_str(), missed.count))
            .collect();
        assert_eq!(causes, [("guard", 1), ("not_included", 1), ("reverted", 1)]);
    }

    #[test]
    fn refusals_are_missed_by_the_cause_their_code_names() {
        let refused = |code: Option<i64>, profit_wei: u128| {
            let mut one = entry(NOW - 10, false, Some("arb"), 0, None);
            one.execution.refusal_code = code;
            one.execution.expected_profit_wei = Some(profit_wei);
            one
        };
        let entries = vec![
            refused(Some(-32001), 10u128.pow(17)),
            refused(Some(-32001), 10u128.pow(16)),
            refused(Some(-32002), 0),
            refused(Some(-32003), 0),
            refused(Some(-32000), 0),
            refused(None, 0),
        ];
        let hour = stats(&entries, NOW, HOUR_MS, LARGE);
        let causes: Vec<(&str, u64)> = hour
            .missed_by_cause
            .iter()
            .map(|(cause, missed)| (cause.as_str(), missed.count))
            .collect();
        assert_eq!(
            causes,
            [
                ("guard", 1),
                ("halted", 1),
                ("not_executor", 2),
                ("rejected", 2)
            ]
        );
        assert!((hour.missed_by_cause["not_executor"].profit_eth - 0.11).abs() < 1e-12);
        assert_eq!(hour.large_misses, 1, "only 0.1 ETH reaches the threshold");
    }
}
