//! `mevfleet-coordinator --config FILE`: one member of the coordinator cluster.

use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use mevfleet_common::config_file::{self, ConfigError, KeyError};
use mevfleet_common::daemon::{self, DaemonArgs, RunOutcome, Threads};
use mevfleet_common::identity::Role;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{Credentials, FleetCa};
use mevfleet_coordinator::config::{CoordinatorConfig, ValidCoordinatorConfig};
use mevfleet_coordinator::fleet::FleetPolicy;
use mevfleet_coordinator::node::{NodeSettings, RaftTuning};
use mevfleet_coordinator::runtime::{BoundCoordinator, SHUTDOWN_GRACE};
use mevfleet_coordinator::server::Signer;
use tracing::{info, warn};

/// The leader answers every agent's requests on a few cores: QUIC streams
/// and packets allocate and free constantly, and mimalloc's thread-local
/// pages do that with less work and lock traffic than glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A mevfleet coordinator: holds the fleet's replicated state and makes its
/// decisions (failover, allocation, maintenance, commands).
#[derive(Debug, Parser)]
#[command(name = "mevfleet-coordinator", version, about)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

fn main() -> ExitCode {
    daemon::main(Args::parse().daemon, Threads::PerCore, load, run)
}

/// The config, the credentials and, on a member that signs enrollments,
/// the CA key: all checked before any port is bound.
type Loaded = (ValidCoordinatorConfig, Credentials, Option<Signer>);

fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let config = config_file::load::<CoordinatorConfig>(path)?;
    let settings = &config.config;
    let creds = settings
        .tls
        .load(Role::Coordinator, None)
        .map_err(|err| ConfigError::at(path, err))?;
    let signer = match &settings.enrollment.ca_key {
        Some(key) => Some(Signer {
            ca: FleetCa::load(&settings.tls.ca, key).map_err(|err| {
                ConfigError::at(path, KeyError::new("enrollment.ca_key", err.to_string()))
            })?,
            cert_days: settings.enrollment.cert_days,
        }),
        None => None,
    };
    Ok((config, creds, signer))
}

/// Runs until SIGTERM/SIGINT or a critical failure.
async fn run((config, creds, signer): Loaded) -> anyhow::Result<RunOutcome> {
    let shutdown = Shutdown::new();
    shutdown.cancel_on_signals()?;
    let settings = &config.config;
    if !settings.http.ip().is_loopback() {
        warn!(http = %settings.http, "HTTP listens beyond loopback: reads are open to that network");
    }
    let signs = signer.is_some();
    let mut bound = BoundCoordinator::bind(settings.listen, settings.http, creds).await?;
    if let Some(signer) = signer {
        bound = bound.with_signer(signer);
    }
    info!(
        node_id = settings.node_id,
        listen = %bound.quic_addr()?,
        http = %bound.http_addr()?,
        peers = config.peers.len(),
        signs_enrollments = signs,
        version = mevfleet_common::VERSION,
        "coordinator starting"
    );
    let node = NodeSettings {
        node_id: settings.node_id,
        data_dir: settings.data_dir.clone(),
        peers: config.peers.clone(),
        tuning: RaftTuning::default(),
        raft_listen: settings.raft_listen,
        raft_advertised_port: None,
    };
    bound
        .start(node, FleetPolicy::from_config(&config), &shutdown)
        .await?;
    mevfleet_common::notify::ready(&shutdown);
    shutdown.cancelled().await;
    mevfleet_common::notify::stopping();
    let clean = shutdown.wait(SHUTDOWN_GRACE).await && !shutdown.has_failed();
    info!(clean, "coordinator stopped");
    Ok(if clean {
        RunOutcome::Clean
    } else {
        RunOutcome::Unclean
    })
}
