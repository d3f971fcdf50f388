//! Assembling a running agent: the spool, the chain and host probes, the
//! recorder that spools verdict changes, the mempool streams, the uplink
//! and the local HTTP.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mevfleet_common::chain::HealthState;
use mevfleet_common::report::SpoolRecord;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::Credentials;
use mevfleet_common::wire::agent::Hello;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Notify};
use tracing::{error, warn};

use crate::commands::action::{Actions, PatternError};
use crate::commands::journal::{Journal, JournalError};
use crate::config::ValidAgentConfig;
use crate::executor::ExecutorState;
use crate::gateway::{self, GatewaySettings};
use crate::http::{self, AgentStatus};
use crate::probe::chain::{self, ProbeHooks, ProbeSettings};
use crate::probe::local;
use crate::probe::verdict::VerdictPolicy;
use crate::relay::Relays;
use crate::report::Sources;
use crate::resources::{Applier, Backend};
use crate::spool::{Spool, SpoolError};
use crate::uplink::{self, UplinkError, UplinkHandle, UplinkInputs, UplinkSettings};
use alloy::signers::local::PrivateKeySigner;

/// The verdict limits used until a leader sends the fleet's (the
/// coordinator's defaults): stale after 5 blocks, 3 peers, 15 ms.
const DEFAULT_STALE_AFTER_BLOCKS: u32 = 5;
const DEFAULT_MIN_PEERS: u32 = 3;
const DEFAULT_HIGH_LATENCY: Duration = Duration::from_millis(15);

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentStartError {
    /// The spool could not be opened.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The HTTP address could not be bound.
    #[error("cannot bind HTTP on {addr}: {source} (is another process using it? change `http`)")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// The uplink could not be set up.
    #[error(transparent)]
    Uplink(#[from] UplinkError),
    /// The command journal could not be opened.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// An action's argument pattern does not compile (config validation
    /// catches this first).
    #[error(transparent)]
    Actions(#[from] PatternError),
    /// A chain's gateway address could not be bound.
    #[error("cannot bind the {chain} gateway on {addr}: {source} (change chains.gateway)")]
    Gateway {
        /// The chain.
        chain: String,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

/// A running agent's handles.
#[derive(Debug)]
pub struct RunningAgent {
    /// The probes' channels.
    pub sources: Sources,
    /// The uplink.
    pub uplink: UplinkHandle,
    /// The spool.
    pub spool: Spool,
    /// Where the HTTP listens.
    pub http_addr: SocketAddr,
    /// The mempool streams.
    pub mempool: crate::mempool::Mempool,
}

/// Starts every part of the agent under `shutdown`.
pub async fn start(
    valid: &ValidAgentConfig,
    creds: &Credentials,
    relay_key: Option<PrivateKeySigner>,
    shutdown: &Shutdown,
) -> Result<RunningAgent, AgentStartError> {
    let config = &valid.config;
    let listener =
        TcpListener::bind(config.http)
            .await
            .map_err(|source| AgentStartError::Http {
                addr: config.http,
                source,
            })?;
    let http_addr = listener
        .local_addr()
        .map_err(|source| AgentStartError::Http {
            addr: config.http,
            source,
        })?;
    let spool = Spool::open(&config.data_dir.join("spool"))?;
    let executor = ExecutorState::default();
    let (limits_tx, limits_rx) = watch::channel(BTreeMap::new());
    let (transitions_tx, transitions_rx) = mpsc::unbounded_channel();
    let urgent = Arc::new(Notify::new());

    let chains = valid
        .chains
        .iter()
        .map(|chain| {
            let settings = ProbeSettings {
                chain: chain.config.name.clone(),
                rpc: chain.config.rpc.clone(),
                interval: Duration::from_millis(config.probe.interval_ms),
                timeout: Duration::from_millis(config.probe.timeout_ms),
                policy: VerdictPolicy {
                    chain_id: chain.chain_id,
                    block_time: chain.block_time,
                    stale_after_blocks: DEFAULT_STALE_AFTER_BLOCKS,
                    min_peers: DEFAULT_MIN_PEERS,
                    high_latency: DEFAULT_HIGH_LATENCY,
                    failures_before_down: config.probe.failures_before_down,
                    successes_before_up: config.probe.successes_before_up,
                },
            };
            let hooks = ProbeHooks {
                limits: Some(limits_rx.clone()),
                transitions: Some(transitions_tx.clone()),
            };
            chain::spawn_with(settings, hooks, shutdown).status()
        })
        .collect();
    // The gateways report execution outcomes to the same recorder.
    let records = transitions_tx;
    let local = local::spawn(config, shutdown);
    let sources = Sources {
        chains,
        host: local.host,
        services: local.services,
        mev_boost: local.mev_boost,
    };
    spawn_recorder(
        transitions_rx,
        spool.clone(),
        urgent.clone(),
        executor.clone(),
        shutdown,
    );

    let mut gateways = Vec::new();
    for chain in &valid.chains {
        if let Some(addr) = chain.config.gateway {
            let listener =
                gateway::bind(addr)
                    .await
                    .map_err(|source| AgentStartError::Gateway {
                        chain: chain.config.name.clone(),
                        addr,
                        source,
                    })?;
            gateways.push((
                chain.config.name.clone(),
                chain.config.rpc.clone(),
                chain.config.ws.clone(),
                chain.config.relays.clone(),
                listener,
            ));
        }
    }
    for (chain, rpc, ws, relays, listener) in gateways {
        let settings = GatewaySettings {
            chain,
            agent_id: config.agent_id.clone(),
            rpc,
            ws,
            executor: executor.clone(),
            records: records.clone(),
            relays: Relays::new(relays, relay_key.clone()),
        };
        gateway::spawn(listener, settings, shutdown);
    }
    drop(records);
    let hello = Hello {
        agent_id: config.agent_id.clone(),
        version: mevfleet_common::VERSION.to_owned(),
        labels: config.labels.clone(),
        chains: valid.chains.iter().map(|c| c.config.name.clone()).collect(),
        executes: valid
            .chains
            .iter()
            .filter(|c| c.config.execute && c.config.gateway.is_some())
            .map(|c| c.config.name.clone())
            .collect(),
        lost: None,
    };
    let journal = {
        let dir = config.data_dir.join("commands");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Journal::open(&dir, now)?
    };
    let actions = Actions::new(&config.actions)?;
    let (weights_tx, weights_rx) = watch::channel(BTreeMap::new());
    let applier = Applier::new(
        Backend::detect(config.resources.cgroup_root.as_deref()),
        &config.services,
    );
    let resources = crate::resources::spawn(applier, weights_rx, shutdown);
    let commands = crate::commands::spawn(journal, actions, spool.clone(), resources, shutdown);
    let mempool = crate::mempool::spawn(valid, shutdown);
    let uplink = uplink::spawn(
        UplinkSettings::new(hello, config.coordinators.clone()),
        UplinkInputs {
            sources: sources.clone(),
            spool: spool.clone(),
            limits: Arc::new(limits_tx),
            urgent,
            executor: executor.clone(),
            commands,
            weights: Arc::new(weights_tx),
            mempool: mempool.outbox.clone(),
        },
        creds,
        shutdown,
    )?;
    http::spawn(
        listener,
        AgentStatus {
            agent_id: config.agent_id.clone(),
            sources: sources.clone(),
            uplink: uplink.clone(),
            spool: spool.clone(),
            mempool: mempool.clone(),
        },
        shutdown,
    );
    Ok(RunningAgent {
        sources,
        uplink,
        spool,
        http_addr,
        mempool,
    })
}

/// Spools each verdict change and wakes the uplink so it reports at once.
fn spawn_recorder(
    mut transitions: mpsc::UnboundedReceiver<SpoolRecord>,
    spool: Spool,
    urgent: Arc<Notify>,
    executor: ExecutorState,
    shutdown: &Shutdown,
) {
    shutdown.spawn("recorder", async move {
        // Ends when every probe and gateway has stopped (their senders are dropped).
        while let Some(record) = transitions.recv().await {
            let transition = matches!(record, SpoolRecord::ChainTransition { .. });
            if let SpoolRecord::ChainTransition { chain, to, .. } = &record {
                let unusable = matches!(
                    to,
                    HealthState::Down
                        | HealthState::WrongChain
                        | HealthState::Syncing
                        | HealthState::Stale
                );
                if unusable && executor.release(chain) {
                    warn!(chain = %chain, state = %to, "node unusable: gave up the executor lease");
                    urgent.notify_one();
                }
            }
            let spool = spool.clone();
            match tokio::task::spawn_blocking(move || spool.push(record)).await {
                Ok(Ok(_seq)) => {}
                Ok(Err(err)) => error!(error = %err, "cannot spool a record"),
                Err(err) => error!(error = %err, "the spool writer failed"),
            }
            // Verdict changes are worth a heartbeat now; outcomes can wait.
            if transition {
                urgent.notify_one();
            }
        }
    });
}
