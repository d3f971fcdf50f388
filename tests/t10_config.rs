//! t10 config: the real binaries refuse bad config files with exit code 2
//! and a message naming the file, the key and what was expected, before any
//! port is bound.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;

use mevfleet_common::identity::Role;
use mevfleet_tests::{bin_path, TestPki};

struct Fixture {
    pki: TestPki,
    coordinator: PathBuf,
    agent: PathBuf,
}

impl Fixture {
    fn new() -> anyhow::Result<Self> {
        let pki = TestPki::new()?;
        let coordinator = pki.issue_dir(Role::Coordinator, "coord-1")?;
        let agent = pki.issue_dir(Role::Agent, "host-a")?;
        Ok(Self {
            pki,
            coordinator,
            agent,
        })
    }

    /// A coordinator config; `extra` holds top-level keys or whole tables
    /// (written before `[tls]` so top-level keys stay top-level).
    fn coordinator_toml(&self, listen: &str, extra: &str) -> String {
        let dir = &self.coordinator;
        format!(
            "node_id = 1\ndata_dir = \"{data}\"\nlisten = \"{listen}\"\n{extra}\n[tls]\nca = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n",
            data = self.pki.root().join("data").display(),
            ca = dir.join("ca.pem").display(),
            cert = dir.join("coord-1.pem").display(),
            key = dir.join("coord-1.key").display(),
        )
    }

    fn agent_toml(&self, agent_id: &str, extra: &str) -> String {
        let dir = &self.agent;
        format!(
            "agent_id = \"{agent_id}\"\ncoordinators = [\"127.0.0.1:7400\"]\ndata_dir = \"{data}\"\n{extra}\n[tls]\nca = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n",
            data = self.pki.root().join("agent-data").display(),
            ca = dir.join("ca.pem").display(),
            cert = dir.join("host-a.pem").display(),
            key = dir.join("host-a.key").display(),
        )
    }

