//! Coordinator clusters of real `mevfleet-coordinator` processes: config
//! files written for free loopback ports, started, killed and restarted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use mevfleet_common::identity::Role;

use crate::{bin_path, ChildProcess, TestPki};

/// One coordinator process and what it needs to start again.
#[derive(Debug)]
pub struct ProcessMember {
    /// Its node id.
    pub id: u64,
    /// Its QUIC address.
    pub quic: SocketAddr,
    /// Its HTTP address.
    pub http: SocketAddr,
    /// Its config file.
    pub config: PathBuf,
    /// The running process, if started.
    pub process: Option<ChildProcess>,
}

impl ProcessMember {
    /// Starts the process from its config file (logs at `log_level`).
    pub fn start(&mut self, log_level: &str) -> anyhow::Result<()> {
        let mut command = Command::new(bin_path("mevfleet-coordinator"));
        command.arg("--config").arg(&self.config);
        self.process = Some(ChildProcess::spawn_with_log_level(command, log_level)?);
        Ok(())
    }
}

/// A free loopback UDP port for QUIC and TCP port for HTTP, picked below
/// the kernel's ephemeral range so that no outgoing connection takes them
/// before the process binds them.
pub fn free_ports() -> anyhow::Result<(SocketAddr, SocketAddr)> {
    use mevfleet_common::free_port::free_loopback_addr;
    Ok((free_loopback_addr()?, free_loopback_addr()?))
}

/// Writes one config file per data folder (member ids 1, 2, ...), all with
/// the same `[peers]`, and certificates from `pki`. Nothing is started.
pub fn coordinator_configs(
    pki: &TestPki,
    data_dirs: &[PathBuf],
) -> anyhow::Result<Vec<ProcessMember>> {
    let ports: Vec<(SocketAddr, SocketAddr)> = data_dirs
        .iter()
        .map(|_| free_ports())
        .collect::<anyhow::Result<_>>()?;
    let peers: String = ports
        .iter()
        .enumerate()
        .map(|(i, (quic, _))| format!("{} = \"{quic}\"\n", i + 1))
        .collect();
    let mut members = Vec::with_capacity(ports.len());
    for (i, ((quic, http), data)) in ports.into_iter().zip(data_dirs).enumerate() {
        let id = i as u64 + 1;
        let name = format!("coord-{id}");
        let creds = pki.issue_dir(Role::Coordinator, &name)?;
        let config = pki.root().join(format!("coordinator-{id}.toml"));
        let file = |name: &str| creds.join(name).display().to_string();
        std::fs::write(
            &config,
            format!(
                "node_id = {id}\ndata_dir = \"{data}\"\nlisten = \"{quic}\"\nhttp = \"{http}\"\n[peers]\n{peers}[tls]\nca = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n",
                data = data.display(),
                ca = file("ca.pem"),
                cert = file(&format!("{name}.pem")),
                key = file(&format!("{name}.key")),
            ),
        )?;
        members.push(ProcessMember {
            id,
            quic,
            http,
            config,
            process: None,
        });
    }
    Ok(members)
}

/// Data folders `data-1` .. `data-{size}` under `root`.
pub fn data_dirs(root: &Path, size: u64) -> Vec<PathBuf> {
    (1..=size)
        .map(|id| root.join(format!("data-{id}")))
        .collect()
}
