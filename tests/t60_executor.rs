//! t60 executor: two agents on two anvil nodes of the same chain, each
//! with a gateway. Writes through the executor's gateway are mined; the
//! standby refuses with -32001 naming the executor; a dead node moves the
//! role at once; a dead agent moves it only after its lease has run out; a
//! leader kill does not interrupt the executor; an emergency stop refuses
//! every gateway with -32002 until resume.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use mevfleet_tests::{init_logs, json_rpc, wait_until, Anvil, TestFleet, DEFAULT_DEADLINE};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// anvil's first dev account.
const DEV: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OTHER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// Leader grace short enough for a test; the lease as shipped (3 s).
const FAILOVER: &str = "leader_grace_ms = 3000\n\
[[http_tokens]]\nname = \"ops\"\nrole = \"operator\"\n\
sha256 = \"2b2577f455616d63bbcb76676b219056860f972a5c38cc4fc33bec3f23e20561\"\n\
[[http_tokens]]\nname = \"wall\"\nrole = \"viewer\"\n\
sha256 = \"5e17bb983b1ff3b4acbcaa8451a4173faa5575c682e7cf8615e2ed5e50fad7bd\"";
const LEASE: Duration = Duration::from_millis(3000);

struct Pair {
    fleet: TestFleet,
    anvils: Vec<(String, Anvil, SocketAddr)>,
}

impl Pair {
    async fn start() -> anyhow::Result<Self> {
        let a = Anvil::start(1, Some(1.0))?;
        let b = Anvil::start(1, Some(1.0))?;
        let mut fleet = TestFleet::start_with(3, FAILOVER).await?;
        let gateway_a = fleet.add_executor("host-a", "ethereum", &a)?;
        let gateway_b = fleet.add_executor("host-b", "ethereum", &b)?;
        Ok(Self {
            fleet,
            anvils: vec![
                ("host-a".into(), a, gateway_a),
                ("host-b".into(), b, gateway_b),
            ],
        })
    }

    /// The executor, its epoch and its gateway, once a write through it is
    /// accepted.
    async fn ready(&self) -> anyhow::Result<(String, u64, SocketAddr)> {
        let (executor, epoch) = self.executor(None).await?;
        let gateway = self.gateway(&executor)?;
        first_accepted(gateway).await?;
        Ok((executor, epoch, gateway))
    }

    fn gateway(&self, agent: &str) -> anyhow::Result<SocketAddr> {
        self.anvils
            .iter()
            .find(|(id, _, _)| id == agent)
            .map(|(_, _, gateway)| *gateway)
            .ok_or_else(|| anyhow::anyhow!("no agent {agent}"))
    }

    fn anvil(&mut self, agent: &str) -> anyhow::Result<&mut Anvil> {
        self.anvils
            .iter_mut()
            .find(|(id, _, _)| id == agent)
            .map(|(_, anvil, _)| anvil)
            .ok_or_else(|| anyhow::anyhow!("no agent {agent}"))
    }

    /// The chain's executor and epoch, once there is one (and, if given,
    /// once it is not `not`).
    async fn executor(&self, not: Option<&str>) -> anyhow::Result<(String, u64)> {
        self.fleet
            .executor_of("ethereum", not, DEFAULT_DEADLINE)
            .await
    }
}

fn other(agent: &str) -> &'static str {
    if agent == "host-a" {
        "host-b"
    } else {
        "host-a"
    }
}

/// The node's JSON-RPC address on loopback.
fn node_addr(anvil: &Anvil) -> anyhow::Result<SocketAddr> {
    let url = anvil.url();
    Ok(format!("127.0.0.1:{}", url.port().unwrap_or(0)).parse()?)
}

/// A transfer from the dev account at its next nonce, with a fee cap of
/// `fee_gwei`, signed by `node` (eth_signTransaction): the raw transaction.
async fn signed_transfer(node: SocketAddr, fee_gwei: u64) -> anyhow::Result<String> {
    let nonce = json_rpc(node, "eth_getTransactionCount", json!([DEV, "pending"])).await?;
    let signed = json_rpc(
        node,
        "eth_signTransaction",
        json!([{"from": DEV, "to": OTHER, "value": "0x1", "gas": "0x5208", "nonce": nonce["result"],
                "maxFeePerGas": format!("0x{:x}", fee_gwei * 1_000_000_000), "maxPriorityFeePerGas": "0x1"}]),
    )
    .await?;
    signed["result"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("anvil did not sign: {signed}"))
}

/// A transfer through `gateway`, signed by the node (eth_sendTransaction).
async fn send(gateway: SocketAddr) -> anyhow::Result<Value> {
    json_rpc(
        gateway,
        "eth_sendTransaction",
        json!([{"from": DEV, "to": OTHER, "value": "0x1"}]),
    )
    .await
}

