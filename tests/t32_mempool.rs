//! t32 mempool: agents stream real anvil pools (`--no-mining`, so
//! transactions stay pending) and the leader compares them. Counts match
//! what was sent, a transfer over the threshold is listed as high value,
//! hash mode fetches what it is told about, the agent that is fed first is
//! named first in the first-seen table, and a node killed and restarted is
//! streamed again without help.

use std::time::Duration;

use mevfleet_tests::anvil::{DEV_ACCOUNT, OTHER_ACCOUNT};
use mevfleet_tests::{
    http_get, init_logs, json_rpc, wait_until, Anvil, TestFleet, DEFAULT_DEADLINE,
};
use serde_json::{json, Value};

const ETH: u128 = 1_000_000_000_000_000_000;

/// The gap between feeding the same transaction to the first node and to
/// the second: the lead the first-seen table must find (the stimulus of
/// that test, not a wait for a condition).
const FEED_GAP: Duration = Duration::from_millis(40);

/// An agent config entry streaming `anvil`'s pool as ethereum, with
/// `mempool` keys.
fn streaming(anvil: &Anvil, mempool: &str) -> String {
    format!(
        "[[chains]]\nname = \"ethereum\"\nrpc = \"{}\"\nws = \"{}\"\nmempool = true\n[mempool]\n{mempool}\n",
        anvil.url(),
        anvil.ws_url()
    )
}

/// `mevfleet mempool --chain ethereum -o json`'s entry, once there is one.
async fn mempool_of(fleet: &TestFleet) -> Option<Value> {
    let view = fleet
        .cli_json(&["mempool", "--chain", "ethereum"], &[])
        .await
        .ok()?;
    view.as_array()?.first().cloned()
}

fn agent_of<'a>(chain: &'a Value, agent: &str) -> Option<&'a Value> {
    chain["agents"]
        .as_array()?
        .iter()
        .find(|a| a["agent"] == agent)
}

/// Waits until the view passes `check`; returns the chain's entry.
async fn wait_view(
    fleet: &TestFleet,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    wait_until(what, DEFAULT_DEADLINE, || async {
        mempool_of(fleet).await.filter(|chain| check(chain))
    })
    .await
}

async fn send_value(anvil: &Anvil, value_wei: u128) -> anyhow::Result<String> {
    let sent = json_rpc(
        anvil.addr(),
        "eth_sendTransaction",
        json!([{"from": DEV_ACCOUNT, "to": OTHER_ACCOUNT, "value": format!("0x{value_wei:x}")}]),
    )
    .await?;
    sent["result"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("anvil refused the transaction: {sent}"))
}

async fn send_raw(anvil: &Anvil, raw: &str) -> anyhow::Result<()> {
    let sent = json_rpc(anvil.addr(), "eth_sendRawTransaction", json!([raw])).await?;
    anyhow::ensure!(sent.get("result").is_some(), "anvil refused: {sent}");
    Ok(())
}

