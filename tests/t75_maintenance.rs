//! t75 maintenance: a rolling maintenance over three hosts serving one
//! chain, each with its own anvil and executor gateway. The action pauses
//! the host's node (SIGSTOP for 4 s, so the node goes down and comes back)
//! after asking its own gateway for a write: every host must already have
//! lost the executor role (-32001) when its action starts. At least one
//! node stays healthy throughout, the plan survives a leader kill in the
//! middle, and it finishes with every host done and none drained.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mevfleet_tests::{init_logs, wait_until, Anvil, TestFleet};
use serde_json::Value;

const HOSTS: [&str; 3] = ["host-a", "host-b", "host-c"];

/// The action: the gateway's answer to a write goes to `marks`, then the
/// node is paused for 4 s.
fn pause_action(marks: &std::path::Path, gateway: std::net::SocketAddr, pid: u32) -> String {
    let write = r#"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0x00\"]}"#;
    format!(
        "[actions.pause-node]\ncommand = [\"sh\", \"-c\", \"curl -s -X POST -H 'content-type: application/json' --data '{write}' http://{gateway}/ >> {marks}; echo >> {marks}; kill -STOP {pid}; sleep 4; kill -CONT {pid}\"]\ntimeout_s = 30\n",
        marks = marks.display()
    )
}

/// Healthy ethereum nodes in `mevfleet agents -o json`.
fn healthy(agents: &Value) -> usize {
    agents
        .as_array()
        .map(|list| {
            list.iter()
                .filter(|a| a["connected"] == true)
                .filter(|a| {
                    a["chains"]
                        .as_array()
                        .is_some_and(|c| c.iter().any(|c| c["state"] == "healthy"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_maintenance_moves_the_executor_first_keeps_a_node_healthy_and_survives_a_leader_kill(
) -> anyhow::Result<()> {
    init_logs();
    let mut fleet = TestFleet::start_with(3, "leader_grace_ms = 3000").await?;
    let marks = fleet.pki.root().join("marks");
    std::fs::create_dir_all(&marks)?;
    let mut anvils = Vec::new();
    for host in HOSTS {
        let anvil = Anvil::start(1, Some(1.0))?;
        let pid = anvil
            .pid()
            .ok_or_else(|| anyhow::anyhow!("anvil is not running"))?;
        // The gateway's address is known once the agent is added: the
        // action is appended to its config and the agent restarted.
        let gateway = fleet.add_executor_with(host, "ethereum", &anvil, "")?;
        let config = fleet.agent(host)?.config.clone();
        let mut text = std::fs::read_to_string(&config)?;
        text.push_str(&pause_action(&marks.join(host), gateway, pid));
        std::fs::write(&config, text)?;
        let agent = fleet
            .agents
            .get_mut(host)
            .ok_or_else(|| anyhow::anyhow!("no agent {host}"))?;
        if let Some(mut process) = agent.process.take() {
            process.terminate(Duration::from_secs(15)).await?;
        }
        agent.start()?;
        anvils.push(anvil);
    }
    fleet
        .executor_of("ethereum", None, Duration::from_secs(60))
        .await?;
    for host in HOSTS {
        fleet.wait_chain_state(host, "ethereum", "healthy").await?;
    }

    // --- watch the healthy count for the whole plan
    let fleet = Arc::new(tokio::sync::Mutex::new(fleet));
    let lowest = Arc::new(AtomicUsize::new(usize::MAX));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (fleet, lowest, watching) = (fleet.clone(), lowest.clone(), watching.clone());
        tokio::spawn(async move {
            // A sampler, not a wait: one look every 100 ms.
            let mut samples = tokio::time::interval(Duration::from_millis(100));
            while watching.load(Ordering::Relaxed) {
                samples.tick().await;
                let agents = fleet.lock().await.agents_json().await;
                if let Ok(agents) = agents {
                    lowest.fetch_min(healthy(&agents), Ordering::Relaxed);
                }
            }
        })
    };

    let (code, stdout, stderr) = fleet
        .lock()
        .await
        .cli(&[
            "maintenance",
            "run",
            "--no-wait",
            "--target",
            "chain=ethereum",
            "--max-parallel",
            "3",
            "--min-healthy",
            "1",
            "--step-timeout",
            "60s",
            "pause-node",
        ])
        .await?;
    assert_eq!(code, 0, "{stdout} {stderr}");

    // --- once the first host is done, kill the leader
    let status = |fleet: Arc<tokio::sync::Mutex<TestFleet>>| async move {
        let fleet = fleet.lock().await;
        fleet.cli_json(&["maintenance", "status"], &[]).await.ok()
    };
    wait_until("a first host done", Duration::from_secs(90), || async {
        let status = status(fleet.clone()).await?;
        status["plans"][0]["hosts"]
            .as_array()?
            .iter()
            .any(|h| h["phase"] == "done")
            .then_some(())
    })
    .await?;
    {
        let mut fleet = fleet.lock().await;
        let leader = fleet.leader().await?;
        if let Some(process) = fleet
            .members
            .get_mut(&leader)
            .and_then(|m| m.process.as_mut())
        {
            process.kill9()?;
        }
        if let Some(member) = fleet.members.get_mut(&leader) {
            member.process = None;
        }
    }
    let done = wait_until("the plan to finish", Duration::from_secs(120), || async {
        let status = status(fleet.clone()).await?;
        (status["plans"][0]["state"] != "running").then_some(status)
    })
    .await?;
    watching.store(false, Ordering::Relaxed);
    watcher.await?;
    assert_eq!(done["plans"][0]["state"], "done", "{done}");

    // --- every host ran once, after its executor role had moved away
    for host in HOSTS {
        let mark = std::fs::read_to_string(marks.join(host))?;
        assert_eq!(mark.lines().count(), 1, "{host}: {mark}");
        assert!(
            mark.contains("-32001"),
            "{host} still executed when its action ran: {mark}"
        );
    }
    let lowest = lowest.load(Ordering::Relaxed);
    assert!(
        lowest >= 1 && lowest != usize::MAX,
        "a moment with {lowest} healthy nodes"
    );
    let mut fleet = Arc::try_unwrap(fleet)
        .map_err(|_| anyhow::anyhow!("the watcher still holds the fleet"))?
        .into_inner();
    drop(anvils);
    fleet.stop().await
}