fn error_code(answer: &Value) -> Option<i64> {
    answer["error"]["code"].as_i64()
}

/// Sends until a write is accepted; returns when.
async fn first_accepted(gateway: SocketAddr) -> anyhow::Result<Instant> {
    wait_until("a write accepted", DEFAULT_DEADLINE, || async {
        let answer = send(gateway).await.ok()?;
        answer.get("result").map(|_| Instant::now())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_go_through_the_executor_and_the_standby_names_it() -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, epoch) = pair.executor(None).await?;
    let standby = other(&executor);
    let gateway = pair.gateway(&executor)?;
    first_accepted(gateway).await?;

    // --- a raw transaction, signed elsewhere, reaches the node and is mined
    let node = node_addr(pair.anvil(&executor)?)?;
    let raw = signed_transfer(node, 2).await?;
    let sent = json_rpc(gateway, "eth_sendRawTransaction", json!([raw])).await?;
    let hash = sent["result"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the executor refused: {sent}"))?
        .to_owned();
    let receipt = wait_until("the receipt", DEFAULT_DEADLINE, || async {
        let receipt = json_rpc(node, "eth_getTransactionReceipt", json!([hash]))
            .await
            .ok()?;
        (!receipt["result"].is_null()).then_some(receipt)
    })
    .await?;
    assert_eq!(receipt["result"]["status"], "0x1", "{receipt}");

    // --- the standby refuses writes, and names the executor and its epoch
    // once its own heartbeat has told it who that is; it serves reads
    let refused = json_rpc(
        pair.gateway(standby)?,
        "eth_sendRawTransaction",
        json!([raw]),
    )
    .await?;
    assert_eq!(error_code(&refused), Some(-32001), "{refused}");
    let named = format!("epoch {epoch}");
    wait_until(
        "the standby to name the executor",
        DEFAULT_DEADLINE,
        || async {
            let refused = json_rpc(
                pair.gateway(standby).ok()?,
                "eth_sendRawTransaction",
                json!([raw]),
            )
            .await
            .ok()?;
            let message = refused["error"]["message"].as_str()?.to_owned();
            (error_code(&refused) == Some(-32001)
                && message.contains(&executor)
                && message.contains(&named))
            .then_some(())
        },
    )
    .await?;
    let read = json_rpc(pair.gateway(standby)?, "eth_blockNumber", json!([])).await?;
    assert!(read["result"].is_string(), "{read}");
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_node_moves_the_role_and_a_dead_agent_waits_out_its_lease() -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (first, epoch) = pair.executor(None).await?;
    first_accepted(pair.gateway(&first)?).await?;

    // --- the executor's node dies: the standby takes over
    let killed = Instant::now();
    pair.anvil(&first)?.kill()?;
    let (second, new_epoch) = pair.executor(Some(&first)).await?;
    assert!(new_epoch > epoch);
    let accepted = first_accepted(pair.gateway(&second)?).await?;
    eprintln!(
        "node death -> first write accepted by {second}: {} ms",
        accepted.duration_since(killed).as_millis()
    );
    let refused = send(pair.gateway(&first)?).await?;
    assert_eq!(error_code(&refused), Some(-32001), "{refused}");

    // --- the old node comes back: the role does not flap back
    pair.anvil(&first)?.restart()?;
    pair.fleet
        .wait_chain_state(&first, "ethereum", "healthy")
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pair.executor(None).await?.0, second);

    // --- the executor's agent dies (kill -9): the standby may execute only
    // after the dead agent's lease has run out
    let agent = pair
        .fleet
        .agents
        .get_mut(&second)
        .and_then(|a| a.process.as_mut())
        .ok_or_else(|| anyhow::anyhow!("no agent process"))?;
    let killed = Instant::now();
    agent.kill9()?;
    let accepted = first_accepted(pair.gateway(&first)?).await?;
    let waited = accepted.duration_since(killed);
    eprintln!(
        "agent death -> first write accepted by {first}: {} ms",
        waited.as_millis()
    );
    assert!(
        waited >= LEASE,
        "{first} accepted {} ms after {second} died, inside {second}'s lease",
        waited.as_millis()
    );
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_kill_does_not_interrupt_the_executor() -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, _, gateway) = pair.ready().await?;
    let leader = pair.fleet.leader().await?;
    let member = pair
        .fleet
        .members
        .get_mut(&leader)
        .ok_or_else(|| anyhow::anyhow!("no leader"))?;
    member
        .process
        .as_mut()
        .ok_or_else(|| anyhow::anyhow!("leader not running"))?
        .kill9()?;
    member.process = None;

    // --- writes every 50 ms for 8 s: not one refused
    let started = Instant::now();
    let mut refusals = Vec::new();
    let mut accepted = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let answer = send(gateway).await?;
        match answer.get("result") {
            Some(_) => accepted += 1,
            None => refusals.push((started.elapsed().as_millis(), answer)),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if !refusals.is_empty() {
        let log = pair
            .fleet
            .agents
            .get(&executor)
            .and_then(|a| a.process.as_ref())
            .map(|p| p.stderr())
            .unwrap_or_default();
        let tail: Vec<&str> = log
            .lines()
            .filter(|l| !l.contains("gateway accepted"))
            .rev()
            .take(15)
            .collect();
        panic!(
            "{accepted} accepted, refused: {refusals:?}\nagent log (newest first):\n{}",
            tail.join("\n")
        );
    }
    assert_ne!(pair.fleet.leader().await?, leader);
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_stop_refuses_every_gateway_until_resume_and_safe_mode_one(
) -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, _) = pair.executor(None).await?;
    first_accepted(pair.gateway(&executor)?).await?;

    let (code, _, stderr) = pair.fleet.cli(&["emergency-stop"]).await?;
    assert_eq!(code, 0, "{stderr}");
    for agent in ["host-a", "host-b"] {
        let gateway = pair.gateway(agent)?;
        let refused = wait_until("-32002 from every gateway", DEFAULT_DEADLINE, || async {
            let answer = send(gateway).await.ok()?;
            (error_code(&answer) == Some(-32002)).then_some(answer)
        })
        .await?;
        assert!(
            refused["error"]["message"]
                .to_string()
                .contains("emergency stop"),
            "{refused}"
        );
    }
    let status = pair.fleet.cli_json(&["status"], &[]).await?;
    assert_eq!(status["level"], "RED", "{status}");

    let (code, _, stderr) = pair.fleet.cli(&["resume"]).await?;
    assert_eq!(code, 0, "{stderr}");
    first_accepted(pair.gateway(&executor)?).await?;

    // --- safe mode stops one agent only
    let (code, _, stderr) = pair.fleet.cli(&["safe-mode", &executor, "on"]).await?;
    assert_eq!(code, 0, "{stderr}");
    let gateway = pair.gateway(&executor)?;
    let refused = wait_until("-32002 in safe mode", DEFAULT_DEADLINE, || async {
        let answer = send(gateway).await.ok()?;
        (error_code(&answer) == Some(-32002)).then_some(answer)
    })
    .await?;
    assert!(
        refused["error"]["message"]
            .to_string()
            .contains("safe mode"),
        "{refused}"
    );
    let (code, _, stderr) = pair.fleet.cli(&["safe-mode", &executor, "off"]).await?;
    assert_eq!(code, 0, "{stderr}");
    first_accepted(gateway).await?;
    let (code, _, stderr) = pair.fleet.cli(&["safe-mode", "host-z", "on"]).await?;
    assert_eq!(code, 2, "{stderr}");
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_failover_moves_the_role() -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, epoch) = pair.executor(None).await?;
    let standby = other(&executor);
    let (code, out, stderr) = pair
        .fleet
        .cli(&["failover", "ethereum", "--to", standby])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains(&format!("to {standby}")), "{out}");
    let (now, new_epoch) = pair.executor(Some(&executor)).await?;
    assert_eq!((now.as_str(), new_epoch), (standby, epoch + 1));
    first_accepted(pair.gateway(standby)?).await?;
    let refused = send(pair.gateway(&executor)?).await?;
    assert_eq!(error_code(&refused), Some(-32001), "{refused}");
    // An unknown chain is a usage error that names the known ones.
    let (code, _, stderr) = pair.fleet.cli(&["failover", "solana"]).await?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("ethereum"), "{stderr}");
    pair.fleet.stop().await
}

