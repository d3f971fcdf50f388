//! CoordinatorConfig parsing and validation: the good path, the shipped
//! example, and a table of bad files with the key and message each must give.

use std::path::Path;

use mevfleet_common::config_file::{parse, ConfigError};

use super::*;

const MINIMAL: &str = r#"
node_id = 1
[peers]
1 = "10.0.0.11:7400"
2 = "10.0.0.12:7400"
3 = "10.0.0.13:7400"
[tls]
ca = "/etc/mevfleet/ca.pem"
cert = "/etc/mevfleet/coord-1.pem"
key = "/etc/mevfleet/coord-1.key"
"#;

fn parse_coordinator(text: &str) -> Result<ValidCoordinatorConfig, ConfigError> {
    parse::<CoordinatorConfig>(Path::new("coordinator.toml"), text)
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
    let valid = parse_coordinator(MINIMAL).expect("valid");
    assert_eq!(
        valid.peers.keys().copied().collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(valid.lease(), Duration::from_millis(3000));
    assert_eq!(valid.heartbeat(), Duration::from_millis(250));
    assert_eq!(valid.config.http, SocketAddr::from(([127, 0, 0, 1], 8082)));
    assert_eq!(valid.config.alerts, AlertsConfig::default());
    assert_eq!(valid.config.raft_listen, None, "Raft's port is a free one");
}

#[test]
fn raft_listen_takes_a_port_of_its_own() {
    let valid = parse_coordinator(&top("raft_listen = \"0.0.0.0:7401\"")).expect("valid");
    assert_eq!(
        valid.config.raft_listen,
        Some(SocketAddr::from(([0, 0, 0, 0], 7401)))
    );
    let other_address = top("listen = \"10.0.0.11:7400\"\nraft_listen = \"127.0.0.1:7400\"");
    assert!(
        parse_coordinator(&other_address).is_ok(),
        "the same port on another address is a port of its own"
    );
}

#[test]
fn chain_policies_resolve_known_and_explicit_chains() {
    let valid = parse_coordinator(&with(
        "[chains.ethereum]\nlag_blocks = 2\n[chains.devnet]\nchain_id = 31337\nblock_time_ms = 500\n",
    ))
    .expect("valid");
    assert_eq!(valid.chains["ethereum"].chain_id, 1);
    assert_eq!(valid.chains["ethereum"].config.lag_blocks, 2);
    assert_eq!(
        valid.chains["devnet"].block_time,
        Duration::from_millis(500)
    );
}

#[test]
fn the_shipped_example_is_valid() {
    let path = mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/coordinator.example.toml");
    mevfleet_common::config_file::load::<CoordinatorConfig>(&path)
        .expect("deploy/coordinator.example.toml is valid");
}

#[test]
fn bad_files_name_the_key_and_what_was_expected() {
    let cases: Vec<(String, &str, &str)> = vec![
        (top("raft_port = 1"), "key `raft_port`", "unknown field"),
        (
            with("[failover]\nlease_ms = 2000\nheartbeat_ms = 250\nfencing = true"),
            "failover",
            "unknown field `fencing`",
        ),
        (MINIMAL.replace("node_id = 1", ""), "node_id", "is required"),
        (
            MINIMAL.replace("node_id = 1", "node_id = 4"),
            "peers",
            "node_id 4 is not among the peers (1, 2, 3)",
        ),
        (
            MINIMAL.replace("node_id = 1", "node_id = \"one\""),
            "node_id",
            "invalid type",
        ),
        (
            top("listen = \"0.0.0.0\""),
            "listen",
            "invalid socket address",
        ),
        (
            top("raft_listen = \"0.0.0.0\""),
            "raft_listen",
            "invalid socket address",
        ),
        (
            top("raft_listen = \"0.0.0.0:7400\""),
            "raft_listen",
            "must not be the QUIC port `listen` (0.0.0.0:7400)",
        ),
        (
            top("http = \"localhost:8082\""),
            "http",
            "invalid socket address",
        ),
        (
            MINIMAL.replace("2 = \"10.0.0.12:7400\"", "2 = \"10.0.0.12\""),
            "peers.2",
            "expected host:port",
        ),
        (
            MINIMAL.replace("2 = \"10.0.0.12:7400\"", "two = \"10.0.0.12:7400\""),
            "peers.two",
            "positive integers",
        ),
        (
            with("[failover]\nlease_ms = 2000\nheartbeat_ms = 2000"),
            "failover.heartbeat_ms",
            "must be shorter than the lease",
        ),
        (
            with("[failover]\nlease_ms = 500\nheartbeat_ms = 300"),
            "failover.heartbeat_ms",
            "at most half",
        ),
        (
            with("[failover]\nheartbeat_ms = 250\nagent_lost_ms = 400"),
            "failover.agent_lost_ms",
            "at least two heartbeats",
        ),
        (
            with("[[http_tokens]]\nname = \"ops\"\nrole = \"operator\"\nsha256 = \"op-token\""),
            "http_tokens[0].sha256",
            "64 hex digits",
        ),
        (
            with("[[http_tokens]]\nname = \"ops\"\nrole = \"root\"\nsha256 = \"2b2577f455616d63bbcb76676b219056860f972a5c38cc4fc33bec3f23e20561\""),
            "http_tokens[0].role",
            "not admin, operator or viewer",
        ),
        (
            with("[failover]\nleader_grace_ms = -1"),
            "failover.leader_grace_ms",
            "invalid value",
        ),
        (
            with("[failover]\nlease_ms = 10"),
            "failover.lease_ms",
            "out of range",
        ),
        (
            with("[alerts]\nmin_success_rate = 50"),
            "alerts.min_success_rate",
            "expected 0 to 1",
        ),
        (
            with("[alerts]\ndisk_percent = 101"),
            "alerts.disk_percent",
            "out of range",
        ),
        (
            with("[routine]\nwindows = [\"00:00-02:00\", \"2am-4am\"]"),
            "routine.windows[1]",
            "expected HH:MM-HH:MM",
        ),
        (
            with("[routine]\n[[routine.jobs]]\naction = \"rotate-logs\"\nevery_h = 0"),
            "routine.jobs[0].every_h",
            "out of range",
        ),
        (
            with("[[routine.jobs]]\naction = \"rotate-logs\"\nevery_h = 24\ntarget = \"a,b=c\""),
            "routine.jobs[0].target",
            "mixed",
        ),
        (
            with("[chains.solana]\nlag_blocks = 2"),
            "chains.solana.chain_id",
            "not a known chain",
        ),
        (
            with("[chains.base]\nchain_id = 1"),
            "chains.base.chain_id",
            "has chain id 8453",
        ),
        (
            MINIMAL.replace("cert = \"/etc/mevfleet/coord-1.pem\"", ""),
            "tls.cert",
            "is required",
        ),
    ];
    for (text, key, message) in cases {
        let err = parse_coordinator(&text).expect_err(key).to_string();
        assert!(err.starts_with("config coordinator.toml"), "{key}: {err}");
        assert!(err.contains(key), "expected key {key} in: {err}");
        assert!(err.contains(message), "expected '{message}' in: {err}");
    }
}
