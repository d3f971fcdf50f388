//! The write guards, as a pure function of the chain's guards, the
//! JSON-RPC request and the strategy's headers: auto-execute, the gas price
//! cap (read from the decoded transactions, not from what the caller
//! claims), the minimum expected profit and the allowed strategies. A
//! refusal names the guard and says why.

use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::primitives::Bytes;
use mevfleet_common::wire::agent::Guards;
use serde_json::Value;

/// The strategy header.
pub const STRATEGY_HEADER: &str = "x-mevfleet-strategy";
/// The expected-profit header, in wei.
pub const PROFIT_HEADER: &str = "x-mevfleet-expected-profit-wei";

/// What the strategy said about a write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags {
    /// `x-mevfleet-strategy`.
    pub strategy: Option<String>,
    /// `x-mevfleet-expected-profit-wei`, as sent.
    pub expected_profit_wei: Option<String>,
}

fn gwei(wei: u128) -> String {
    format!("{:.3}", wei as f64 / 1e9)
}

fn eth(wei: u128) -> String {
    format!("{:.6}", wei as f64 / 1e18)
}

/// Fee caps of every transaction the request would send, in wei.
fn fee_caps(method: &str, params: &Value) -> Result<Vec<u128>, String> {
    let raw = |text: &str| -> Result<u128, String> {
        let bytes: Bytes = text
            .parse()
            .map_err(|err| format!("not a hex transaction: {err}"))?;
        let tx = TxEnvelope::decode_2718(&mut bytes.as_ref())
            .map_err(|err| format!("not a signed transaction: {err}"))?;
        Ok(tx.max_fee_per_gas())
    };
    match method {
        "eth_sendRawTransaction" => {
            let text = params.get(0).and_then(Value::as_str).ok_or(
                "eth_sendRawTransaction needs the signed transaction as its first parameter",
            )?;
            Ok(vec![raw(text)?])
        }
        "eth_sendPrivateTransaction" => {
            let text = params
                .get(0)
                .and_then(|p| p.get("tx"))
                .and_then(Value::as_str)
                .ok_or("eth_sendPrivateTransaction needs {\"tx\": ...}")?;
            Ok(vec![raw(text)?])
        }
        "eth_sendBundle" => params
            .get(0)
            .and_then(|p| p.get("txs"))
            .and_then(Value::as_array)
            .ok_or("eth_sendBundle needs {\"txs\": [...]}")?
            .iter()
            .map(|tx| {
                tx.as_str()
                    .ok_or_else(|| "a bundle transaction is not a hex string".to_owned())
                    .and_then(raw)
            })
            .collect(),
        "eth_sendTransaction" => {
            let tx = params
                .get(0)
                .ok_or("eth_sendTransaction needs a transaction")?;
            let cap = tx
                .get("maxFeePerGas")
                .or_else(|| tx.get("gasPrice"))
                .and_then(Value::as_str)
                .ok_or("the transaction sets no fee cap (maxFeePerGas or gasPrice)")?;
            let cap = u128::from_str_radix(cap.trim_start_matches("0x"), 16)
                .map_err(|err| format!("bad fee cap `{cap}`: {err}"))?;
            Ok(vec![cap])
        }
        // eth_cancelBundle sends nothing.
        _ => Ok(Vec::new()),
    }
}