/// One accepted write, from an agent's log.
#[derive(Debug, Clone)]
struct Accept {
    agent: String,
    epoch: u64,
    at_ns: u128,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {key}="))? + key.len() + 2;
    line[start..].split_whitespace().next()
}

fn accepts(log: &str) -> Vec<Accept> {
    log.lines()
        .filter(|l| l.contains("gateway accepted a write"))
        .filter_map(|l| {
            Some(Accept {
                agent: field(l, "agent")?.trim_matches('"').to_owned(),
                epoch: field(l, "epoch")?.parse().ok()?,
                at_ns: field(l, "accepted_unix_ns")?.parse().ok()?,
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_two_agents_accept_writes_in_overlapping_time_through_repeated_failovers(
) -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    pair.executor(None).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    // --- clients submit to both gateways, all the time
    let mut clients = Vec::new();
    for agent in ["host-a", "host-b"] {
        let gateway = pair.gateway(agent)?;
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut sent = 0u64;
            while !stop.is_cancelled() {
                let _answer = send(gateway).await;
                sent += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            sent
        }));
    }
    let mut logs = String::new();
    for round in 0..2 {
        // node death
        let (executor, _) = pair.executor(None).await?;
        pair.anvil(&executor)?.kill()?;
        pair.executor(Some(&executor)).await?;
        pair.anvil(&executor)?.restart()?;
        pair.fleet
            .wait_chain_state(&executor, "ethereum", "healthy")
            .await?;
        // agent death (kill -9), then the agent comes back
        let (executor, _) = pair.executor(None).await?;
        let agent = pair
            .fleet
            .agents
            .get_mut(&executor)
            .ok_or_else(|| anyhow::anyhow!("no agent {executor}"))?;
        if let Some(mut process) = agent.process.take() {
            process.kill9()?;
            logs.push_str(&process.stderr());
        }
        pair.executor(Some(&executor)).await?;
        if let Some(agent) = pair.fleet.agents.get_mut(&executor) {
            agent.start()?;
        }
        pair.fleet
            .wait_chain_state(&executor, "ethereum", "healthy")
            .await?;
        // leader death, then the member comes back
        let leader = pair.fleet.leader().await?;
        if let Some(member) = pair.fleet.members.get_mut(&leader) {
            if let Some(mut process) = member.process.take() {
                process.kill9()?;
            }
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        if let Some(member) = pair.fleet.members.get_mut(&leader) {
            member.start("warn")?;
        }
        eprintln!("round {round} done");
    }
    stop.cancel();
    for client in clients {
        client.await?;
    }
    for agent in pair.fleet.agents.values() {
        if let Some(process) = &agent.process {
            logs.push_str(&process.stderr());
        }
    }

    // --- every epoch belongs to one agent, and epochs never interleave in time
    let mut all = accepts(&logs);
    all.sort_by_key(|a| a.at_ns);
    assert!(
        all.len() > 100,
        "too few accepted writes to judge: {}",
        all.len()
    );
    let mut owner: std::collections::BTreeMap<u64, String> = Default::default();
    for accept in &all {
        let first = owner
            .entry(accept.epoch)
            .or_insert_with(|| accept.agent.clone());
        assert_eq!(
            first, &accept.agent,
            "epoch {} accepted by two agents",
            accept.epoch
        );
    }
    for pair_of in all.windows(2) {
        assert!(
            pair_of[0].epoch <= pair_of[1].epoch,
            "{} accepted under epoch {} after {} accepted under epoch {}: overlapping executors",
            pair_of[1].agent,
            pair_of[1].epoch,
            pair_of[0].agent,
            pair_of[0].epoch
        );
    }
    let epochs: Vec<(u64, &String)> = owner.iter().map(|(e, a)| (*e, a)).collect();
    eprintln!("{} accepted writes under epochs {epochs:?}", all.len());
    // Four moves happened (an epoch with no accepted write is fine: the
    // next kill may come before the new holder's first write).
    let (_, last_epoch) = pair.executor(None).await?;
    assert!(last_epoch >= 5, "only {last_epoch} epochs: {epochs:?}");
    assert!(
        owner.len() >= 2,
        "writes accepted under one epoch only: {epochs:?}"
    );
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_refuse_writes_with_minus_32003_naming_the_guard() -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, _, gateway) = pair.ready().await?;
    let node = node_addr(pair.anvil(&executor)?)?;
    let sign = |fee_gwei: u64| signed_transfer(node, fee_gwei);
    let send_raw = |raw: String, headers: Vec<(&'static str, &'static str)>| async move {
        mevfleet_tests::json_rpc_with_headers(
            gateway,
            "eth_sendRawTransaction",
            json!([raw]),
            &headers,
        )
        .await
    };
    let expect_guard = |answer: &Value, guard: &str| {
        assert_eq!(error_code(answer), Some(-32003), "{answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(guard), "expected {guard}: {message}");
    };

    // --- auto-execute off: every write is refused by that guard
    let (code, _, stderr) = pair
        .fleet
        .cli(&["mev", "config", "ethereum", "--auto-execute", "false"])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    let refused = wait_until(
        "the guard to reach the gateway",
        DEFAULT_DEADLINE,
        || async {
            let answer = send(gateway).await.ok()?;
            (error_code(&answer) == Some(-32003)).then_some(answer)
        },
    )
    .await?;
    expect_guard(&refused, "guard auto_execute");

    // --- strategies, profit and the gas price cap, read from the signed transaction
    let (code, out, stderr) = pair
        .fleet
        .cli(&[
            "mev",
            "config",
            "ethereum",
            "--auto-execute",
            "true",
            "--max-gas-price-gwei",
            "3",
            "--min-profit-eth",
            "0.1",
            "--strategies",
            "arb,liquidation",
        ])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    assert!(out.contains("arb,liquidation"), "{out}");
    let shown = pair
        .fleet
        .cli_json(&["mev", "config", "ethereum"], &[])
        .await?;
    assert_eq!(shown["max_gas_price_gwei"], 3.0, "{shown}");
    let good = vec![
        ("x-mevfleet-strategy", "arb"),
        ("x-mevfleet-expected-profit-wei", "200000000000000000"),
    ];
    let accepted = wait_until(
        "the new guards to reach the gateway",
        DEFAULT_DEADLINE,
        || {
            let good = good.clone();
            async move {
                let raw = sign(2).await.ok()?;
                let answer = send_raw(raw, good).await.ok()?;
                answer.get("result").is_some().then_some(answer)
            }
        },
    )
    .await?;
    assert!(accepted["result"].is_string());
    expect_guard(
        &send_raw(sign(2).await?, vec![]).await?,
        "guard strategies: no x-mevfleet-strategy",
    );
    expect_guard(
        &send_raw(sign(2).await?, vec![("x-mevfleet-strategy", "sandwich")]).await?,
        "strategy `sandwich` is not allowed",
    );
    expect_guard(
        &send_raw(
            sign(2).await?,
            vec![
                ("x-mevfleet-strategy", "arb"),
                ("x-mevfleet-expected-profit-wei", "50000000000000000"),
            ],
        )
        .await?,
        "guard min_profit_eth",
    );
    expect_guard(
        &send_raw(sign(5).await?, good.clone()).await?,
        "fee cap 5.000 gwei is above the limit 3.000 gwei",
    );

    // --- a bad amount is a usage error
    let (code, _, stderr) = pair
        .fleet
        .cli(&["mev", "config", "ethereum", "--min-profit-eth", "-1"])
        .await?;
    assert_eq!(code, 2, "{stderr}");

    // --- POST /mev/config needs an operator's bearer token (tokens "op-token"
    // and "view-token" by their SHA-256 in the coordinators' config)
    let http = pair
        .fleet
        .members
        .values()
        .next()
        .map(|m| m.http)
        .ok_or_else(|| anyhow::anyhow!("no member"))?;
    let change = r#"{"chain": "ethereum", "min_profit_eth": 0.5}"#;
    let (status, body) = mevfleet_tests::http_post(http, "/mev/config", &[], change).await?;
    assert_eq!(status, 401, "{body}");
    let viewer = [("Authorization", "Bearer view-token")];
    let (status, body) = mevfleet_tests::http_post(http, "/mev/config", &viewer, change).await?;
    assert_eq!(status, 403, "{body}");
    let operator = [("Authorization", "Bearer op-token")];
    let bad = r#"{"chain": "ethereum", "min_profit": 1}"#;
    let (status, body) = mevfleet_tests::http_post(http, "/mev/config", &operator, bad).await?;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unknown field `min_profit`"), "{body}");
    let (status, body) = mevfleet_tests::http_post(http, "/mev/config", &operator, change).await?;
    assert_eq!(status, 200, "{body}");
    let shown = pair
        .fleet
        .cli_json(&["mev", "config", "ethereum"], &[])
        .await?;
    assert_eq!(shown["min_profit_eth"], 0.5, "{shown}");
    assert_eq!(
        shown["max_gas_price_gwei"], 3.0,
        "the rest is kept: {shown}"
    );
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcomes_are_followed_to_their_receipts_and_summed_by_strategy() -> anyhow::Result<()> {
    init_logs();
    let pair = Pair::start().await?;
    let (executor, _, gateway) = pair.ready().await?;
    let tagged = [
        ("x-mevfleet-strategy", "arb"),
        ("x-mevfleet-expected-profit-wei", "50000000000000000"),
    ];
    for _ in 0..3 {
        let answer = mevfleet_tests::json_rpc_with_headers(
            gateway,
            "eth_sendTransaction",
            json!([{"from": DEV, "to": OTHER, "value": "0x1"}]),
            &tagged,
        )
        .await?;
        assert!(answer["result"].is_string(), "{answer}");
    }
    for _ in 0..2 {
        let refused = mevfleet_tests::json_rpc_with_headers(
            pair.gateway(other(&executor))?,
            "eth_sendTransaction",
            json!([{"from": DEV, "to": OTHER, "value": "0x1"}]),
            &[("x-mevfleet-expected-profit-wei", "200000000000000000")],
        )
        .await?;
        assert_eq!(error_code(&refused), Some(-32001));
    }

    // --- every accepted write is followed to its receipt and committed
    let stats = wait_until("the outcomes to settle", DEFAULT_DEADLINE, || async {
        let stats = pair.fleet.cli_json(&["mev", "stats"], &[]).await.ok()?;
        let hour = &stats["last_hour"];
        (hour["succeeded"].as_u64()? >= 4 && hour["pending"] == 0 && hour["refused"].as_u64()? >= 2)
            .then_some(stats)
    })
    .await?;
    assert_eq!(stats["success_rate"], 1.0, "{stats}");
    // --- the standby's refusals are missed opportunities, by cause
    let missed = &stats["last_hour"]["missed_by_cause"]["not_executor"];
    // (at least the two tagged ones; the untagged sends that waited for the
    // first lease were refused too, expecting nothing)
    assert!(missed["count"].as_u64() >= Some(2), "{stats}");
    assert!((missed["profit_eth"].as_f64().unwrap_or_default() - 0.4).abs() < 1e-9);
    assert_eq!(stats["last_hour"]["large_misses"], 2, "{stats}");
    let profits = pair.fleet.cli_json(&["mev", "profits"], &[]).await?;
    let arb = profits["by_strategy_24h"]["arb"]
        .as_f64()
        .unwrap_or_default();
    assert!((arb - 0.15).abs() < 1e-9, "{profits}");
    let (code, table, _) = pair.fleet.cli(&["mev", "stats"]).await?;
    assert_eq!(code, 0);
    assert!(table.contains("100.0 %"), "{table}");

    // --- the runbook's curl calls
    let member = pair
        .fleet
        .members
        .values()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no member"))?;
    let http: Value =
        serde_json::from_str(&mevfleet_tests::http_get(member.http, "/mev/stats").await?)?;
    assert_eq!(http["success_rate"], 1.0, "{http}");
    let http: Value =
        serde_json::from_str(&mevfleet_tests::http_get(member.http, "/mev/profits").await?)?;
    assert!(
        (http["daily_total"].as_f64().unwrap_or_default() - 0.15).abs() < 1e-9,
        "{http}"
    );
    let mut fleet = pair.fleet;
    fleet.stop().await
}

/// A stand-in relay (no real one is reachable here): records each request's
/// headers and body and accepts every bundle.
async fn fake_relay() -> anyhow::Result<(SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>)>
{
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                // Read until the whole body (Content-Length) is in.
                loop {
                    let Ok(n) = stream.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().to_owned())
                            })
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if body.len() >= length {
                            if let Ok(mut seen) = record.lock() {
                                seen.push(text.clone());
                            }
                            break;
                        }
                    }
                }
                let body = r#"{"jsonrpc":"2.0","id":1,"result":{"bundleHash":"0xb0b"}}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _sent = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok((addr, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_go_to_every_relay_signed() -> anyhow::Result<()> {
    init_logs();
    let (relay_one, seen_one) = fake_relay().await?;
    let (relay_two, seen_two) = fake_relay().await?;
    let anvil = Anvil::start(1, Some(1.0))?;
    let mut fleet = TestFleet::start_with(1, FAILOVER).await?;
    let key = fleet.pki.root().join("relay.key");
    // anvil's second dev key: a well-known test key.
    std::fs::write(
        &key,
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d\n",
    )?;
    let gateway = fleet.add_executor_with(
        "host-a",
        "ethereum",
        &anvil,
        &format!(
            "relays = [\"http://{relay_one}\", \"http://{relay_two}\"]\nrelay_key = \"{}\"\n",
            key.display()
        ),
    )?;
    let accepted = wait_until("host-a to execute", DEFAULT_DEADLINE, || async {
        let answer = json_rpc(
            gateway,
            "eth_sendBundle",
            json!([{"txs": ["0x02f8"], "blockNumber": "0x10"}]),
        )
        .await
        .ok()?;
        answer.get("result").is_some().then_some(answer)
    })
    .await?;
    assert_eq!(accepted["result"]["bundleHash"], "0xb0b", "{accepted}");
    // A raw transaction goes to the node (which answers) and, as a private
    // transaction, to the relays.
    let raw = signed_transfer(node_addr(&anvil)?, 2).await?;
    let sent = json_rpc(gateway, "eth_sendRawTransaction", json!([raw])).await?;
    assert!(sent["result"].is_string(), "the node answers: {sent}");
    for seen in [&seen_one, &seen_two] {
        let requests = seen.lock().map(|s| s.clone()).unwrap_or_default();
        let last = requests
            .last()
            .ok_or_else(|| anyhow::anyhow!("the relay got nothing"))?;
        assert!(
            requests
                .iter()
                .any(|r| r.contains("eth_sendBundle") && r.contains("\"blockNumber\":\"0x10\"")),
            "{requests:?}"
        );
        assert!(
            last.contains("eth_sendPrivateTransaction") && last.contains(&raw),
            "{last}"
        );
        let signature = last
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("x-flashbots-signature:")
                    .map(|v| v.trim().to_owned())
            })
            .ok_or_else(|| anyhow::anyhow!("no X-Flashbots-Signature in {last}"))?;
        // The address of anvil's second dev key, then the signature.
        assert!(
            signature.starts_with("0x70997970c51812dc3a010c7d01b50e0d17dc79c8:0x"),
            "{signature}"
        );
    }
    fleet.stop().await
}

