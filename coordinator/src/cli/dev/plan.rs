//! The dev fleet's layout: which processes, on which loopback ports, with
//! which certificates and config files, all under one folder. Writing the
//! plan creates the CA, issues every certificate and writes every config;
//! nothing is started here.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mevfleet_common::chain::known_chain;
use mevfleet_common::free_port::free_loopback_addr;
use mevfleet_common::identity::{PeerIdentity, Role};
use mevfleet_common::tls::{FleetCa, Validity};

use crate::cli::CliError;

/// The agents of the dev fleet.
pub const DEV_AGENTS: [&str; 2] = ["host-a", "host-b"];

/// The admin identity the tour uses.
pub const DEV_ADMIN: &str = "dev-admin";

/// One coordinator.
#[derive(Clone, Debug)]
pub struct DevCoordinator {
    /// Its node id.
    pub id: u64,
    /// QUIC address.
    pub quic: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    /// Its config file.
    pub config: PathBuf,
}

/// One anvil node.
#[derive(Clone, Debug)]
pub struct DevNode {
    /// The agent whose node it is.
    pub agent: String,
    /// The chain.
    pub chain: String,
    /// Its chain id.
    pub chain_id: u64,
    /// Block time in seconds.
    pub block_time_s: f64,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The agent's execution gateway for this chain.
    pub gateway: SocketAddr,
}

/// One agent.
#[derive(Clone, Debug)]
pub struct DevAgent {
    /// Its id.
    pub id: String,
    /// HTTP address.
    pub http: SocketAddr,
    /// Its config file.
    pub config: PathBuf,
}

/// The whole dev fleet.
#[derive(Clone, Debug)]
pub struct DevPlan {
    /// The folder everything lives in.
    pub dir: PathBuf,
    /// Coordinators.
    pub coordinators: Vec<DevCoordinator>,
    /// Anvil nodes.
    pub nodes: Vec<DevNode>,
    /// Agents.
    pub agents: Vec<DevAgent>,
    /// The admin credentials folder.
    pub admin_creds: PathBuf,
}

fn failed(what: &str) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |err| CliError::Failed(format!("{what}: {err}"))
}

/// A loopback port free for UDP and TCP, below the ephemeral range (see
/// `free_port`): the processes bind it only later.
fn free_udp() -> Result<SocketAddr, CliError> {
    free_loopback_addr().map_err(failed("no free port on 127.0.0.1"))
}

fn free_tcp() -> Result<SocketAddr, CliError> {
    free_loopback_addr().map_err(failed("no free port on 127.0.0.1"))
}

/// Parses `--chains`: known chain names, comma-separated, no repeats.
pub fn parse_chains(text: &str) -> Result<Vec<String>, String> {
    let mut chains: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if known_chain(name).is_none() {
            return Err(format!(
                "`{name}` is not a known chain: choose from ethereum, arbitrum, optimism, base, polygon"
            ));
        }
        if chains.iter().any(|c| c == name) {
            return Err(format!("`{name}` is listed twice"));
        }
        chains.push(name.to_owned());
    }
    if chains.is_empty() {
        return Err("expected at least one chain, e.g. ethereum,base".into());
    }
    Ok(chains)
}

