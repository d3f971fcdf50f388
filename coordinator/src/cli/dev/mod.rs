//! `mevfleet dev`: a whole fleet on this machine. Three coordinators, two
//! agents (host-a, host-b) and an anvil node per agent and chain, with
//! certificates and configs under `--dir` (a temporary folder by default);
//! prints the endpoints and a short tour, and stops everything on Ctrl-C.

mod children;
mod plan;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Args;
use mevfleet_common::net::parse_host_port_list;
use mevfleet_common::tls::Credentials;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::fleet::FleetView;

use self::children::Children;
use self::plan::{parse_chains, DevPlan, DEV_ADMIN};
use super::connect::{request, Target};
use super::fleet::agents_table;
use super::CliError;

/// How long the fleet may take to come up.
const READY_DEADLINE: Duration = Duration::from_secs(120);

/// `mevfleet dev` arguments.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Where to write certificates, configs, data and logs (kept on exit).
    /// Default: a temporary folder, removed on exit.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The chains each agent serves (known names, comma-separated).
    #[arg(long, value_name = "CHAIN[,CHAIN]", default_value = "ethereum,base", value_parser = chain_list)]
    pub chains: ChainList,
    /// The anvil binary (default: $MEVFLEET_ANVIL, .tools/anvil from
    /// scripts/setup.sh, or anvil on PATH).
    #[arg(long, value_name = "PATH", env = "MEVFLEET_ANVIL")]
    pub anvil: Option<PathBuf>,
}

/// Runs the dev fleet until Ctrl-C or SIGTERM.
pub async fn run(args: &DevArgs) -> Result<(), CliError> {
    let chains = &args.chains.0;
    let anvil = find_anvil(args.anvil.as_deref())?;
    let coordinator_bin = sibling("mevfleet-coordinator")?;
    let agent_bin = sibling("mevfleet-agent")?;
    let (dir, _temp) = match &args.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("mevfleet-dev-")
                .tempdir()
                .map_err(|err| {
                    CliError::Failed(format!("cannot create a temporary folder: {err}"))
                })?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let plan = DevPlan::write(&dir, chains)?;
    let logs = dir.join("logs");
    let mut children = Children::default();
    let started = start_all(
        &plan,
        &mut children,
        &anvil,
        &coordinator_bin,
        &agent_bin,
        &logs,
    );
    let outcome = match started {
        Ok(()) => serve(&plan, &mut children).await,
        Err(err) => Err(err),
    };
    eprintln!("mevfleet dev: stopping {} processes", children.list().len());
    children.stop_all(Duration::from_secs(10));
    if args.dir.is_some() {
        eprintln!("mevfleet dev: stopped; files kept in {}", dir.display());
    } else {
        eprintln!("mevfleet dev: stopped; removing {}", dir.display());
    }
    outcome
}

/// The parsed `--chains`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainList(pub Vec<String>);

fn chain_list(text: &str) -> Result<ChainList, String> {
    parse_chains(text).map(ChainList)
}

fn sibling(name: &str) -> Result<PathBuf, CliError> {
    let exe = std::env::current_exe()
        .map_err(|err| CliError::Failed(format!("cannot find this program's path: {err}")))?;
    let path = exe.with_file_name(name);
    if path.exists() {
        Ok(path)
    } else {
        Err(CliError::Failed(format!(
            "{} is missing: build every binary (cargo build --bins), or run ./scripts/dev.sh",
            path.display()
        )))
    }
}

fn find_anvil(given: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(path) = given {
        return if path.exists() {
            Ok(path.to_owned())
        } else {
            Err(CliError::Usage(format!(
                "--anvil {}: no such file",
                path.display()
            )))
        };
    }
    let mut candidates = vec![PathBuf::from(".tools/anvil")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("anvil")));
    }
    candidates.into_iter().find(|p| p.exists()).ok_or_else(|| {
        CliError::Usage(
            "anvil not found: run ./scripts/setup.sh (it installs .tools/anvil), or pass --anvil PATH"
                .into(),
        )
    })
}