    fn write(&self, name: &str, text: &str) -> anyhow::Result<PathBuf> {
        let path = self.pki.root().join(name);
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// Runs `binary --config path` and returns (exit code, stderr).
fn run(binary: &str, config: &Path, extra: &[&str]) -> anyhow::Result<(Option<i32>, String)> {
    let out = Command::new(bin_path(binary))
        .arg("--config")
        .arg(config)
        .args(extra)
        .output()?;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

#[test]
fn the_coordinator_refuses_each_bad_config_with_exit_2_before_binding() -> anyhow::Result<()> {
    let fixture = Fixture::new()?;
    // A port we hold: a coordinator that got past config checking would
    // fail to bind it with a different message (and exit 1, not 2).
    let held = UdpSocket::bind("127.0.0.1:0")?;
    let listen = held.local_addr()?.to_string();
    let cases = [
        (
            "unknown key",
            fixture.coordinator_toml(&listen, "raft_port = 7401"),
            "key `raft_port`",
            "unknown field `raft_port`",
        ),
        (
            "bad address",
            fixture.coordinator_toml("0.0.0.0", ""),
            "key `listen`",
            "invalid socket address",
        ),
        (
            "bad peer address",
            fixture.coordinator_toml(&listen, "[peers]\n1 = \"10.0.0.1\""),
            "key `peers.1`",
            "expected host:port",
        ),
        (
            "heartbeat not shorter than the lease",
            fixture.coordinator_toml(&listen, "[failover]\nlease_ms = 1000\nheartbeat_ms = 1000"),
            "key `failover.heartbeat_ms`",
            "must be shorter than the lease",
        ),
        (
            "an enrollment key that is not the CA's",
            fixture.coordinator_toml(
                &listen,
                &format!(
                    "[enrollment]\nca_key = \"{}\"",
                    fixture.coordinator.join("coord-1.key").display()
                ),
            ),
            "key `enrollment.ca_key`",
            "not the CA certificate's key",
        ),
        (
            "a missing enrollment key",
            fixture.coordinator_toml(&listen, "[enrollment]\nca_key = \"/nonexistent/ca.key\""),
            "key `enrollment.ca_key`",
            "No such file",
        ),
        (
            "certificates valid for no days",
            fixture.coordinator_toml(&listen, "[enrollment]\ncert_days = 0"),
            "key `enrollment.cert_days`",
            "expected 1 to 3650",
        ),
        ("not TOML", "node_id = = 1".to_owned(), "line 1", "expected"),
    ];
    for (what, text, key, message) in cases {
        let path = fixture.write("coordinator.toml", &text)?;
        let (code, stderr) = run("mevfleet-coordinator", &path, &[])?;
        assert_eq!(code, Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("config {}", path.display())),
            "{what}: names the file: {stderr}"
        );
        assert!(stderr.contains(key), "{what}: names {key}: {stderr}");
        assert!(
            stderr.contains(message),
            "{what}: says '{message}': {stderr}"
        );
    }
    // --- a missing file is named too
    let (code, stderr) = run(
        "mevfleet-coordinator",
        &fixture.pki.root().join("nope.toml"),
        &[],
    )?;
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("nope.toml") && stderr.contains("cannot read"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn the_coordinator_refuses_credentials_of_another_role() -> anyhow::Result<()> {
    let fixture = Fixture::new()?;
    let text = fixture
        .coordinator_toml("127.0.0.1:0", "")
        .replace(
            &fixture
                .coordinator
                .join("coord-1.pem")
                .display()
                .to_string(),
            &fixture.agent.join("host-a.pem").display().to_string(),
        )
        .replace(
            &fixture
                .coordinator
                .join("coord-1.key")
                .display()
                .to_string(),
            &fixture.agent.join("host-a.key").display().to_string(),
        );
    let path = fixture.write("coordinator.toml", &text)?;
    let (code, stderr) = run("mevfleet-coordinator", &path, &[])?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("key `tls.cert`") && stderr.contains("expected role coordinator"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn the_agent_refuses_each_bad_config_with_exit_2() -> anyhow::Result<()> {
    let fixture = Fixture::new()?;
    let cases = [
        (
            "unknown key",
            fixture.agent_toml("host-a", "colour = \"blue\""),
            "key `colour`",
            "unknown field `colour`",
        ),
        (
            "bad coordinator address",
            fixture
                .agent_toml("host-a", "")
                .replace("127.0.0.1:7400", "127.0.0.1"),
            "key `coordinators",
            "expected host:port",
        ),
        (
            "bad http address",
            fixture.agent_toml("host-a", "http = \"localhost\""),
            "key `http`",
            "invalid socket address",
        ),
        (
            "unknown chain without an id",
            fixture.agent_toml(
                "host-a",
                "[[chains]]\nname = \"devnet\"\nrpc = \"http://127.0.0.1:8545\"",
            ),
            "key `chains[0].chain_id`",
            "not a known chain",
        ),
        (
            "relay key file missing",
            fixture.agent_toml("host-a", "relay_key = \"/nonexistent/relay.key\""),
            "key `relay_key`",
            "No such file",
        ),
        (
            "relay key that is not a key",
            fixture.agent_toml(
                "host-a",
                &format!("relay_key = \"{}\"", fixture.agent.join("ca.pem").display()),
            ),
            "key `relay_key`",
            "not a hex private key",
        ),
        (
            "certificate of another host",
            fixture.agent_toml("host-b", ""),
            "key `tls.cert`",
            "certificate for `host-a` but this member is `host-b`",
        ),
    ];
    for (what, text, key, message) in cases {
        let path = fixture.write("agent.toml", &text)?;
        let (code, stderr) = run("mevfleet-agent", &path, &[])?;
        assert_eq!(code, Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("config {}", path.display())),
            "{what}: names the file: {stderr}"
        );
        assert!(stderr.contains(key), "{what}: names {key}: {stderr}");
        assert!(
            stderr.contains(message),
            "{what}: says '{message}': {stderr}"
        );
    }
    Ok(())
}

#[test]
fn check_config_accepts_a_good_file_and_exits_0() -> anyhow::Result<()> {
    let fixture = Fixture::new()?;
    let coordinator = fixture.write(
        "coordinator.toml",
        &fixture.coordinator_toml("127.0.0.1:7400", ""),
    )?;
    let out = Command::new(bin_path("mevfleet-coordinator"))
        .arg("--config")
        .arg(&coordinator)
        .arg("--check-config")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
    let agent = fixture.write("agent.toml", &fixture.agent_toml("host-a", ""))?;
    let out = Command::new(bin_path("mevfleet-agent"))
        .arg("--config")
        .arg(&agent)
        .arg("--check-config")
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
