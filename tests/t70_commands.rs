//! t70 commands: fleet commands through real coordinators and agents. A
//! broadcast to three agents with one offline reports it `pending` and
//! exits 1, and the command runs there once it is back; unknown actions and
//! bad arguments come back `rejected`, a slow action `timeout`; an expired
//! command never runs; a command issued just before a leader kill runs
//! once; a viewer may not issue commands. An agent's order feed sends each
//! command once as it is committed, and an agent from before the feed can
//! still poll.

use std::path::{Path, PathBuf};

use mevfleet_common::identity::Role;
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse};
use mevfleet_common::wire::{call, subscribe, RpcLimits};
use mevfleet_tests::{init_logs, wait_until, Anvil, TestFleet, DEFAULT_DEADLINE};
use serde_json::Value;

/// The actions every agent gets: `mark WORD` appends WORD to the agent's
/// marks file (so a test can count runs), `slow` outlives its timeout.
fn actions(marks: &Path) -> String {
    format!(
        "[actions.mark]\ncommand = [\"sh\", \"-c\", \"echo \\\"$1\\\" >> {}; echo marked $1\", \"mark\"]\n\
         timeout_s = 10\nargs = [\"[a-z]+\"]\n\
         [actions.slow]\ncommand = [\"sleep\", \"30\"]\ntimeout_s = 1\n\
         [actions.long-mark]\ncommand = [\"sh\", \"-c\", \"echo started >> {}; sleep 20\"]\ntimeout_s = 60\n",
        marks.display(),
        marks.display()
    )
}

struct Commands {
    fleet: TestFleet,
    marks: PathBuf,
    _anvil: Anvil,
}

impl Commands {
    async fn start() -> anyhow::Result<Self> {
        let anvil = Anvil::start(1, Some(1.0))?;
        let mut fleet = TestFleet::start(3).await?;
        let marks = fleet.pki.root().join("marks");
        std::fs::create_dir_all(&marks)?;
        for id in ["host-a", "host-b", "host-c"] {
            let extra = actions(&marks.join(id));
            fleet.add_agent_with(id, &[("ethereum", &anvil)], &extra)?;
        }
        let commands = Self {
            fleet,
            marks,
            _anvil: anvil,
        };
        for id in ["host-a", "host-b", "host-c"] {
            commands.connected(id).await?;
        }
        Ok(commands)
    }

    async fn connected(&self, id: &str) -> anyhow::Result<()> {
        wait_until(&format!("{id} connected"), DEFAULT_DEADLINE, || async {
            let agents = self.fleet.agents_json().await.ok()?;
            agents
                .as_array()?
                .iter()
                .any(|a| a["id"] == id && a["connected"] == true)
                .then_some(())
        })
        .await
    }

    /// The words `mark` wrote on `agent`, in order.
    fn marks(&self, agent: &str) -> Vec<String> {
        std::fs::read_to_string(self.marks.join(agent))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `mevfleet broadcast ARGS -o json`: exit code and JSON.
    async fn broadcast(&self, args: &[&str]) -> anyhow::Result<(i32, Value)> {
        // Options go before the action: what follows it is its arguments.
        let mut all = vec!["broadcast", "-o", "json"];
        all.extend(args);
        let (code, stdout, stderr) = self.fleet.cli(&all).await?;
        let json = serde_json::from_str(&stdout).map_err(|err| {
            anyhow::anyhow!("broadcast {args:?} exited {code}: {err}: {stdout} {stderr}")
        })?;
        Ok((code, json))
    }

    /// Waits until command `id` shows `agent` with `status`.
    async fn wait_status(&self, id: u64, agent: &str, status: &str) -> anyhow::Result<Value> {
        let id = id.to_string();
        wait_until(
            &format!("{agent} {status} on command {id}"),
            DEFAULT_DEADLINE,
            || async {
                let view = self.fleet.cli_json(&["commands", &id], &[]).await.ok()?;
                (status_of(&view, agent)? == status).then_some(view)
            },
        )
        .await
    }

    fn agent_mut(&mut self, id: &str) -> anyhow::Result<&mut mevfleet_tests::AgentNode> {
        self.fleet
            .agents
            .get_mut(id)
            .ok_or_else(|| anyhow::anyhow!("no agent {id}"))
    }
}

fn status_of<'a>(view: &'a Value, agent: &str) -> Option<&'a str> {
    view["results"]
        .as_array()?
        .iter()
        .find(|r| r["agent"] == agent)?["status"]
        .as_str()
}

