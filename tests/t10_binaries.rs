//! t10 binaries: `mevfleet ca init|issue` write files that a real
//! `mevfleet-coordinator` and a real `mevfleet-agent` load; the agent
//! connects, the CLI pings, and both processes stop cleanly on SIGTERM.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mevfleet_tests::{bin_path, free_ports, wait_until, ChildProcess, DEFAULT_DEADLINE};

fn mevfleet(args: &[&str]) -> anyhow::Result<std::process::Output> {
    Ok(Command::new(bin_path("mevfleet"))
        .args(args)
        .env_remove("MEVFLEET_COORDINATORS")
        .env_remove("MEVFLEET_CREDS")
        .output()?)
}

fn mode(path: &Path) -> anyhow::Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn ca_init_and_issue_write_files_with_safe_modes_and_never_overwrite_silently() -> anyhow::Result<()>
{
    let root = tempfile::tempdir()?;
    let ca = root.path().join("ca");
    let ca_dir = path_str(&ca);

    // --- a new CA: public certificate, private key 0600
    let out = mevfleet(&["ca", "init", "--dir", &ca_dir])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(&ca.join("ca.key"))?, 0o600);
    assert_eq!(mode(&ca.join("ca.pem"))?, 0o644);
    let first = std::fs::read_to_string(ca.join("ca.pem"))?;

    // --- a second init refuses, naming the file and the flag
    let out = mevfleet(&["ca", "init", "--dir", &ca_dir])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("ca.pem") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(ca.join("ca.pem"))?,
        first,
        "nothing changed"
    );

    // --- --force replaces it
    assert!(mevfleet(&["ca", "init", "--dir", &ca_dir, "--force"])?
        .status
        .success());
    assert_ne!(std::fs::read_to_string(ca.join("ca.pem"))?, first);

    // --- issue into a separate folder: a complete credentials folder
    let out_dir = root.path().join("host-a");
    let out = mevfleet(&[
        "ca",
        "issue",
        "--dir",
        &ca_dir,
        "--role",
        "agent",
        "--name",
        "host-a",
        "--out",
        &path_str(&out_dir),
        "-o",
        "json",
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(
        written["files"].as_array().map(Vec::len),
        Some(3),
        "{written}"
    );
    assert_eq!(mode(&out_dir.join("host-a.key"))?, 0o600);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("ca.pem"))?,
        std::fs::read_to_string(ca.join("ca.pem"))?
    );

    // --- issuing the same name again refuses without --force
    let again = mevfleet(&[
        "ca",
        "issue",
        "--dir",
        &ca_dir,
        "--role",
        "agent",
        "--name",
        "host-a",
        "--out",
        &path_str(&out_dir),
    ])?;
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("host-a"));

    // --- issuing without a CA says which file is missing
    let missing = mevfleet(&[
        "ca",
        "issue",
        "--dir",
        &path_str(&root.path().join("nope")),
        "--role",
        "viewer",
        "--name",
        "bob",
    ])?;
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("ca.pem"));
    Ok(())
}

#[tokio::test]
async fn issued_files_run_a_coordinator_and_an_agent_that_connect_and_stop_cleanly(
) -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let dir = |name: &str| root.path().join(name);
    let ca_dir = path_str(&dir("ca"));
    for args in [
        vec!["ca", "init", "--dir", &ca_dir],
        vec![
            "ca",
            "issue",
            "--dir",
            &ca_dir,
            "--role",
            "coordinator",
            "--name",
            "coord-1",
        ],
        vec![
            "ca", "issue", "--dir", &ca_dir, "--role", "agent", "--name", "host-a", "--out",
            "AGENT",
        ],
        vec![
            "ca", "issue", "--dir", &ca_dir, "--role", "operator", "--name", "alice", "--out",
            "OPERATOR",
        ],
    ] {
        let args: Vec<String> = args
            .iter()
            .map(|a| match *a {
                "AGENT" => path_str(&dir("agent")),
                "OPERATOR" => path_str(&dir("operator")),
                other => other.to_owned(),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = mevfleet(&args)?;
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // --- a one-member cluster from a config file, logging JSON
    let (quic, http) = free_ports()?;
    let coordinator_toml = dir("coordinator.toml");
    std::fs::write(
        &coordinator_toml,
        format!(
            "node_id = 1\ndata_dir = \"{data}\"\nlisten = \"{quic}\"\nhttp = \"{http}\"\n[peers]\n1 = \"{quic}\"\n[tls]\nca = \"{ca}/ca.pem\"\ncert = \"{ca}/coord-1.pem\"\nkey = \"{ca}/coord-1.key\"\n",
            data = path_str(&dir("coordinator-data")),
            ca = ca_dir
        ),
    )?;
    let mut command = Command::new(bin_path("mevfleet-coordinator"));
    command
        .arg("--config")
        .arg(&coordinator_toml)
        .args(["--log-format", "json"]);
    let mut coordinator = ChildProcess::spawn(command)?;
    coordinator
        .wait_for_log("coordinator starting", DEFAULT_DEADLINE)
        .await?;
    let listen = coordinator
        .stderr()
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|entry| entry["message"] == "coordinator starting")
        .and_then(|entry| entry["listen"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no JSON start line with `listen`:\n{}",
                coordinator.stderr()
            )
        })?;

    // --- an agent from a config file connects and is welcomed
    let agent_toml = dir("agent.toml");
    let agent_dir = dir("agent");
    std::fs::write(
        &agent_toml,
        format!(
            "agent_id = \"host-a\"\ncoordinators = [\"{listen}\"]\ndata_dir = \"{data}\"\nhttp = \"127.0.0.1:0\"\n[tls]\nca = \"{a}/ca.pem\"\ncert = \"{a}/host-a.pem\"\nkey = \"{a}/host-a.key\"\n",
            data = path_str(&dir("agent-data")),
            a = path_str(&agent_dir)
        ),
    )?;
    let mut command = Command::new(bin_path("mevfleet-agent"));
    command.arg("--config").arg(&agent_toml);
    let mut agent = ChildProcess::spawn(command)?;
    agent
        .wait_for_log("registered with the leader", DEFAULT_DEADLINE)
        .await?;
    coordinator
        .wait_for_log("agent said hello", DEFAULT_DEADLINE)
        .await?;

    // --- the operator's credentials reach the coordinator
    let operator = path_str(&dir("operator"));
    let out = tokio::task::spawn_blocking(move || {
        mevfleet(&[
            "--coordinators",
            &listen,
            "--creds",
            &operator,
            "ping",
            "-o",
            "json",
        ])
    })
    .await??;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    assert_eq!(rows[0]["you"], "operator alice", "{rows}");
    assert_eq!(rows[0]["server"], "coordinator coord-1", "{rows}");
    assert_eq!(rows[0]["node_id"], 1, "{rows}");

    // --- SIGTERM stops both cleanly (exit 0)
    let status = agent.terminate(DEFAULT_DEADLINE).await?;
    assert!(status.success(), "agent exit {status}: {}", agent.stderr());
    assert!(agent.stderr().contains("agent stopped"));
    let status = coordinator.terminate(DEFAULT_DEADLINE).await?;
    assert!(
        status.success(),
        "coordinator exit {status}: {}",
        coordinator.stderr()
    );
    wait_until(
        "the coordinator's last log line",
        Duration::from_secs(5),
        || async {
            coordinator
                .stderr()
                .contains("coordinator stopped")
                .then_some(())
        },
    )
    .await?;
    Ok(())
}