/// One JSON-RPC message over a WebSocket, and the next answer with its id
/// (notifications met on the way are returned too).
async fn ws_call(
    socket: &mut WsClient,
    id: u64,
    method: &str,
    params: Value,
) -> anyhow::Result<(Value, Vec<Value>)> {
    let request = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    socket
        .send(WsMessage::Text(request.to_string().into()))
        .await?;
    let mut notifications = Vec::new();
    loop {
        let message = tokio::time::timeout(DEFAULT_DEADLINE, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the gateway closed the WebSocket"))??;
        let WsMessage::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        if value["id"] == json!(id) {
            return Ok((value, notifications));
        }
        notifications.push(value);
    }
}

/// The next JSON message on `socket` that `wanted` accepts (others are
/// skipped), within the default deadline.
async fn next_matching(
    socket: &mut WsClient,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + DEFAULT_DEADLINE;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the gateway closed the WebSocket"))??;
        let WsMessage::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        if wanted(&value) {
            return Ok(value);
        }
    }
}

type WsClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_speaks_websocket_subscriptions_pass_and_writes_are_fenced(
) -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, epoch) = pair.executor(None).await?;
    let standby = other(&executor);
    first_accepted(pair.gateway(&executor)?).await?;

    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}", pair.gateway(&executor)?)).await?;
    // --- a subscription passes through: new heads arrive from the node
    let (subscribed, _) = ws_call(&mut socket, 1, "eth_subscribe", json!(["newHeads"])).await?;
    let subscription = subscribed["result"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no subscription: {subscribed}"))?
        .to_owned();
    let head = next_matching(&mut socket, |value| {
        value["params"]["subscription"] == subscription.as_str()
    })
    .await?;
    assert!(head["params"]["result"]["number"].is_string(), "{head}");

    // --- a write over the WebSocket is accepted on the executor and mined
    let (sent, _) = ws_call(
        &mut socket,
        2,
        "eth_sendTransaction",
        json!([{"from": DEV, "to": OTHER, "value": "0x1"}]),
    )
    .await?;
    let hash = sent["result"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the executor refused over WS: {sent}"))?
        .to_owned();
    let node = node_addr(pair.anvil(&executor)?)?;
    wait_until("the receipt", DEFAULT_DEADLINE, || async {
        let receipt = json_rpc(node, "eth_getTransactionReceipt", json!([hash]))
            .await
            .ok()?;
        (!receipt["result"].is_null()).then_some(())
    })
    .await?;

    // --- garbage gets a parse error and the connection goes on serving
    socket.send(WsMessage::Text("{not json".into())).await?;
    let parse_error = next_matching(&mut socket, |value| {
        value["id"].is_null() && value.get("error").is_some()
    })
    .await?;
    assert_eq!(error_code(&parse_error), Some(-32700), "{parse_error}");
    let (chain_id, _) = ws_call(&mut socket, 4, "eth_chainId", json!([])).await?;
    assert_eq!(chain_id["result"], "0x1", "{chain_id}");

    // --- the standby's WebSocket refuses the same write, naming the executor
    let (mut standby_socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}", pair.gateway(standby)?)).await?;
    let (refused, _) = ws_call(
        &mut standby_socket,
        1,
        "eth_sendTransaction",
        json!([{"from": DEV, "to": OTHER, "value": "0x1"}]),
    )
    .await?;
    assert_eq!(error_code(&refused), Some(-32001), "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&executor) && message.contains(&format!("epoch {epoch}")),
        "{message}"
    );
    pair.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drain_and_safe_mode_built_ins_move_the_role_and_stop_writes() -> anyhow::Result<()> {
    init_logs();
    let mut pair = Pair::start().await?;
    let (executor, _, _) = pair.ready().await?;
    let standby = other(&executor);

    // --- drain: the role moves away and the drained agent names the new executor
    let (code, stdout, stderr) = pair
        .fleet
        .cli(&["broadcast", "--target", &executor, "-o", "json", "drain"])
        .await?;
    assert_eq!(code, 0, "{stdout} {stderr}");
    let (now, _) = pair.executor(Some(&executor)).await?;
    assert_eq!(now, standby);
    first_accepted(pair.gateway(standby)?).await?;
    let refused = send(pair.gateway(&executor)?).await?;
    assert_eq!(error_code(&refused), Some(-32001), "{refused}");

    // --- undrained, the agent takes the role again when the new executor's node dies
    let (code, _, stderr) = pair
        .fleet
        .cli(&["broadcast", "--target", &executor, "drain", "off"])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    pair.anvil(standby)?.kill()?;
    let (back, _) = pair.executor(Some(standby)).await?;
    assert_eq!(back, executor);

    // --- safe-mode on: every write refused with -32002
    let (code, _, stderr) = pair
        .fleet
        .cli(&["broadcast", "--target", &executor, "safe-mode", "on"])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    let gateway = pair.gateway(&executor)?;
    wait_until(
        "-32002 after the safe-mode built-in",
        DEFAULT_DEADLINE,
        || async {
            let answer = send(gateway).await.ok()?;
            (error_code(&answer) == Some(-32002)).then_some(())
        },
    )
    .await?;
    let (code, stdout, _) = pair
        .fleet
        .cli(&[
            "broadcast",
            "--target",
            &executor,
            "-o",
            "json",
            "safe-mode",
            "maybe",
        ])
        .await?;
    assert_eq!(code, 1);
    assert!(stdout.contains("rejected"), "{stdout}");
    pair.fleet.stop().await
}

/// A heartbeat reporting a healthy ethereum node.
fn healthy_beat(seq: u64) -> mevfleet_common::wire::agent::AgentRequest {
    use mevfleet_common::chain::HealthState;
    use mevfleet_common::report::{ChainReport, ReportDelta};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    mevfleet_common::wire::agent::AgentRequest::Heartbeat {
        seq,
        delta: ReportDelta {
            chains: vec![ChainReport {
                chain: "ethereum".into(),
                state: HealthState::Healthy,
                head: Some(100 + seq),
                head_timestamp: Some(now),
                syncing: Some(false),
                peers: None,
                rpc_latency_us: Some(500),
                chain_id: Some(1),
                error: None,
            }],
            ..ReportDelta::default()
        },
        holding: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_executor_is_woken_through_its_order_feed() -> anyhow::Result<()> {
    a_new_executor_is_woken(Orders::Feed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_executor_is_woken_through_its_command_poll() -> anyhow::Result<()> {
    a_new_executor_is_woken(Orders::Poll).await
}

/// How a test agent waits for orders: the feed, or an older agent's poll.
#[derive(Clone, Copy, Debug)]
enum Orders {
    Feed,
    Poll,
}

/// An agent that becomes the executor is told to heartbeat at once
/// through what it waits for orders on.
async fn a_new_executor_is_woken(orders: Orders) -> anyhow::Result<()> {
    use mevfleet_common::wire::agent::{AgentRequest, AgentResponse};
    use mevfleet_common::wire::{call, subscribe, RpcLimits};
    init_logs();
    let mut fleet = TestFleet::start_with(3, FAILOVER).await?;
    let leader = fleet.leader().await?;
    let addr = fleet
        .members
        .get(&leader)
        .map(|m| m.quic)
        .ok_or_else(|| anyhow::anyhow!("no leader member"))?;
    let limits = RpcLimits {
        timeout: Duration::from_secs(60),
        ..RpcLimits::default()
    };
    let (conn, _endpoint) =
        mevfleet_tests::hello_as_agent(&fleet.pki, "host-x", addr, true, limits).await?;
    // A feed or poll held open from before the role exists; its first answer.
    let poll = {
        let conn = conn.clone();
        tokio::spawn(async move {
            match orders {
                Orders::Feed => {
                    let request = AgentRequest::OrderFeed { known: Vec::new() };
                    let mut feed = subscribe::<_, AgentResponse>(&conn, &request, limits).await?;
                    feed.next()
                        .await?
                        .ok_or_else(|| anyhow::anyhow!("the feed ended"))
                }
                Orders::Poll => {
                    let request = AgentRequest::Orders {
                        known: Vec::new(),
                        wait_ms: 20_000,
                    };
                    Ok(call::<_, AgentResponse>(&conn, &request, limits).await?)
                }
            }
        })
    };
    // Heartbeats until the poll answers: a healthy node, so the role comes here.
    let mut seq = 0;
    let mut beats = tokio::time::interval(Duration::from_millis(250));
    while !poll.is_finished() {
        beats.tick().await;
        seq += 1;
        call::<_, AgentResponse>(&conn, &healthy_beat(seq), limits).await?;
    }
    // A wake, not a poll running out its 20 s (a feed's 15 s) with no orders.
    let answer = poll.await??;
    assert_eq!(answer, AgentResponse::Wake, "{answer:?}");
    let (executor, _) = fleet
        .executor_of("ethereum", None, DEFAULT_DEADLINE)
        .await?;
    assert_eq!(executor, "host-x");
    fleet.stop().await
}