fn result_of<'a>(view: &'a Value, agent: &str) -> Option<&'a Value> {
    view["results"]
        .as_array()?
        .iter()
        .find(|r| r["agent"] == agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_reaches_every_agent_once_even_those_offline_when_issued() -> anyhow::Result<()>
{
    init_logs();
    let mut t = Commands::start().await?;

    // --- host-c is offline: it is pending, the CLI exits 1
    if let Some(mut process) = t.agent_mut("host-c")?.process.take() {
        process.terminate(DEFAULT_DEADLINE).await?;
    }
    let (code, view) = t.broadcast(&["mark", "one"]).await?;
    assert_eq!(code, 1, "{view}");
    assert_eq!(status_of(&view, "host-a"), Some("ok"), "{view}");
    assert_eq!(status_of(&view, "host-b"), Some("ok"), "{view}");
    assert_eq!(status_of(&view, "host-c"), Some("pending"), "{view}");
    let output = result_of(&view, "host-a").and_then(|r| r["output"].as_str());
    assert_eq!(output, Some("marked one\n"), "{view}");
    assert_eq!(
        result_of(&view, "host-a").map(|r| &r["exit_code"]),
        Some(&Value::from(0))
    );
    let id = view["command_id"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no id: {view}"))?;

    // --- ... and runs it once it is back
    t.agent_mut("host-c")?.start()?;
    t.wait_status(id, "host-c", "ok").await?;
    for agent in ["host-a", "host-b", "host-c"] {
        assert_eq!(t.marks(agent), ["one"], "{agent}");
    }

    // --- unknown actions and bad arguments are rejected by the agent; a slow action times out
    let (code, view) = t.broadcast(&["--target", "host-a", "reboot"]).await?;
    assert_eq!(
        (code, status_of(&view, "host-a")),
        (1, Some("rejected")),
        "{view}"
    );
    let why = result_of(&view, "host-a")
        .and_then(|r| r["output"].as_str())
        .unwrap_or_default();
    assert!(why.contains("unknown action `reboot`"), "{why}");
    let (code, view) = t
        .broadcast(&["--target", "host-a", "mark", "rm -rf /"])
        .await?;
    assert_eq!(
        (code, status_of(&view, "host-a")),
        (1, Some("rejected")),
        "{view}"
    );
    let (code, view) = t.broadcast(&["--target", "region=test", "slow"]).await?;
    assert_eq!(code, 1);
    for agent in ["host-a", "host-b", "host-c"] {
        assert_eq!(status_of(&view, agent), Some("timeout"), "{view}");
    }
    assert_eq!(t.marks("host-a"), ["one"], "nothing rejected ran");

    // --- an expired command never runs: host-c is away until it expired
    if let Some(mut process) = t.agent_mut("host-c")?.process.take() {
        process.terminate(DEFAULT_DEADLINE).await?;
    }
    let (code, view) = t
        .broadcast(&[
            "--no-wait",
            "--target",
            "host-c",
            "--expires",
            "1s",
            "mark",
            "two",
        ])
        .await?;
    assert_eq!(code, 0, "{view}");
    let expired = view["command_id"].as_u64().unwrap_or_default();
    wait_until("the command to expire", DEFAULT_DEADLINE, || async {
        let view = t
            .fleet
            .cli_json(&["commands", &expired.to_string()], &[])
            .await
            .ok()?;
        (result_of(&view, "host-c")?["expired"] == true).then_some(())
    })
    .await?;
    t.agent_mut("host-c")?.start()?;
    t.connected("host-c").await?;
    let (code, view) = t
        .broadcast(&["--target", "host-c", "mark", "three"])
        .await?;
    assert_eq!(code, 0, "{view}");
    assert_eq!(
        t.marks("host-c"),
        ["one", "three"],
        "two expired before host-c came back"
    );

    // --- a command issued just before the leader dies runs once everywhere
    let (code, stdout, stderr) = t
        .fleet
        .cli(&["broadcast", "--no-wait", "-o", "json", "mark", "four"])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    let issued: Value = serde_json::from_str(&stdout)?;
    let four = issued["command_id"].as_u64().unwrap_or_default();
    let leader = t.fleet.leader().await?;
    if let Some(member) = t.fleet.members.get_mut(&leader) {
        if let Some(mut process) = member.process.take() {
            process.kill9()?;
        }
    }
    for agent in ["host-a", "host-b", "host-c"] {
        t.wait_status(four, agent, "ok").await?;
    }
    for agent in ["host-a", "host-b"] {
        assert_eq!(t.marks(agent), ["one", "four"], "{agent}");
    }
    assert_eq!(t.marks("host-c"), ["one", "three", "four"]);

    // --- history lists them, newest first
    let history = t.fleet.cli_json(&["commands"], &[]).await?;
    let ids: Vec<u64> = history
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|c| c["command_id"].as_u64())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids.first(), Some(&four), "{history}");
    assert!(ids.contains(&id) && ids.contains(&expired));

    // --- a viewer may not issue commands
    let viewer = t.fleet.pki.issue_dir(Role::Viewer, "wall")?;
    let (code, _, stderr) = t
        .fleet
        .cli_as(&viewer, &["broadcast", "mark", "five"])
        .await?;
    assert_ne!(code, 0);
    assert!(stderr.contains("may not issue fleet commands"), "{stderr}");
    t.fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allocation_reaches_each_agents_cgroup_weights() -> anyhow::Result<()> {
    init_logs();
    let anvil = Anvil::start(1, Some(1.0))?;
    let mut fleet = TestFleet::start(3).await?;
    let cgroup = fleet.pki.root().join("cgroup");
    std::fs::create_dir_all(cgroup.join("erigon.service"))?;
    let extra = format!(
        "[[services]]\nunit = \"erigon.service\"\nchain = \"ethereum\"\n[resources]\ncgroup_root = \"{}\"\n",
        cgroup.display()
    );
    fleet.add_agent_with("host-a", &[("ethereum", &anvil)], &extra)?;
    let weight = |file: &str| {
        std::fs::read_to_string(cgroup.join("erigon.service").join(file)).unwrap_or_default()
    };
    let wait_weight = |expected: &'static str| {
        let weight = &weight;
        async move {
            wait_until(
                &format!("cpu.weight {expected}"),
                DEFAULT_DEADLINE,
                // Both files: they are written one after the other.
                || async {
                    (weight("cpu.weight").trim() == expected
                        && weight("io.weight").trim() == expected)
                        .then_some(())
                },
            )
            .await
        }
    };

    // --- a priority becomes the weight of that chain's services
    let (code, _, stderr) = fleet
        .cli(&["alloc", "set", "--priority", "ethereum=high,base=low"])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    wait_weight("400").await?;
    let shown = fleet.cli_json(&["alloc", "show"], &[]).await?;
    assert_eq!(shown["weights"]["ethereum"], 400, "{shown}");
    assert_eq!(shown["priorities"]["base"], "low", "{shown}");

    // --- set-resources by hand, then a new priority replaces it
    let (code, stdout, stderr) = fleet
        .cli(&["broadcast", "-o", "json", "set-resources", "ethereum=300"])
        .await?;
    assert_eq!(code, 0, "{stdout} {stderr}");
    assert_eq!(weight("cpu.weight").trim(), "300");
    let (code, _, stderr) = fleet
        .cli(&["alloc", "set", "--priority", "ethereum=low"])
        .await?;
    assert_eq!(code, 0, "{stderr}");
    wait_weight("100").await?;

    // --- bad priorities are usage errors; viewers may not set them
    let (code, _, stderr) = fleet
        .cli(&["alloc", "set", "--priority", "ethereum=urgent"])
        .await?;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown priority `urgent`"), "{stderr}");
    let viewer = fleet.pki.issue_dir(Role::Viewer, "wall")?;
    let (code, _, stderr) = fleet
        .cli_as(&viewer, &["alloc", "set", "--priority", "ethereum=high"])
        .await?;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("may not change the resource allocation"),
        "{stderr}"
    );
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routine_cleans_full_disks_and_runs_scheduled_jobs_on_its_own() -> anyhow::Result<()> {
    init_logs();
    let anvil = Anvil::start(1, Some(1.0))?;
    // A window all day, and every disk counts as an emergency (over 1 %).
    let routine = "leader_grace_ms = 3000\n[routine]\nwindows = [\"00:00-24:00\"]\n\
                   emergency_disk_percent = 1\ndisk_action = \"cleanup-disk\"\n\
                   [[routine.jobs]]\naction = \"rotate-logs\"\nevery_h = 24\ntarget = \"region=test\"\n";
    let mut fleet = TestFleet::start_with(3, routine).await?;
    let marks = fleet.pki.root().join("routine-marks");
    let extra = format!(
        "[actions.cleanup-disk]\ncommand = [\"sh\", \"-c\", \"echo cleaned >> {0}\"]\n\
         [actions.rotate-logs]\ncommand = [\"sh\", \"-c\", \"echo rotated >> {0}\"]\n",
        marks.display()
    );
    fleet.add_agent_with("host-a", &[("ethereum", &anvil)], &extra)?;
    let lines = wait_until("the routine to run both", DEFAULT_DEADLINE, || async {
        let text = std::fs::read_to_string(&marks).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        (lines.contains(&"cleaned".to_owned()) && lines.contains(&"rotated".to_owned()))
            .then_some(lines)
    })
    .await?;
    assert_eq!(lines.len(), 2, "{lines:?}");
    let history = fleet.cli_json(&["commands"], &[]).await?;
    let by_routine = history
        .as_array()
        .map(|list| list.iter().filter(|c| c["issued_by"] == "routine").count())
        .unwrap_or_default();
    assert_eq!(by_routine, 2, "{history}");
    fleet.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_cut_short_by_an_agent_crash_is_reported_and_never_run_again(
) -> anyhow::Result<()> {
    init_logs();
    let mut t = Commands::start().await?;
    let (code, view) = t
        .broadcast(&["--no-wait", "--target", "host-b", "long-mark"])
        .await?;
    assert_eq!(code, 0, "{view}");
    let id = view["command_id"].as_u64().unwrap_or_default();
    wait_until("the action to start", DEFAULT_DEADLINE, || async {
        t.marks("host-b")
            .contains(&"started".to_owned())
            .then_some(())
    })
    .await?;

    // --- kill -9 mid-run, then start again: reported failed, not run again
    let agent = t.agent_mut("host-b")?;
    if let Some(mut process) = agent.process.take() {
        process.kill9()?;
    }
    agent.start()?;
    let view = t.wait_status(id, "host-b", "failed").await?;
    let output = result_of(&view, "host-b")
        .and_then(|r| r["output"].as_str())
        .unwrap_or_default();
    assert!(output.contains("interrupted"), "{view}");
    // A later command runs, and the cut-short one did not start again before it.
    let (code, view) = t
        .broadcast(&["--target", "host-b", "mark", "after"])
        .await?;
    assert_eq!(code, 0, "{view}");
    assert_eq!(t.marks("host-b"), ["started", "after"]);
    t.fleet.stop().await
}

/// Issues `mark WORD` to `host-x` without waiting; its command id.
async fn issue_to_host_x(fleet: &TestFleet, word: &str) -> anyhow::Result<u64> {
    // Options go before the action: what follows it is its arguments.
    let args = ["broadcast", "-o", "json", "--no-wait", "--target", "host-x"];
    let (code, stdout, stderr) = fleet.cli(&[&args[..], &["mark", word]].concat()).await?;
    anyhow::ensure!(code == 0, "broadcast exited {code}: {stderr}");
    let view: Value = serde_json::from_str(&stdout)?;
    view["command_id"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no command id: {view}"))
}

/// The ids of an answer that must be orders.
fn order_ids(answer: &AgentResponse) -> Vec<u64> {
    match answer {
        AgentResponse::Orders(orders) => orders.iter().map(|order| order.id).collect(),
        other => panic!("expected orders, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_feed_sends_each_command_once_as_it_is_committed_and_old_agents_can_still_poll(
) -> anyhow::Result<()> {
    init_logs();
    let mut fleet = TestFleet::start(1).await?;
    let addr = fleet
        .members
        .values()
        .next()
        .map(|m| m.quic)
        .ok_or_else(|| anyhow::anyhow!("no member"))?;
    let limits = RpcLimits {
        timeout: DEFAULT_DEADLINE,
        ..RpcLimits::default()
    };
    let (conn, _endpoint) =
        mevfleet_tests::hello_as_agent(&fleet.pki, "host-x", addr, false, limits).await?;

    // --- one feed, two commands issued while it is open: each comes once
    let request = AgentRequest::OrderFeed { known: Vec::new() };
    let mut feed = subscribe::<_, AgentResponse>(&conn, &request, limits).await?;
    let first = issue_to_host_x(&fleet, "one").await?;
    let answer = feed
        .next()
        .await?
        .ok_or_else(|| anyhow::anyhow!("feed ended"))?;
    assert_eq!(order_ids(&answer), vec![first]);
    let second = issue_to_host_x(&fleet, "two").await?;
    let answer = feed
        .next()
        .await?
        .ok_or_else(|| anyhow::anyhow!("feed ended"))?;
    assert_eq!(
        order_ids(&answer),
        vec![second],
        "the first is not sent again"
    );

    // --- a feed opened later gets what it does not know at once
    let request = AgentRequest::OrderFeed {
        known: vec![second],
    };
    let mut late = subscribe::<_, AgentResponse>(&conn, &request, limits).await?;
    let answer = late
        .next()
        .await?
        .ok_or_else(|| anyhow::anyhow!("feed ended"))?;
    assert_eq!(order_ids(&answer), vec![first]);

    // --- an agent from before the feed polls, and is answered as before
    let poll = AgentRequest::Orders {
        known: vec![first],
        wait_ms: 5_000,
    };
    let answer = call::<_, AgentResponse>(&conn, &poll, limits).await?;
    assert_eq!(order_ids(&answer), vec![second]);
    fleet.stop().await
}
