//! t35 enroll: a new host joins with a one-time token. Real coordinator
//! processes (only members 2 and 3 hold the CA key), the real `mevfleet`
//! CLI making tokens, and the real `mevfleet-agent enroll`. A fresh token
//! enrolls once and the agent connects with its new certificate; a reused,
//! expired, forged or other fleet's token is refused with a message that
//! says which, and changes nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mevfleet_common::free_port::free_loopback_addr;
use mevfleet_common::join_token::JoinToken;
use mevfleet_tests::{bin_path, init_logs, wait_until, TestFleet, TestPki, DEFAULT_DEADLINE};
use serde_json::Value;

/// `mevfleet-agent enroll ARGS`: (exit code, stdout, stderr).
async fn enroll(args: &[&str]) -> anyhow::Result<(i32, String, String)> {
    let mut command = std::process::Command::new(bin_path("mevfleet-agent"));
    command.arg("enroll").args(args);
    let out = tokio::task::spawn_blocking(move || command.output()).await??;
    Ok((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// A fresh token from `mevfleet token create ARGS -o json`.
async fn create_token(fleet: &TestFleet, args: &[&str]) -> anyhow::Result<(String, u64)> {
    let mut all = vec!["token", "create"];
    all.extend(args);
    let created = fleet.cli_json(&all, &[]).await?;
    let token = created["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token in {created}"))?;
    let expires = created["expires_ms"].as_u64().unwrap_or_default();
    Ok((token.to_owned(), expires))
}

/// Enrolls `agent` with `token` into `<root>/<agent>`, listing member 1
/// (which holds no CA key) first.
async fn enroll_as(
    fleet: &TestFleet,
    token: &str,
    agent: &str,
    template: &Path,
) -> anyhow::Result<(i32, String, String)> {
    let dir = fleet.pki.root().join(format!("enrolled-{agent}"));
    let dir = dir.display().to_string();
    let template = template.display().to_string();
    enroll(&[
        "--token",
        token,
        "--coordinators",
        &fleet.coordinators(),
        "--dir",
        &dir,
        "--agent-id",
        agent,
        "--config-template",
        &template,
    ])
    .await
}

fn is_connected(agents: &Value, id: &str) -> bool {
    agents.as_array().is_some_and(|list| {
        list.iter()
            .any(|agent| agent["id"] == id && agent["connected"] == true)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_enrolls_one_agent_once_and_bad_tokens_are_refused_by_name() -> anyhow::Result<()> {
    init_logs();
    let mut fleet = TestFleet::start_configured(3, "", |id, pki| {
        if id == 1 {
            String::new()
        } else {
            format!(
                "[enrollment]\nca_key = \"{}\"\ncert_days = 30\n",
                pki.ca_key_path().display()
            )
        }
    })
    .await?;
    fleet.leader().await?;
    let http = free_loopback_addr()?;
    let template = fleet.pki.root().join("template.toml");
    std::fs::write(
        &template,
        format!(
            "# host template\ndata_dir = \"{}\"\nhttp = \"{http}\"\n[labels]\nrack = \"r1\"\n",
            fleet.pki.root().join("enrolled-data").display()
        ),
    )?;

    // --- an operator makes a token; the host enrolls, asking member 1
    // first (no CA key there, so it moves on to one that signs)
    let (token, _) = create_token(&fleet, &["--ttl", "10m", "--labels", "region=eu"]).await?;
    let (code, stdout, stderr) = enroll_as(&fleet, &token, "host-a", &template).await?;
    anyhow::ensure!(code == 0, "enroll exited {code}: {stderr}");
    assert!(stdout.contains("enrolled as agent host-a"), "{stdout}");
    let dir = fleet.pki.root().join("enrolled-host-a");
    let key_mode = std::fs::metadata(dir.join("host-a.key"))?
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    assert!(dir.join("ca.pem").exists() && dir.join("host-a.pem").exists());

    // --- the enrolled agent starts from the written config and connects
    // with its new certificate, carrying the token's labels
    fleet.start_agent("host-a", dir.join("agent.toml"), http)?;
    let agents = wait_until("host-a connected", DEFAULT_DEADLINE, || async {
        let agents = fleet.agents_json().await.ok()?;
        is_connected(&agents, "host-a").then_some(agents)
    })
    .await?;
    let host = agents
        .as_array()
        .and_then(|list| list.iter().find(|a| a["id"] == "host-a"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(host["labels"]["region"], "eu", "{host}");
    assert_eq!(host["labels"]["rack"], "r1", "{host}");

    // --- the same token again: refused, exit 1, naming who used it
    let (code, _, stderr) = enroll_as(&fleet, &token, "host-b", &template).await?;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("already used") && stderr.contains("host-a"),
        "{stderr}"
    );

    // --- a forged token: this fleet's id and CA, another secret
    let real: JoinToken = token.parse()?;
    let forged = real.with_secret([7u8; 32]).to_string();
    let (code, _, stderr) = enroll_as(&fleet, &forged, "host-b", &template).await?;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("secret is wrong"), "{stderr}");

    // --- a token never issued here
    let unknown = JoinToken::generate(fleet.pki.ca_der()?.as_ref()).to_string();
    let (code, _, stderr) = enroll_as(&fleet, &unknown, "host-b", &template).await?;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("never issued"), "{stderr}");

    // --- another fleet's token: no coordinator passes the CA pin, exit 3
    let other = TestPki::new()?;
    let foreign = JoinToken::generate(other.ca_der()?.as_ref()).to_string();
    let (code, _, stderr) = enroll_as(&fleet, &foreign, "host-b", &template).await?;
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("fingerprint"), "{stderr}");

    // --- an expired token: refused once the clock has passed its end
    let (short, expires_ms) = create_token(&fleet, &["--ttl", "1s"]).await?;
    wait_until("the token's end", DEFAULT_DEADLINE, || async {
        (mevfleet_common::utc::now_ms() > expires_ms + 100).then_some(())
    })
    .await?;
    let (code, _, stderr) = enroll_as(&fleet, &short, "host-b", &template).await?;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("expired"), "{stderr}");

    // --- a mangled token is bad usage: exit 2, nothing dialled
    let (code, _, stderr) = enroll_as(&fleet, "mvj1.abc", "host-b", &template).await?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("4 parts"), "{stderr}");

    // --- none of the refusals enrolled anyone; the list shows who used what
    assert!(!fleet.pki.root().join("enrolled-host-b/host-b.key").exists());
    let tokens = fleet.cli_json(&["token", "list"], &[]).await?;
    let used: Vec<&Value> = tokens
        .as_array()
        .map(|list| list.iter().filter(|t| !t["used_by"].is_null()).collect())
        .unwrap_or_default();
    assert_eq!(used.len(), 1, "{tokens}");
    assert_eq!(used[0]["used_by"], "host-a");
    assert!(!tokens.to_string().contains(&real.secret_hex()));

    // --- a viewer may not make tokens
    let viewer = fleet
        .pki
        .issue_dir(mevfleet_common::identity::Role::Viewer, "eve")?;
    let (code, _, stderr) = fleet.cli_as(&viewer, &["token", "create"]).await?;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("may not create join tokens"), "{stderr}");

    fleet.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn install_enrolls_an_agent_host_with_a_token() -> anyhow::Result<()> {
    init_logs();
    let mut fleet = TestFleet::start_configured(1, "", |_, pki| {
        format!(
            "[enrollment]\nca_key = \"{}\"\n",
            pki.ca_key_path().display()
        )
    })
    .await?;
    fleet.leader().await?;
    let (token, _) = create_token(&fleet, &["--ttl", "10m"]).await?;
    let bins = fleet.pki.root().join("bin");
    std::fs::create_dir_all(&bins)?;
    for name in ["mevfleet-agent", "mevfleet"] {
        std::fs::copy(bin_path(name), bins.join(name))?;
    }
    let root = fleet.pki.root().join("root");
    let repo = mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR"));
    let template = fleet.pki.root().join("host-template.toml");
    std::fs::write(
        &template,
        "# node host template\ndata_dir = \"/var/lib/mevfleet-agent\"\n[[chains]]\nname = \"ethereum\"\nrpc = \"http://127.0.0.1:8545\"\nmempool = false\n",
    )?;
    let install = |extra: &[&str]| {
        let mut command = std::process::Command::new("bash");
        command
            .arg(repo.join("scripts/install.sh"))
            .arg("--prefix")
            .arg(&root)
            .arg("--bin-dir")
            .arg(&bins)
            .arg("--config")
            .arg(&template)
            .args(extra);
        command
    };

    // --- install enrolls the host: key made here, config from the template
    let mut first = install(&[
        "--token",
        &token,
        "--coordinators",
        &fleet.coordinators(),
        "--agent-id",
        "host-p",
    ]);
    let out = tokio::task::spawn_blocking(move || first.output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(out.status.success(), "install failed: {stderr}");
    let config = root.join("etc/mevfleet/agent.toml");
    let text = std::fs::read_to_string(&config)?;
    assert!(text.contains("agent_id = \"host-p\""), "{text}");
    assert!(
        text.contains("[[chains]]"),
        "the template's chains are kept: {text}"
    );
    let key = root.join("etc/mevfleet/tls-agent/host-p.key");
    assert_eq!(std::fs::metadata(&key)?.permissions().mode() & 0o777, 0o600);

    // --- the installed agent's config and credentials pass its own check
    let check = std::process::Command::new(root.join("usr/local/bin/mevfleet-agent"))
        .arg("--config")
        .arg(&config)
        .arg("--check-config")
        .output()?;
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // --- again: the host is enrolled already, so nothing is asked of the
    // (now used) token and nothing changes
    let mut again = install(&["--token", &token, "--coordinators", &fleet.coordinators()]);
    let out = tokio::task::spawn_blocking(move || again.output()).await??;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("keeping the existing"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&config)?, text);

    // --- a token with --creds, or without coordinators, is bad usage
    for extra in [
        vec!["--token", token.as_str(), "--creds", "/tmp"],
        vec!["--token", token.as_str()],
    ] {
        let mut bad = install(&extra);
        let out = tokio::task::spawn_blocking(move || bad.output()).await??;
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
    fleet.stop().await?;
    Ok(())
}
