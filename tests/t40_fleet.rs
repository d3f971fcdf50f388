//! t40 fleet: real coordinators, real agents and real anvil nodes, driven
//! through the `mevfleet` CLI as an operator would. Heads match the nodes;
//! a killed node turns `down` and comes back `healthy`; a node of another
//! chain is `wrong_chain`; status and check say why; a leader kill loses no
//! agent; a silent agent is counted lost on the leader's metrics; spooled
//! records survive a full coordinator outage and are applied exactly once.

use std::time::{Duration, Instant};

use alloy::providers::{Provider, ProviderBuilder};
use mevfleet_tests::fleet::chain_of;
use mevfleet_tests::{
    http_get, init_logs, metric_at, promtool_check_metrics, wait_until, Anvil, TestFleet,
    DEFAULT_DEADLINE,
};
use serde_json::Value;

async fn block_number(anvil: &Anvil) -> anyhow::Result<u64> {
    let provider = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_hyper_http(anvil.url());
    Ok(provider.get_block_number().await?)
}

fn presences(agents: &Value) -> Vec<(String, String)> {
    agents
        .as_array()
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        a["id"].as_str().unwrap_or_default().to_owned(),
                        a["presence"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_view_follows_real_nodes() -> anyhow::Result<()> {
    init_logs();
    let mut eth_a = Anvil::start(1, Some(1.0))?;
    let eth_b = Anvil::start(1, Some(1.0))?;
    let base_a = Anvil::start(8453, Some(0.5))?;
    // Configured as base (8453), but the node is on chain 10.
    let base_b = Anvil::start(10, Some(0.5))?;
    let mut fleet = TestFleet::start(3).await?;
    fleet.add_agent("host-a", &[("ethereum", &eth_a), ("base", &base_a)])?;
    fleet.add_agent("host-b", &[("ethereum", &eth_b), ("base", &base_b)])?;

    // --- every node reports; the wrong chain id is named
    fleet
        .wait_chain_state("host-a", "ethereum", "healthy")
        .await?;
    fleet.wait_chain_state("host-a", "base", "healthy").await?;
    fleet
        .wait_chain_state("host-b", "ethereum", "healthy")
        .await?;
    fleet
        .wait_chain_state("host-b", "base", "wrong_chain")
        .await?;

    // --- the reported head is the node's, within one block
    let before = block_number(&eth_a).await?;
    let agents = fleet.agents_json().await?;
    let after = block_number(&eth_a).await?;
    let chain =
        chain_of(&agents, "host-a", "ethereum").ok_or_else(|| anyhow::anyhow!("no chain"))?;
    let head = chain["head"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no head: {chain}"))?;
    assert!(
        head + 1 >= before && head <= after,
        "reported head {head}, node between {before} and {after}"
    );
    for agent in agents.as_array().into_iter().flatten() {
        assert_eq!(agent["connected"], true, "{agent}");
        assert!(agent["last_seen_ms"].as_u64().is_some(), "{agent}");
        assert_eq!(agent["labels"]["region"], "test");
        for field in [
            "chain",
            "state",
            "head",
            "lag",
            "syncing",
            "peers",
            "rpc_latency_ms",
        ] {
            assert!(
                agent["chains"][0].get(field).is_some(),
                "no `{field}` in {agent}"
            );
        }
    }
    // anvil has no net_peerCount: peers are null, not zero.
    assert!(chain["peers"].is_null(), "{chain}");

    // --- a killed node is down within a probe or three; a restarted one healthy
    let killed = Instant::now();
    eth_a.kill()?;
    fleet.wait_chain_state("host-a", "ethereum", "down").await?;
    eprintln!(
        "host-a/ethereum down in `mevfleet agents` {} ms after the kill",
        killed.elapsed().as_millis()
    );
    eth_a.restart()?;
    fleet
        .wait_chain_state("host-a", "ethereum", "healthy")
        .await?;

    // --- chains: best head and standbys
    let chains = fleet.cli_json(&["chains"], &[]).await?;
    let ethereum = chains
        .as_array()
        .and_then(|list| list.iter().find(|c| c["chain"] == "ethereum"))
        .ok_or_else(|| anyhow::anyhow!("no ethereum in {chains}"))?;
    assert!(ethereum["best_head"].as_u64().is_some(), "{ethereum}");
    assert!(ethereum.get("executor").is_some() && ethereum.get("epoch").is_some());
    let standbys: Vec<&str> = ethereum["standbys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    assert!(standbys.contains(&"host-b"), "{ethereum}");

    // --- status: YELLOW, naming the wrong chain
    let status = fleet.cli_json(&["status"], &[]).await?;
    assert_eq!(status["level"], "YELLOW", "{status}");
    let reasons = status["reasons"].to_string();
    assert!(reasons.contains("host-b/base is wrong_chain"), "{status}");
    let (code, table, _) = fleet.cli(&["status"]).await?;
    assert_eq!(code, 0);
    assert!(table.starts_with("YELLOW"), "{table}");

    // --- check: the wrong chain fails the checklist (exit 1) and says so
    let check = fleet.cli_json(&["check"], &[1]).await?;
    assert_eq!(check["passed"], false, "{check}");
    let items = check["items"].as_array().cloned().unwrap_or_default();
    let failed: Vec<&Value> = items.iter().filter(|i| i["result"] == "fail").collect();
    assert!(
        failed
            .iter()
            .any(|i| i["subject"] == "host-b/base" && i["section"] == "node sync"),
        "{check}"
    );
    for section in [
        "cluster",
        "node sync",
        "mev system",
        "disk",
        "overnight alerts",
    ] {
        assert!(
            items.iter().any(|i| i["section"] == section),
            "no {section} in {check}"
        );
    }
    let (code, _, stderr) = fleet.cli(&["check"]).await?;
    assert_eq!(code, 1, "{stderr}");

    // --- the agent's /metrics pass promtool; /health says connected
    let agent = fleet.agent("host-a")?;
    let metrics = agent.get("/metrics").await?;
    let lint = promtool_check_metrics(&metrics)?;
    assert!(
        lint.is_empty(),
        "promtool check metrics:\n{lint}\n{metrics}"
    );
    assert!(
        metrics.contains("mevfleet_agent_chain_rpc_latency_seconds{chain=\"ethereum\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mevfleet_agent_chain_state{chain=\"ethereum\",state=\"healthy\"} 1"),
        "{metrics}"
    );
    let health: Value = serde_json::from_str(&agent.get("/health").await?)?;
    assert_eq!(health["uplink"], "connected", "{health}");
    assert_eq!(health["chains"]["ethereum"], "healthy", "{health}");

    // --- the coordinators' HTTP answers from the leader, wherever asked
    for member in fleet.members.values() {
        let agents: Value = serde_json::from_str(&http_get(member.http, "/api/agents").await?)?;
        assert_eq!(agents.as_array().map(Vec::len), Some(2), "{agents}");
        let status: Value = serde_json::from_str(&http_get(member.http, "/api/status").await?)?;
        assert_eq!(status["level"], "YELLOW");
    }
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_kill_leaves_every_agent_connected_and_none_lost() -> anyhow::Result<()> {
    init_logs();
    let eth_a = Anvil::start(1, Some(0.5))?;
    let eth_b = Anvil::start(1, Some(0.5))?;
    let mut fleet = TestFleet::start(3).await?;
    fleet.add_agent("host-a", &[("ethereum", &eth_a)])?;
    fleet.add_agent("host-b", &[("ethereum", &eth_b)])?;
    fleet
        .wait_chain_state("host-a", "ethereum", "healthy")
        .await?;
    fleet
        .wait_chain_state("host-b", "ethereum", "healthy")
        .await?;
    let old_leader = fleet.leader().await?;

    // --- kill -9 the leader; watch the view until both agents are back
    let killed = Instant::now();
    fleet
        .members
        .get_mut(&old_leader)
        .and_then(|m| m.process.as_mut())
        .ok_or_else(|| anyhow::anyhow!("no leader process"))?
        .kill9()?;
    if let Some(member) = fleet.members.get_mut(&old_leader) {
        member.process = None;
    }
    let mut observations = Vec::new();
    loop {
        anyhow::ensure!(
            killed.elapsed() < DEFAULT_DEADLINE,
            "agents not back with the new leader: {observations:?}"
        );
        if let Ok(agents) = fleet.agents_json().await {
            let seen = presences(&agents);
            let done = seen.len() == 2 && seen.iter().all(|(_, p)| p == "connected");
            observations.push(seen);
            if done {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "agents back after {} ms; observations: {observations:?}",
        killed.elapsed().as_millis()
    );
    let new_leader = fleet.leader().await?;
    assert_ne!(new_leader, old_leader);
    // --- and stay connected past the new leader's grace period
    let until = Instant::now() + Duration::from_secs(11);
    while Instant::now() < until {
        if let Ok(agents) = fleet.agents_json().await {
            observations.push(presences(&agents));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let lost: Vec<_> = observations
        .iter()
        .flatten()
        .filter(|(_, presence)| presence == "lost")
        .collect();
    assert!(
        lost.is_empty(),
        "agents marked lost: {lost:?} in {observations:?}"
    );
    let last = observations.last().cloned().unwrap_or_default();
    assert!(last.iter().all(|(_, p)| p == "connected"), "{last:?}");
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaders_metrics_time_heartbeats_and_count_a_silent_agent_lost() -> anyhow::Result<()> {
    init_logs();
    let eth = Anvil::start(1, Some(1.0))?;
    let mut fleet = TestFleet::start_with(1, "leader_grace_ms = 500\nagent_lost_ms = 1500").await?;
    fleet.add_agent("host-a", &[("ethereum", &eth)])?;
    fleet.add_agent("host-b", &[("ethereum", &eth)])?;
    let leader = fleet.leader().await?;
    let http = fleet.members[&leader].http;
    let gauge = |name: &'static str| async move { metric_at(http, name).await.ok() };
    wait_until("both agents connected", DEFAULT_DEADLINE, || async {
        (gauge("mevfleet_agents_connected").await? == 2.0).then_some(())
    })
    .await?;
    assert_eq!(gauge("mevfleet_agents_lost").await, Some(0.0));

    // --- the leader times each heartbeat it answers, in a histogram
    // promtool accepts
    wait_until("heartbeats timed", DEFAULT_DEADLINE, || async {
        (gauge("mevfleet_heartbeat_processing_seconds_count").await? >= 4.0).then_some(())
    })
    .await?;
    let exposition = http_get(http, "/metrics").await?;
    assert!(
        exposition.contains("mevfleet_heartbeat_processing_seconds_bucket{le=\"+Inf\"}"),
        "{exposition}"
    );
    let lint = promtool_check_metrics(&exposition)?;
    assert!(
        lint.is_empty(),
        "promtool check metrics:\n{lint}\n{exposition}"
    );

    // --- host-b goes silent: lost once agent_lost_ms has passed
    fleet
        .agents
        .get_mut("host-b")
        .and_then(|agent| agent.process.take())
        .ok_or_else(|| anyhow::anyhow!("host-b is not running"))?
        .kill9()?;
    wait_until("host-b counted lost", DEFAULT_DEADLINE, || async {
        (gauge("mevfleet_agents_lost").await? == 1.0).then_some(())
    })
    .await?;
    let agents = fleet.agents_json().await?;
    assert!(
        presences(&agents).contains(&("host-b".into(), "lost".into())),
        "{agents}"
    );
    assert_eq!(gauge("mevfleet_agents_connected").await, Some(1.0));
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spooled_records_survive_a_coordinator_outage_and_apply_exactly_once() -> anyhow::Result<()>
{
    init_logs();
    let mut eth = Anvil::start(1, Some(0.5))?;
    let mut fleet = TestFleet::start(3).await?;
    fleet.add_agent("host-a", &[("ethereum", &eth)])?;
    fleet
        .wait_chain_state("host-a", "ethereum", "healthy")
        .await?;

    // --- every coordinator goes away
    for member in fleet.members.values_mut() {
        if let Some(mut process) = member.process.take() {
            process.kill9()?;
        }
    }
    let agent = fleet.agent("host-a")?;
    wait_until("the agent to notice", DEFAULT_DEADLINE, || async {
        (agent.metric("mevfleet_agent_uplink_connected").await.ok()? == 0.0).then_some(())
    })
    .await?;

    // --- meanwhile the node dies and comes back twice: four records spooled
    for cycle in 1..=2u32 {
        eth.kill()?;
        let want = f64::from(cycle * 2 - 1);
        wait_until("a spooled down record", DEFAULT_DEADLINE, || async {
            (agent.metric("mevfleet_agent_spool_pending").await.ok()? >= want).then_some(())
        })
        .await?;
        eth.restart()?;
        let want = f64::from(cycle * 2);
        wait_until("a spooled healthy record", DEFAULT_DEADLINE, || async {
            (agent.metric("mevfleet_agent_spool_pending").await.ok()? >= want).then_some(())
        })
        .await?;
    }
    // Longer than the spool's retry interval (1 s), with nobody to take them.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(agent.metric("mevfleet_agent_spool_pending").await?, 4.0);

    // --- the coordinators come back: every record lands, once
    for member in fleet.members.values_mut() {
        member.start("warn")?;
    }
    let agent = fleet.agent("host-a")?;
    wait_until("the spool to drain", DEFAULT_DEADLINE, || async {
        (agent.metric("mevfleet_agent_spool_pending").await.ok()? == 0.0).then_some(())
    })
    .await?;
    assert_eq!(
        agent.metric("mevfleet_agent_spool_delivered_total").await?,
        4.0
    );
    let check = fleet.cli_json(&["check"], &[1]).await?;
    let events: Vec<&Value> = check["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["agent"] == "host-a")
        .collect();
    let seqs: Vec<u64> = events.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "{check}");
    let states: Vec<&str> = events.iter().filter_map(|e| e["to"].as_str()).collect();
    assert_eq!(states, vec!["down", "healthy", "down", "healthy"]);
    // The overnight section lists the node's outages.
    let overnight = check["items"].to_string();
    assert!(overnight.contains("2 time(s) not healthy"), "{check}");
    fleet.stop().await
}

/// A stand-in for mev-boost or a relay (no real one is reachable here):
/// answers every request with `status`, one request per connection.
async fn status_server(status: u16) -> anyhow::Result<std::net::SocketAddr> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _read = stream.read(&mut buf).await;
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _sent = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mev_boost_relays_and_units_reach_the_checklist() -> anyhow::Result<()> {
    init_logs();
    let eth = Anvil::start(1, Some(0.5))?;
    let boost = status_server(200).await?;
    let good_relay = status_server(200).await?;
    let bad_relay = status_server(503).await?;
    let mut fleet = TestFleet::start(1).await?;
    fleet.add_agent_with(
        "host-a",
        &[("ethereum", &eth)],
        &format!(
            "[mev_boost]\nurl = \"http://{boost}\"\nrelays = [\"http://0xabc@{good_relay}\", \"http://{bad_relay}\"]\n[[services]]\nunit = \"erigon-mev.service\"\nchain = \"ethereum\"\n[probe]\nhost_interval_ms = 200\n"
        ),
    )?;
    fleet
        .wait_chain_state("host-a", "ethereum", "healthy")
        .await?;

    // --- the relay that answers 503 fails the MEV system check, by name
    let check = wait_until("mev-boost in the checklist", DEFAULT_DEADLINE, || async {
        let check = fleet.cli_json(&["check"], &[1]).await.ok()?;
        check["items"]
            .to_string()
            .contains("relays up 1/2")
            .then_some(check)
    })
    .await?;
    let items = check["items"].as_array().cloned().unwrap_or_default();
    let boost_item = items
        .iter()
        .find(|i| i["subject"] == "host-a/mev-boost")
        .ok_or_else(|| anyhow::anyhow!("{check}"))?;
    assert_eq!(boost_item["result"], "fail", "{boost_item}");
    let status = fleet.cli_json(&["status"], &[]).await?;
    let reasons = status["reasons"].to_string();
    assert!(
        reasons.contains(&format!("relay http://{bad_relay}/ is down")),
        "{status}"
    );
    // Relay credentials never leave the host.
    assert!(!check.to_string().contains("0xabc"), "{check}");

    // --- without systemd the unit is unknown: a warning, not a failure
    let unit = items
        .iter()
        .find(|i| i["subject"] == "host-a/erigon-mev.service")
        .ok_or_else(|| anyhow::anyhow!("{check}"))?;
    let systemd = std::path::Path::new("/run/systemd/system").is_dir();
    if !systemd {
        assert_eq!(unit["result"], "warn", "{unit}");
        assert!(
            unit["detail"]
                .as_str()
                .unwrap_or_default()
                .starts_with("unknown"),
            "{unit}"
        );
    }

    // --- the agent's /metrics carry mev-boost and the relays
    let metrics = fleet.agent("host-a")?.get("/metrics").await?;
    assert!(
        metrics.contains("mevfleet_agent_mev_boost_up 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "mevfleet_agent_relay_up{{relay=\"http://{bad_relay}/\"}} 0"
        )),
        "{metrics}"
    );
    let lint = promtool_check_metrics(&metrics)?;
    assert!(lint.is_empty(), "promtool:\n{lint}");
    fleet.stop().await
}
