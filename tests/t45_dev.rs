//! t45 dev: `mevfleet dev` brings a whole fleet up on this machine (three
//! coordinators, two agents, an anvil per agent and chain), `mevfleet
//! agents` against it lists both agents healthy, and Ctrl-C stops every
//! process it started.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mevfleet_tests::{bin_path, init_logs, wait_until};
use serde_json::Value;

fn anvil() -> PathBuf {
    mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR")).join(".tools/anvil")
}

fn env_value(env: &str, key: &str) -> anyhow::Result<String> {
    env.lines()
        .find_map(|line| line.strip_prefix(&format!("export {key}=\"")))
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no {key} in env.sh:\n{env}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mevfleet_dev_brings_up_a_healthy_fleet_and_stops_it_on_ctrl_c() -> anyhow::Result<()> {
    init_logs();
    let dir = tempfile::tempdir()?;
    let mut dev = Command::new(bin_path("mevfleet"))
        .args(["dev", "--chains", "ethereum,base", "--dir"])
        .arg(dir.path())
        .arg("--anvil")
        .arg(anvil())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = dev.stdout.take().ok_or_else(|| anyhow::anyhow!("stdout"))?;
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    // --- it says ready, with a tour naming every process
    let mut tour = Vec::new();
    let ready = loop {
        match rx.recv_timeout(Duration::from_secs(150)) {
            Ok(line) if line == "mevfleet dev: ready" => break true,
            Ok(line) => tour.push(line),
            Err(_) => break false,
        }
    };
    let tour = tour.join("\n");
    if !ready {
        // The folder goes with the test: show the processes' logs now.
        let mut logs = String::new();
        for entry in std::fs::read_dir(dir.path().join("logs"))?.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            logs.push_str(&format!("\n--- {}\n", entry.path().display()));
            for line in tail.into_iter().rev() {
                logs.push_str(line);
                logs.push('\n');
            }
        }
        anyhow::bail!("mevfleet dev never said ready; it printed:\n{tour}\nlogs:{logs}");
    }
    assert!(
        tour.contains("mevfleet agents") && tour.contains("kill -9"),
        "{tour}"
    );
    let pids: Vec<u32> = tour
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "pid")
        .filter_map(|w| w[1].parse().ok())
        .collect();
    assert_eq!(pids.len(), 3 + 2 + 4, "{tour}");

    // --- the CLI, pointed at it by env.sh, lists both agents healthy
    let env = std::fs::read_to_string(dir.path().join("env.sh"))?;
    let out = Command::new(bin_path("mevfleet"))
        .args(["agents", "-o", "json"])
        .env(
            "MEVFLEET_COORDINATORS",
            env_value(&env, "MEVFLEET_COORDINATORS")?,
        )
        .env("MEVFLEET_CREDS", env_value(&env, "MEVFLEET_CREDS")?)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let agents: Value = serde_json::from_slice(&out.stdout)?;
    let ids: Vec<&str> = agents
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["host-a", "host-b"]);
    for agent in agents.as_array().into_iter().flatten() {
        assert_eq!(agent["connected"], true, "{agent}");
        let states: Vec<&str> = agent["chains"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["state"].as_str())
            .collect();
        assert_eq!(states, vec!["healthy", "healthy"], "{agent}");
    }

    // --- Ctrl-C stops it and everything it started
    Command::new("kill")
        .args(["-INT", &dev.id().to_string()])
        .status()?;
    let status = wait_until("mevfleet dev to exit", Duration::from_secs(60), || {
        let status = dev.try_wait().ok().flatten();
        async move { status }
    })
    .await?;
    assert!(status.success(), "{status}");
    let alive: Vec<u32> = pids
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| !stat.contains(") Z "))
        })
        .collect();
    assert!(
        alive.is_empty(),
        "still running after mevfleet dev stopped: {alive:?}"
    );
    Ok(())
}