fn total(chain: &Value, agent: &str) -> u64 {
    agent_of(chain, agent)
        .and_then(|a| a["arrivals_total"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_transactions_are_counted_and_a_large_one_is_listed() -> anyhow::Result<()> {
    init_logs();
    let anvil = Anvil::start_without_mining(1)?;
    let mut fleet = TestFleet::start(1).await?;
    fleet.add_agent_with("host-a", &[], &streaming(&anvil, ""))?;
    // The same pool in hash mode: every transaction is fetched by hash.
    fleet.add_agent_with(
        "host-h",
        &[],
        &streaming(&anvil, "full_transactions = false"),
    )?;

    // --- both streams up
    wait_view(&fleet, "both agents streaming", |chain| {
        ["host-a", "host-h"]
            .iter()
            .all(|id| agent_of(chain, id).is_some_and(|a| a["streaming"] == true))
    })
    .await?;

    // --- five small transfers and one of 2 ETH
    for value in 1..=5 {
        send_value(&anvil, value).await?;
    }
    let big = send_value(&anvil, 2 * ETH).await?;

    // --- the counts match what was sent, on both agents
    let chain = wait_view(&fleet, "6 arrivals on both agents and 6 pending", |chain| {
        total(chain, "host-a") == 6 && total(chain, "host-h") == 6 && chain["pending"] == 6
    })
    .await?;
    assert_eq!(chain["queued"], 0);
    let high: Vec<&Value> = chain["high_value"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    assert_eq!(
        high.len(),
        1,
        "only the 2 ETH transfer is high value: {chain}"
    );
    assert_eq!(high[0]["hash"], big.as_str());
    assert_eq!(high[0]["value_wei"], (2 * ETH).to_string());
    assert!(["host-a", "host-h"].contains(&high[0]["first_seen_by"].as_str().unwrap_or("")));
    // Hash mode fetched the fees too: both agents report a median.
    wait_view(&fleet, "a fee median", |chain| {
        chain["fee_p50_gwei"].as_f64().is_some()
    })
    .await?;

    // --- the same on the coordinator's HTTP and the agent's metrics
    let member = fleet
        .members
        .values()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no member"))?;
    let api: Value = serde_json::from_str(&http_get(member.http, "/api/mempool").await?)?;
    assert_eq!(api[0]["chain"], "ethereum");
    assert_eq!(api[0]["high_value"][0]["hash"], big.as_str());
    let metrics = fleet.agent("host-a")?.get("/metrics").await?;
    assert!(
        metrics.contains("mevfleet_agent_mempool_transactions_total{chain=\"ethereum\"} 6"),
        "{metrics}"
    );
    mevfleet_tests::promtool_check_metrics(&metrics)?;
    mevfleet_tests::promtool_check_metrics(&http_get(member.http, "/metrics").await?)?;

    // --- the table names the chain; an unknown chain is a usage error
    let (code, table, _) = fleet.cli(&["mempool"]).await?;
    assert_eq!(code, 0);
    assert!(
        table.contains("ethereum") && table.contains(&big),
        "{table}"
    );
    let (code, _, stderr) = fleet.cli(&["mempool", "--chain", "dogecoin"]).await?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no chain `dogecoin`"), "{stderr}");
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_fed_first_is_named_first() -> anyhow::Result<()> {
    init_logs();
    let early = Anvil::start_without_mining(1)?;
    let late = Anvil::start_without_mining(1)?;
    let mut fleet = TestFleet::start(1).await?;
    fleet.add_agent_with("host-early", &[], &streaming(&early, "forward_all = true"))?;
    fleet.add_agent_with("host-late", &[], &streaming(&late, "forward_all = true"))?;
    wait_view(&fleet, "both agents streaming", |chain| {
        ["host-early", "host-late"]
            .iter()
            .all(|id| agent_of(chain, id).is_some_and(|a| a["streaming"] == true))
    })
    .await?;

    // --- the same transactions, to one node first and the other later
    let sent = 8u64;
    for nonce in 0..sent {
        let raw = early
            .signed_transfer(nonce, 1 + u128::from(nonce), 2)
            .await?;
        send_raw(&early, &raw).await?;
        tokio::time::sleep(FEED_GAP).await;
        send_raw(&late, &raw).await?;
    }

    // --- the first-seen table names the early host, with a lead
    let chain = wait_view(&fleet, "every transaction compared", |chain| {
        chain["first_seen"]
            .as_array()
            .and_then(|rows| rows.first())
            .is_some_and(|row| row["seen"] == sent)
    })
    .await?;
    let rows = chain["first_seen"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows[0]["agent"], "host-early", "{chain}");
    assert_eq!(rows[0]["share"], 1.0);
    let lead = rows[0]["median_lead_ms"].as_f64().unwrap_or(0.0);
    assert!(
        lead >= FEED_GAP.as_millis() as f64 / 2.0,
        "the lead {lead} ms should reflect the {FEED_GAP:?} gap"
    );
    assert_eq!(rows[1]["agent"], "host-late");
    assert_eq!(rows[1]["share"], 0.0);
    // Both hosts forwarded every one: each has a delay from sighting to the
    // leader's receipt, on one machine's clock so never below zero.
    for id in ["host-early", "host-late"] {
        let delay = agent_of(&chain, id).map(|a| a["forward_delay_ms"].clone());
        let p50 = delay.as_ref().and_then(|d| d[0].as_f64());
        let p99 = delay.as_ref().and_then(|d| d[1].as_f64());
        assert!(
            matches!((p50, p99), (Some(p50), Some(p99)) if 0.0 <= p50 && p50 <= p99),
            "{id}: {delay:?}"
        );
    }
    let leader = fleet.leader().await?;
    let metrics = http_get(fleet.members[&leader].http, "/metrics").await?;
    assert!(
        metrics.contains(
            "mevfleet_mempool_forward_delay_p99_seconds{chain=\"ethereum\",agent=\"host-early\"}"
        ),
        "{metrics}"
    );
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_streamed_again() -> anyhow::Result<()> {
    init_logs();
    let mut anvil = Anvil::start_without_mining(1)?;
    let mut fleet = TestFleet::start(1).await?;
    fleet.add_agent_with("host-a", &[], &streaming(&anvil, ""))?;
    let streaming_is = |up: bool| {
        move |chain: &Value| agent_of(chain, "host-a").is_some_and(|a| a["streaming"] == up)
    };
    wait_view(&fleet, "streaming", streaming_is(true)).await?;
    send_value(&anvil, 10).await?;
    wait_view(&fleet, "one arrival", |chain| total(chain, "host-a") == 1).await?;

    // --- kill the node: the stream is down, with the reason
    anvil.kill()?;
    let down = wait_view(&fleet, "the stream down", streaming_is(false)).await?;
    let error = agent_of(&down, "host-a").map(|a| a["error"].clone());
    assert!(error.is_some_and(|e| e.is_string()), "{down}");

    // --- restart it: the agent resubscribes by itself
    anvil.restart()?;
    wait_view(&fleet, "streaming again", streaming_is(true)).await?;
    // A fresh chain: another value gives another hash (the first is still
    // remembered by the dedup and would not count again).
    send_value(&anvil, 11).await?;
    wait_view(&fleet, "the new transaction counted", |chain| {
        total(chain, "host-a") == 2
    })
    .await?;
    let metrics = fleet.agent("host-a")?.get("/metrics").await?;
    let resubscribed = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("mevfleet_agent_mempool_subscriptions_total{chain=\"ethereum\"} ")
        })
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(resubscribed.is_some_and(|n| n >= 2), "{metrics}");
    fleet.stop().await
}
