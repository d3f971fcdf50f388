//! AgentConfig parsing and validation: the good path, the shipped example,
//! and a table of bad files with the key and message each must produce.

use std::path::Path;

use mevfleet_common::config_file::{parse, ConfigError};

use super::*;

const MINIMAL: &str = r#"
agent_id = "host-a"
coordinators = ["10.0.0.1:7400", "coord-2.internal:7400"]
[tls]
ca = "/etc/mevfleet/ca.pem"
cert = "/etc/mevfleet/host-a.pem"
key = "/etc/mevfleet/host-a.key"
"#;

fn parse_agent(text: &str) -> Result<ValidAgentConfig, ConfigError> {
    parse::<AgentConfig>(Path::new("agent.toml"), text)
}

fn with(extra: &str) -> String {
    format!("{MINIMAL}\n{extra}")
}

/// Top-level keys go before the first table.
fn top(extra: &str) -> String {
    format!("{extra}\n{MINIMAL}")
}

#[test]
fn a_minimal_file_takes_the_defaults() {
    let valid = parse_agent(MINIMAL).expect("valid");
    assert_eq!(valid.config.agent_id, "host-a");
    assert_eq!(valid.config.coordinators.len(), 2);
    assert_eq!(valid.config.http, AgentConfig::default().http);
    assert!(valid.chains.is_empty());
}

#[test]
fn known_chains_resolve_their_id_block_time_and_mempool_default() {
    let valid = parse_agent(&with(
        r#"
[[chains]]
name = "ethereum"
rpc = "http://127.0.0.1:8545"
ws = "ws://127.0.0.1:8546"
gateway = "127.0.0.1:18545"
execute = true

[[chains]]
name = "arbitrum"
rpc = "http://127.0.0.1:8547"

[[chains]]
name = "devnet"
chain_id = 31337
block_time_ms = 500
rpc = "http://127.0.0.1:9545"
"#,
    ))
    .expect("valid");
    let summary: Vec<(u64, u128, bool)> = valid
        .chains
        .iter()
        .map(|c| (c.chain_id, c.block_time.as_millis(), c.mempool))
        .collect();
    assert_eq!(
        summary,
        vec![(1, 12_000, true), (42161, 250, false), (31337, 500, false)]
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let path = mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/agent.example.toml");
    mevfleet_common::config_file::load::<AgentConfig>(&path)
        .expect("deploy/agent.example.toml is valid");
}

#[test]
fn bad_files_name_the_key_and_what_was_expected() {
    let chain = |body: &str| with(&format!("[[chains]]\n{body}"));
    let cases: Vec<(String, &str, &str)> = vec![
        (top("colour = \"blue\""), "key `colour`", "unknown field"),
        (MINIMAL.replace("agent_id = \"host-a\"", ""), "agent_id", "is required"),
        (MINIMAL.replace("host-a\"\ncoord", "Host_A\"\ncoord"), "agent_id", "invalid name"),
        (MINIMAL.replace("\"10.0.0.1:7400\", ", ""). replace("\"coord-2.internal:7400\"", ""), "coordinators", "at least one"),
        (MINIMAL.replace("10.0.0.1:7400", "10.0.0.1"), "coordinators", "expected host:port"),
        (top("http = \"localhost\""), "http", "invalid socket address"),
        (MINIMAL.replace("key = \"/etc/mevfleet/host-a.key\"", ""), "tls.key", "is required"),
        (with("[labels]\nregion = \"eu,us\""), "labels.region", "1 to 63 characters"),
        (chain("name = \"solana\"\nrpc = \"http://x:1\""), "chains[0].chain_id", "not a known chain"),
        (chain("name = \"ethereum\"\nchain_id = 5\nrpc = \"http://x:1\"\nmempool = false"), "chains[0].chain_id", "has chain id 1"),
        (chain("name = \"arbitrum\"\nrpc = \"ftp://x:1\""), "chains[0].rpc", "expected http or https"),
        (chain("name = \"arbitrum\"\nrpc = \"not a url\""), "chains[0].rpc", "relative URL"),
        (chain("name = \"arbitrum\"\nrpc = \"http://x:1\"\nexecute = true"), "chains[0].execute", "needs a `gateway`"),
        (chain("name = \"ethereum\"\nrpc = \"http://x:1\""), "chains[0].ws", "needs a `ws` URL"),
        (
            with("[[chains]]\nname = \"base\"\nrpc = \"http://x:1\"\n[[chains]]\nname = \"base\"\nrpc = \"http://y:1\""),
            "chains[1].name",
            "listed twice",
        ),
        (
            with("[[chains]]\nname = \"base\"\nrpc = \"http://x:1\"\ngateway = \"127.0.0.1:1\"\n[[chains]]\nname = \"arbitrum\"\nrpc = \"http://y:1\"\ngateway = \"127.0.0.1:1\""),
            "chains[1].gateway",
            "used by another chain",
        ),
        (with("[[services]]\nunit = \"erigon; rm -rf /\""), "services[0].unit", "not a systemd unit"),
        (with("[[services]]\nunit = \"erigon.service\"\nchain = \"base\""), "services[0].chain", "not one of this agent's"),
        (with("[mev_boost]\nurl = \"ws://127.0.0.1:18550\""), "mev_boost.url", "expected http or https"),
        (with("[mev_boost]\nurl = \"http://127.0.0.1:18550\"\nrelays = [\"relay.example\"]"), "mev_boost.relays", "relative URL"),
        (with("[mev_boost]\nurl = \"http://127.0.0.1:18550\"\nrelays = [\"ftp://relay.example\"]"), "mev_boost.relays[0]", "expected http or https"),
        (with("[probe]\ninterval_ms = 5"), "probe.interval_ms", "out of range"),
        (chain("name = \"base\"\nrpc = \"http://x:1\"\nrelays = [\"ws://relay:1\"]"), "chains[0].relays[0]", "expected http or https"),
        (with("[probe]\nfailures_before_down = 0"), "probe.failures_before_down", "out of range"),
        (with("[probe]\ndisks = [\"data\"]"), "probe.disks[0]", "absolute path"),
        (with("[probe]\nintervall_ms = 100"), "probe", "unknown field `intervall_ms`"),
        (with("[actions.drain]\ncommand = [\"true\"]"), "actions.drain", "built-in action"),
        (with("[actions.restart-erigon]\ncommand = []"), "actions.restart-erigon.command", "is required"),
        (with("[actions.restart-erigon]\ncommand = [\"systemctl\"]\ntimeout_s = 0"), "actions.restart-erigon.timeout_s", "out of range"),
        (with("[actions.x]\ncommand = \"systemctl restart erigon\""), "actions.x.command", "invalid type"),
        (with("[mempool]\nhigh_value_eth = -1.0"), "mempool.high_value_eth", "non-negative"),
        (with("[mempool]\nwatch = [\"0x12\"]"), "mempool.watch[0]", "not an address"),
        (with("[mempool]\nsilence_timeout_ms = 1"), "mempool.silence_timeout_ms", "out of range"),
        (with("[mempool]\ndedup_ttl = 5"), "mempool", "unknown field `dedup_ttl`"),
    ];
    for (text, key, message) in cases {
        let err = parse_agent(&text).expect_err(key).to_string();
        assert!(err.starts_with("config agent.toml"), "{key}: {err}");
        assert!(err.contains(key), "expected key {key} in: {err}");
        assert!(err.contains(message), "expected '{message}' in: {err}");
    }
}