impl DevPlan {
    /// Picks ports, creates the CA and certificates, and writes every config
    /// and `env.sh` under `dir`.
    pub fn write(dir: &Path, chains: &[String]) -> Result<Self, CliError> {
        std::fs::create_dir_all(dir.join("logs"))
            .map_err(failed("cannot create the dev folder"))?;
        let ca_dir = dir.join("ca");
        std::fs::create_dir_all(&ca_dir).map_err(failed("cannot create the CA folder"))?;
        let ca = FleetCa::init_dir(&ca_dir, true).map_err(|e| CliError::Failed(e.to_string()))?;
        let creds = |role: Role, name: &str| -> Result<PathBuf, CliError> {
            let out = dir.join("creds").join(name);
            let identity =
                PeerIdentity::new(role, name).map_err(|e| CliError::Failed(e.to_string()))?;
            ca.issue(&identity, Validity::days(30))
                .and_then(|issued| issued.write_to_dir(&out, true))
                .map_err(|e| CliError::Failed(e.to_string()))?;
            std::fs::write(out.join("ca.pem"), ca.cert_pem())
                .map_err(failed("cannot copy ca.pem"))?;
            Ok(out)
        };
        let tls = |folder: &Path, name: &str| {
            format!(
                "[tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                folder.join("ca.pem").display(),
                folder.join(format!("{name}.pem")).display(),
                folder.join(format!("{name}.key")).display()
            )
        };

        let mut coordinators = Vec::new();
        for id in 1..=3u64 {
            coordinators.push(DevCoordinator {
                id,
                quic: free_udp()?,
                http: free_tcp()?,
                config: dir.join(format!("coordinator-{id}.toml")),
            });
        }
        let peers: String = coordinators
            .iter()
            .map(|c| format!("{} = \"{}\"\n", c.id, c.quic))
            .collect();
        for c in &coordinators {
            let name = format!("coord-{}", c.id);
            let folder = creds(Role::Coordinator, &name)?;
            let text = format!(
                "# mevfleet dev: coordinator {id}\nnode_id = {id}\ndata_dir = \"{data}\"\nlisten = \"{quic}\"\nhttp = \"{http}\"\n\n[peers]\n{peers}\n{tls}\n# Signs the certificates of agents enrolling with `mevfleet token create`.\n[enrollment]\nca_key = \"{ca_key}\"\n",
                id = c.id,
                data = dir.join(format!("coordinator-{}-data", c.id)).display(),
                quic = c.quic,
                http = c.http,
                tls = tls(&folder, &name),
                ca_key = ca_dir.join(mevfleet_common::tls::CA_KEY_FILE).display(),
            );
            std::fs::write(&c.config, text).map_err(failed("cannot write a coordinator config"))?;
        }

        let mut nodes = Vec::new();
        let mut agents = Vec::new();
        for id in DEV_AGENTS {
            let folder = creds(Role::Agent, id)?;
            let http = free_tcp()?;
            let mut text = format!(
                "# mevfleet dev: agent {id}\nagent_id = \"{id}\"\ncoordinators = [{coords}]\ndata_dir = \"{data}\"\nhttp = \"{http}\"\n\n[labels]\nregion = \"dev\"\nhost = \"{id}\"\n\n{tls}\n[probe]\ndisks = [\"/\"]\n",
                coords = coordinators
                    .iter()
                    .map(|c| format!("\"{}\"", c.quic))
                    .collect::<Vec<_>>()
                    .join(", "),
                data = dir.join(format!("{id}-data")).display(),
                tls = tls(&folder, id),
            );
            for chain in chains {
                let known = known_chain(chain)
                    .ok_or_else(|| CliError::Usage(format!("`{chain}` is not a known chain")))?;
                let port = free_tcp()?.port();
                let gateway = free_tcp()?;
                let _ = write!(
                    text,
                    "\n[[chains]]\nname = \"{chain}\"\nrpc = \"http://127.0.0.1:{port}\"\nws = \"ws://127.0.0.1:{port}\"\ngateway = \"{gateway}\"\nexecute = true\n"
                );
                nodes.push(DevNode {
                    agent: id.to_owned(),
                    chain: chain.clone(),
                    chain_id: known.chain_id,
                    block_time_s: known.block_time.as_secs_f64(),
                    port,
                    gateway,
                });
            }
            let config = dir.join(format!("agent-{id}.toml"));
            std::fs::write(&config, text).map_err(failed("cannot write an agent config"))?;
            agents.push(DevAgent {
                id: id.to_owned(),
                http,
                config,
            });
        }
        let admin_creds = creds(Role::Admin, DEV_ADMIN)?;
        let plan = Self {
            dir: dir.to_owned(),
            coordinators,
            nodes,
            agents,
            admin_creds,
        };
        std::fs::write(dir.join("env.sh"), plan.env_sh()).map_err(failed("cannot write env.sh"))?;
        Ok(plan)
    }

    /// The coordinators' QUIC addresses, comma-separated.
    pub fn coordinator_list(&self) -> String {
        self.coordinators
            .iter()
            .map(|c| c.quic.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `source env.sh` points the CLI at the dev fleet.
    pub fn env_sh(&self) -> String {
        let bin_dir = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .map(|dir| format!("export PATH=\"{}:$PATH\"\n", dir.display()))
            .unwrap_or_default();
        format!(
            "# mevfleet dev: source this file to use the CLI against the dev fleet.\n{bin_dir}export MEVFLEET_COORDINATORS=\"{}\"\nexport MEVFLEET_CREDS=\"{}\"\n",
            self.coordinator_list(),
            self.admin_creds.display()
        )
    }
}

#[cfg(test)]
mod tests {
    use mevfleet_common::config_file;

    use super::*;
    use crate::config::CoordinatorConfig;

    #[test]
    fn chains_are_checked_by_name() {
        assert_eq!(
            parse_chains("ethereum, base"),
            Ok(vec!["ethereum".into(), "base".into()])
        );
        assert!(parse_chains("ethereum,solana").is_err_and(|e| e.contains("`solana`")));
        assert!(parse_chains("base,base").is_err_and(|e| e.contains("twice")));
        assert!(parse_chains(" , ").is_err());
    }

    #[test]
    fn the_written_configs_load_and_validate() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let plan = DevPlan::write(dir.path(), &["ethereum".into(), "arbitrum".into()])?;
        for c in &plan.coordinators {
            let valid = config_file::load::<CoordinatorConfig>(&c.config)?;
            assert_eq!(valid.peers.len(), 3);
            valid
                .config
                .tls
                .load(Role::Coordinator, None)
                .map_err(|err| anyhow::anyhow!("{err:?}"))?;
        }
        assert_eq!(plan.nodes.len(), 4);
        assert!(plan.env_sh().contains(&plan.coordinator_list()));
        assert!(dir
            .path()
            .join("creds")
            .join(DEV_ADMIN)
            .join("dev-admin.key")
            .exists());
        Ok(())
    }
}