/// Checks one write; the error names the guard.
pub fn check(
    guards: &Guards,
    chain: &str,
    method: &str,
    params: &Value,
    tags: &Tags,
) -> Result<(), String> {
    if !guards.auto_execute {
        return Err(format!(
            "guard auto_execute: automatic execution is off for {chain}"
        ));
    }
    if !guards.strategies.is_empty() {
        match &tags.strategy {
            None => {
                return Err(format!(
                    "guard strategies: no {STRATEGY_HEADER} header (allowed: {})",
                    guards.strategies.join(", ")
                ))
            }
            Some(strategy) if !guards.strategies.contains(strategy) => {
                return Err(format!(
                "guard strategies: strategy `{strategy}` is not allowed on {chain} (allowed: {})",
                guards.strategies.join(", ")
            ))
            }
            Some(_) => {}
        }
    }
    if let Some(min) = guards.min_profit_wei {
        let profit = tags.expected_profit_wei.as_deref().ok_or_else(|| {
            format!(
                "guard min_profit_eth: no {PROFIT_HEADER} header (minimum {} ETH)",
                eth(min)
            )
        })?;
        let profit: u128 = profit.trim().parse().map_err(|_| {
            format!("guard min_profit_eth: {PROFIT_HEADER} `{profit}` is not a whole number of wei")
        })?;
        if profit < min {
            return Err(format!(
                "guard min_profit_eth: expected profit {} ETH is below the minimum {} ETH",
                eth(profit),
                eth(min)
            ));
        }
    }
    if let Some(max) = guards.max_gas_price_wei {
        let caps =
            fee_caps(method, params).map_err(|why| format!("guard max_gas_price_gwei: {why}"))?;
        if let Some(cap) = caps.into_iter().find(|cap| *cap > max) {
            return Err(format!(
                "guard max_gas_price_gwei: fee cap {} gwei is above the limit {} gwei",
                gwei(cap),
                gwei(max)
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tags(strategy: Option<&str>, profit: Option<&str>) -> Tags {
        Tags {
            strategy: strategy.map(str::to_owned),
            expected_profit_wei: profit.map(str::to_owned),
        }
    }

    fn send_tx(fee: &str) -> Value {
        json!([{"from": "0x1", "to": "0x2", "maxFeePerGas": fee}])
    }

    #[test]
    fn each_guard_refuses_with_its_name() {
        let open = Guards::default();
        let strict = Guards {
            auto_execute: true,
            max_gas_price_wei: Some(100_000_000_000),
            min_profit_wei: Some(100_000_000_000_000_000),
            strategies: vec!["arb".into(), "liquidation".into()],
        };
        let off = Guards {
            auto_execute: false,
            ..Guards::default()
        };
        let good = tags(Some("arb"), Some("200000000000000000"));
        let cases: Vec<(&str, &Guards, Value, Tags, Option<&str>)> = vec![
            ("no guards", &open, send_tx("0x1"), Tags::default(), None),
            (
                "all pass",
                &strict,
                send_tx("0x174876e800"),
                good.clone(),
                None,
            ),
            (
                "auto-execute off",
                &off,
                send_tx("0x1"),
                good.clone(),
                Some("guard auto_execute"),
            ),
            (
                "no strategy",
                &strict,
                send_tx("0x1"),
                tags(None, Some("1")),
                Some("guard strategies: no x-mevfleet-strategy"),
            ),
            (
                "other strategy",
                &strict,
                send_tx("0x1"),
                tags(Some("sandwich"), None),
                Some("strategy `sandwich` is not allowed"),
            ),
            (
                "no profit",
                &strict,
                send_tx("0x1"),
                tags(Some("arb"), None),
                Some("guard min_profit_eth: no x-mevfleet-expected-profit-wei"),
            ),
            (
                "low profit",
                &strict,
                send_tx("0x1"),
                tags(Some("arb"), Some("1000")),
                Some("below the minimum 0.100000 ETH"),
            ),
            (
                "bad profit",
                &strict,
                send_tx("0x1"),
                tags(Some("arb"), Some("0.5")),
                Some("not a whole number of wei"),
            ),
            (
                "fee too high",
                &strict,
                send_tx("0x174876e801"),
                good.clone(),
                Some("fee cap 100.000 gwei is above the limit 100.000 gwei"),
            ),
            (
                "no fee stated",
                &strict,
                json!([{"from": "0x1"}]),
                good.clone(),
                Some("sets no fee cap"),
            ),
        ];
        for (what, guards, params, tags, refusal) in cases {
            let result = check(guards, "ethereum", "eth_sendTransaction", &params, &tags);
            match refusal {
                None => assert_eq!(result, Ok(()), "{what}"),
                Some(text) => {
                    let err = result.expect_err(what);
                    assert!(err.contains(text), "{what}: {err}");
                }
            }
        }
    }

    #[test]
    fn raw_transactions_that_do_not_decode_are_refused_when_the_cap_applies() {
        let strict = Guards {
            max_gas_price_wei: Some(1),
            ..Guards::default()
        };
        let err = check(
            &strict,
            "ethereum",
            "eth_sendRawTransaction",
            &json!(["0xdeadbeef"]),
            &Tags::default(),
        )
        .expect_err("garbage");
        assert!(
            err.starts_with("guard max_gas_price_gwei: not a signed transaction"),
            "{err}"
        );
    }
}
