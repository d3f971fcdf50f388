//! A whole fleet of real processes: a coordinator cluster from config
//! files, agents with their own configs and certificates probing anvil
//! nodes, and the `mevfleet` CLI run against it as an operator would.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use mevfleet_common::identity::Role;
use serde_json::Value;

use crate::{
    bin_path, coordinator_configs, data_dirs, free_ports, http_get, wait_until, wait_until_ok,
    Anvil, ChildProcess, ProcessMember, TestPki, DEFAULT_DEADLINE,
};

/// An agent process and its config.
#[derive(Debug)]
pub struct AgentNode {
    /// Its id.
    pub id: String,
    /// Its config file.
    pub config: PathBuf,
    /// Its HTTP address (`/metrics`, `/health`).
    pub http: SocketAddr,
    /// The process, while running.
    pub process: Option<ChildProcess>,
}

impl AgentNode {
    /// Starts the process.
    pub fn start(&mut self) -> anyhow::Result<()> {
        let mut command = Command::new(bin_path("mevfleet-agent"));
        command.arg("--config").arg(&self.config);
        self.process = Some(ChildProcess::spawn_with_log_level(command, "info")?);
        Ok(())
    }

    /// A page of its HTTP.
    pub async fn get(&self, path: &str) -> anyhow::Result<String> {
        http_get(self.http, path).await
    }

    /// The value of an unlabelled metric on its `/metrics`.
    pub async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        crate::metric_at(self.http, name).await
    }
}

/// A fleet under test.
#[derive(Debug)]
pub struct TestFleet {
    /// The PKI (and the temp folder everything lives in).
    pub pki: TestPki,
    /// Coordinators by node id.
    pub members: BTreeMap<u64, ProcessMember>,
    /// Agents by id.
    pub agents: BTreeMap<String, AgentNode>,
    operator: PathBuf,
}

impl TestFleet {
    /// Starts `size` coordinators (logs at `warn`), with limits suited to a
    /// loaded test machine.
    pub async fn start(size: u64) -> anyhow::Result<Self> {
        Self::start_with(size, "").await
    }

    /// Like [`Self::start`], with `failover` keys (TOML lines) added to
    /// every coordinator's `[failover]`.
    pub async fn start_with(size: u64, failover: &str) -> anyhow::Result<Self> {
        Self::start_configured(size, failover, |_, _| String::new()).await
    }

    /// Like [`Self::start_with`], with `extra(id, pki)` TOML appended to
    /// member `id`'s config (`[enrollment]`, ...).
    pub async fn start_configured(
        size: u64,
        failover: &str,
        extra: impl Fn(u64, &TestPki) -> String,
    ) -> anyhow::Result<Self> {
        let pki = TestPki::new()?;
        let dirs = data_dirs(pki.root(), size);
        let mut members = BTreeMap::new();
        for mut member in coordinator_configs(&pki, &dirs)? {
            let mut text = std::fs::read_to_string(&member.config)?;
            text.push_str("[alerts]\nhigh_latency_ms = 500\n");
            text.push_str(&format!("[failover]\n{failover}\n"));
            text.push_str(&extra(member.id, &pki));
            std::fs::write(&member.config, text)?;
            member.start("warn")?;
            members.insert(member.id, member);
        }
        let operator = pki.issue_dir(Role::Operator, "ops")?;
        Ok(Self {
            pki,
            members,
            agents: BTreeMap::new(),
            operator,
        })
    }