fn start_all(
    plan: &DevPlan,
    children: &mut Children,
    anvil: &Path,
    coordinator_bin: &Path,
    agent_bin: &Path,
    logs: &Path,
) -> Result<(), CliError> {
    for node in &plan.nodes {
        let mut command = Command::new(anvil);
        command.args([
            "--host",
            "127.0.0.1",
            "--port",
            &node.port.to_string(),
            "--chain-id",
            &node.chain_id.to_string(),
            "--block-time",
            &node.block_time_s.to_string(),
        ]);
        children.spawn(
            &format!("anvil-{}-{}", node.agent, node.chain),
            command,
            logs,
        )?;
    }
    for coordinator in &plan.coordinators {
        let mut command = Command::new(coordinator_bin);
        command.arg("--config").arg(&coordinator.config);
        children.spawn(&format!("coordinator-{}", coordinator.id), command, logs)?;
    }
    for agent in &plan.agents {
        let mut command = Command::new(agent_bin);
        command.arg("--config").arg(&agent.config);
        children.spawn(&format!("agent-{}", agent.id), command, logs)?;
    }
    Ok(())
}

fn target(plan: &DevPlan) -> Result<Target, CliError> {
    let coordinators = parse_host_port_list(&plan.coordinator_list())
        .map_err(|err| CliError::Failed(err.to_string()))?;
    let creds = Credentials::from_dir(&plan.admin_creds, Some(DEV_ADMIN))
        .map_err(|err| CliError::Failed(format!("dev credentials: {err}")))?;
    Ok(Target {
        coordinators,
        creds,
    })
}

/// Whether every agent is connected and every node has been probed.
fn ready(view: &FleetView, plan: &DevPlan) -> bool {
    plan.agents.iter().all(|agent| {
        view.agents.iter().any(|a| {
            a.id == agent.id
                && a.connected
                && a.chains.len() == plan.nodes.iter().filter(|n| n.agent == agent.id).count()
                && a.chains.iter().all(|c| c.is_healthy())
        })
    })
}