    /// The coordinators' QUIC addresses, comma-separated.
    pub fn coordinators(&self) -> String {
        self.members
            .values()
            .map(|m| m.quic.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Writes an agent's config and certificates, serving `chains` (name,
    /// anvil), and starts it.
    pub fn add_agent(&mut self, id: &str, chains: &[(&str, &Anvil)]) -> anyhow::Result<()> {
        self.add_agent_with(id, chains, "")
    }

    /// Like [`Self::add_agent`], with `extra` TOML appended to its config
    /// (`[mev_boost]`, `[[services]]`, ...).
    pub fn add_agent_with(
        &mut self,
        id: &str,
        chains: &[(&str, &Anvil)],
        extra: &str,
    ) -> anyhow::Result<()> {
        let creds = self.pki.issue_dir(Role::Agent, id)?;
        let (_, http) = free_ports()?;
        let file = |name: &str| creds.join(name).display().to_string();
        let coordinators: Vec<String> = self
            .members
            .values()
            .map(|m| format!("\"{}\"", m.quic))
            .collect();
        let mut text = format!(
            "agent_id = \"{id}\"\ncoordinators = [{}]\ndata_dir = \"{}\"\nhttp = \"{http}\"\n[labels]\nregion = \"test\"\n[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            coordinators.join(", "),
            self.pki.root().join(format!("agent-data-{id}")).display(),
            file("ca.pem"),
            file(&format!("{id}.pem")),
            file(&format!("{id}.key")),
        );
        for (name, anvil) in chains {
            text.push_str(&format!(
                "[[chains]]\nname = \"{name}\"\nrpc = \"{}\"\nmempool = false\n",
                anvil.url()
            ));
        }
        // Top-level keys must come before the first table.
        let (top, tables): (Vec<&str>, Vec<&str>) = extra
            .lines()
            .partition(|line| line.starts_with("relay_key"));
        if !top.is_empty() {
            text = format!("{}\n{text}", top.join("\n"));
        }
        text.push_str(&tables.join("\n"));
        text.push('\n');
        let config = self.pki.root().join(format!("agent-{id}.toml"));
        std::fs::write(&config, text)?;
        self.start_agent(id, config, http)
    }

    /// Starts agent `id` from a config written elsewhere (an enrolled one)
    /// whose HTTP address is `http`.
    pub fn start_agent(
        &mut self,
        id: &str,
        config: PathBuf,
        http: SocketAddr,
    ) -> anyhow::Result<()> {
        let mut agent = AgentNode {
            id: id.to_owned(),
            config,
            http,
            process: None,
        };
        agent.start()?;
        self.agents.insert(id.to_owned(), agent);
        Ok(())
    }

    /// Starts an agent that may execute on `chain` (served by `anvil`),
    /// with its gateway on a free loopback port, which it returns.
    pub fn add_executor(
        &mut self,
        id: &str,
        chain: &str,
        anvil: &Anvil,
    ) -> anyhow::Result<SocketAddr> {
        self.add_executor_with(id, chain, anvil, "")
    }

    /// Like [`Self::add_executor`], with `extra` lines in the chain's entry
    /// (`relays = [...]`) and `relay_key = ...` lines moved to the top.
    pub fn add_executor_with(
        &mut self,
        id: &str,
        chain: &str,
        anvil: &Anvil,
        extra: &str,
    ) -> anyhow::Result<SocketAddr> {
        let (_, gateway) = free_ports()?;
        self.add_agent_with(id, &[], &format!(
            "[[chains]]\nname = \"{chain}\"\nrpc = \"{}\"\nws = \"{}\"\nmempool = false\ngateway = \"{gateway}\"\nexecute = true\n{extra}",
            anvil.url(),
            anvil.ws_url()
        ))?;
        Ok(gateway)
    }

    /// An agent by id.
    pub fn agent(&self, id: &str) -> anyhow::Result<&AgentNode> {
        self.agents
            .get(id)
            .ok_or_else(|| anyhow::anyhow!("no agent {id}"))
    }

    /// Runs `mevfleet ARGS` as the operator against the running
    /// coordinators; returns (exit code, stdout, stderr).
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<(i32, String, String)> {
        self.cli_as(&self.operator, args).await
    }

    /// Runs `mevfleet ARGS` with the credentials in `creds` (a folder from
    /// `pki.issue_dir`).
    pub async fn cli_as(
        &self,
        creds: &std::path::Path,
        args: &[&str],
    ) -> anyhow::Result<(i32, String, String)> {
        let running: Vec<String> = self
            .members
            .values()
            .filter(|m| m.process.is_some())
            .map(|m| m.quic.to_string())
            .collect();
        let mut command = Command::new(bin_path("mevfleet"));
        command
            .arg("--coordinators")
            .arg(running.join(","))
            .arg("--creds")
            .arg(creds)
            .args(args);
        let out = tokio::task::spawn_blocking(move || command.output()).await??;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// `mevfleet ARGS -o json`, which must succeed (exit 0, or `allowed`).
    pub async fn cli_json(&self, args: &[&str], allowed: &[i32]) -> anyhow::Result<Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let (code, stdout, stderr) = self.cli(&all).await?;
        anyhow::ensure!(
            code == 0 || allowed.contains(&code),
            "mevfleet {args:?} exited {code}: {stderr}"
        );
        Ok(serde_json::from_str(&stdout)?)
    }

    /// `mevfleet agents -o json`.
    pub async fn agents_json(&self) -> anyhow::Result<Value> {
        self.cli_json(&["agents"], &[]).await
    }

    /// Waits until `mevfleet agents` shows `agent`'s `chain` in `state`;
    /// returns that chain's JSON.
    pub async fn wait_chain_state(
        &self,
        agent: &str,
        chain: &str,
        state: &str,
    ) -> anyhow::Result<Value> {
        let what = format!("{agent}/{chain} {state} in `mevfleet agents`");
        wait_until_ok(&what, DEFAULT_DEADLINE, || async {
            let agents = self.agents_json().await.map_err(|err| err.to_string())?;
            match chain_of(&agents, agent, chain) {
                Some(seen) if seen["state"] == state => Ok(seen),
                seen => Err(format!("{seen:?}")),
            }
        })
        .await
    }

    /// `chain`'s executor and epoch from `mevfleet chains`, once there is
    /// one (and, if given, once it is not `not`), within `deadline`.
    pub async fn executor_of(
        &self,
        chain: &str,
        not: Option<&str>,
        deadline: Duration,
    ) -> anyhow::Result<(String, u64)> {
        let found = wait_until_ok(&format!("a {chain} executor"), deadline, || async {
            let chains = self
                .cli_json(&["chains"], &[])
                .await
                .map_err(|err| err.to_string())?;
            let entry = chains
                .as_array()
                .and_then(|all| all.iter().find(|c| c["chain"] == chain));
            let found = entry.and_then(|entry| {
                let agent = entry["executor"].as_str()?;
                (Some(agent) != not).then_some((agent.to_owned(), entry["epoch"].as_u64()?))
            });
            found.ok_or_else(|| format!("{entry:?}"))
        })
        .await;
        let Err(err) = found else {
            return found;
        };
        // Where things stood: the agents' views, and the cluster's term and
        // leader (an election starts the new leader's failover grace).
        let agents = self.agents_json().await.map(|v| v.to_string());
        let cluster = self.cli_json(&["cluster", "status"], &[]).await;
        let cluster = cluster.map(|v| v.to_string());
        Err(err.context(format!("agents now: {agents:?}; cluster now: {cluster:?}")))
    }

    /// The leader's node id, from `mevfleet cluster status`.
    pub async fn leader(&self) -> anyhow::Result<u64> {
        wait_until("a leader", DEFAULT_DEADLINE, || async {
            let status = self.cli_json(&["cluster", "status"], &[]).await.ok()?;
            status["leader"].as_u64()
        })
        .await
    }

    /// Stops every process (coordinators with SIGTERM, agents too).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        for agent in self.agents.values_mut() {
            if let Some(mut process) = agent.process.take() {
                process.terminate(Duration::from_secs(15)).await?;
            }
        }
        for member in self.members.values_mut() {
            if let Some(mut process) = member.process.take() {
                process.terminate(Duration::from_secs(15)).await?;
            }
        }
        Ok(())
    }
}

/// One agent's chain in `mevfleet agents -o json`.
pub fn chain_of(agents: &Value, agent: &str, chain: &str) -> Option<Value> {
    agents.as_array()?.iter().find(|a| a["id"] == agent)?["chains"]
        .as_array()?
        .iter()
        .find(|c| c["chain"] == chain)
        .cloned()
}