async fn serve(plan: &DevPlan, children: &mut Children) -> Result<(), CliError> {
    let target = target(plan)?;
    eprintln!(
        "mevfleet dev: starting 3 coordinators, {} agents and {} anvil nodes in {}",
        plan.agents.len(),
        plan.nodes.len(),
        plan.dir.display()
    );
    let started = Instant::now();
    let view = loop {
        let died = children.exited();
        if !died.is_empty() {
            return Err(CliError::Failed(format!(
                "a process stopped while the fleet came up: {}",
                died.join("; ")
            )));
        }
        if let Ok(AdminResponse::Fleet(view)) = request(&target, &AdminRequest::FleetView).await {
            if ready(&view, plan) {
                break view;
            }
        }
        if started.elapsed() > READY_DEADLINE {
            return Err(CliError::Failed(format!(
                "the fleet did not come up within {} s (logs in {})",
                READY_DEADLINE.as_secs(),
                plan.dir.join("logs").display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!("{}", tour(plan, children, &view));
    println!("mevfleet dev: ready");
    wait_for_stop(children).await
}

/// Waits for Ctrl-C or SIGTERM, saying when a process of the fleet exits
/// (as it does when the tour kills one).
async fn wait_for_stop(children: &mut Children) -> Result<(), CliError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|err| CliError::Failed(format!("cannot watch SIGTERM: {err}")))?;
    let mut reported = std::collections::BTreeSet::new();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = term.recv() => return Ok(()),
            _ = ticks.tick() => {
                for exit in children.exited() {
                    if reported.insert(exit.clone()) {
                        println!("mevfleet dev: {exit}");
                    }
                }
            }
        }
    }
}

fn tour(plan: &DevPlan, children: &Children, view: &FleetView) -> String {
    let pid = |name: &str| {
        children
            .list()
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.pid().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let mut out = String::new();
    out.push_str(&format!(
        "\nmevfleet dev: a fleet on this machine, in {}\n\n",
        plan.dir.display()
    ));
    out.push_str("coordinators (QUIC, HTTP, pid)\n");
    for c in &plan.coordinators {
        out.push_str(&format!(
            "  {}  {}  http://{}/api/status  pid {}\n",
            c.id,
            c.quic,
            c.http,
            pid(&format!("coordinator-{}", c.id))
        ));
    }
    out.push_str(&format!("  leader: {}\n\nagents\n", view.leader));
    for a in &plan.agents {
        out.push_str(&format!(
            "  {}  http://{}/metrics  pid {}\n",
            a.id,
            a.http,
            pid(&format!("agent-{}", a.id))
        ));
    }
    out.push_str("\nchain nodes (anvil) and the agents' execution gateways\n");
    for n in &plan.nodes {
        out.push_str(&format!(
            "  {}/{}  node http://127.0.0.1:{}  gateway http://{}  chain id {}  pid {}\n",
            n.agent,
            n.chain,
            n.port,
            n.gateway,
            n.chain_id,
            pid(&format!("anvil-{}-{}", n.agent, n.chain))
        ));
    }
    out.push_str(&format!("\n{}\n", agents_table(view)));
    let first = plan.nodes.first();
    out.push_str(&format!(
        "\nTry, in another terminal:\n  source {}/env.sh\n  mevfleet agents\n  mevfleet chains\n  mevfleet status\n  mevfleet check\n  mevfleet cluster status\n  curl -s http://{}/api/agents\n",
        plan.dir.display(),
        plan.coordinators[0].http,
    ));
    if let Some(node) = first {
        out.push_str(&format!(
            "\nSend through a gateway (only the chain's executor accepts writes; the other answers -32001):\n  curl -s http://{} -H 'content-type: application/json' -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendTransaction\",\"params\":[{{\"from\":\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\",\"to\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\",\"value\":\"0x1\"}}]}}'\n",
            node.gateway
        ));
        out.push_str(&format!(
            "\nKill a chain node: it goes down, and if it was its chain's executor the role moves:\n  kill -9 {}      # {}/{}\n  mevfleet agents; mevfleet chains\n  mevfleet failover {} --to <agent>; mevfleet emergency-stop; mevfleet resume\n",
            pid(&format!("anvil-{}-{}", node.agent, node.chain)),
            node.agent,
            node.chain,
            node.chain
        ));
    }
    if let Some(node) = first {
        out.push_str(&format!(
            "\nFleet commands, maintenance and allocation:\n  mevfleet broadcast --target {agent} drain          # its executor roles move away\n  mevfleet broadcast --target {agent} drain off\n  mevfleet maintenance run --target all --min-healthy 1 safe-mode off\n  mevfleet commands; mevfleet maintenance status\n  mevfleet alloc set --priority {chain}=high --dynamic; mevfleet alloc show\n",
            agent = node.agent,
            chain = node.chain
        ));
    }
    out.push_str(&format!(
        "\nEnroll a new host with a one-time token (its key is made on the host; the token works once):\n  mevfleet token create --ttl 15m --labels region=dev\n  mevfleet-agent enroll --token <token> --coordinators {} --agent-id host-c --dir {}/host-c\n  mevfleet token list\n",
        plan.coordinator_list(),
        plan.dir.display()
    ));
    out.push_str(&format!(
        "\nKill the coordinator leader and watch another take over, with every agent still connected:\n  kill -9 {}      # coordinator {}\n  mevfleet cluster status; mevfleet agents\n\nLogs: {}/logs.  Ctrl-C stops everything.\n",
        pid(&format!("coordinator-{}", view.leader)),
        view.leader,
        plan.dir.display()
    ));
    out
}
