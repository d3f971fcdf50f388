//! A coordinator member's core: its store, its Raft instance, its peers, and
//! the operations the services call (writes, current reads, membership,
//! status). Forms the cluster with no manual step on first start.

mod batch;
mod membership;
mod raft_thread;
mod write;

pub use membership::unix_ms;
pub use raft_thread::{RaftThreadError, RAFT_THREAD_NAME};

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mevfleet_common::net::HostPort;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{self, Credentials, Service, TlsError};
use openraft::error::{InitializeError, RaftError};
use openraft::{ServerState, SnapshotPolicy};
use tracing::{info, warn};

use crate::raft::log_store::LogStore;
use crate::raft::network::{NetworkFactory, PeerClient, PeerError, PEER_TRANSPORT};
use crate::raft::raft_port::serve_raft_port;
use crate::raft::service::RaftService;
use crate::raft::state_machine::{StateMachine, StateView};
use crate::raft::store::{self, StoreError};
use crate::raft::types::StorageError;
use crate::raft::wal_sync::WalSync;
use crate::raft::wire::MemberStatus;
use crate::raft::{MemberNode, Raft};
use raft_thread::RaftThread;

pub(crate) use write::Retry;
pub use write::WRITE_DEADLINE;

/// Raft timings and log compaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RaftTuning {
    /// The leader's heartbeat to followers.
    pub heartbeat: Duration,
    /// Elections start after a random timeout in this range without a leader.
    pub election_min: Duration,
    /// See `election_min`.
    pub election_max: Duration,
    /// A snapshot is built after this many entries since the last one; the
    /// log before it is then purged.
    pub snapshot_every: u64,
}

impl Default for RaftTuning {
    fn default() -> Self {
        // Elections must finish well inside an executor lease (2 s by
        // default) so that a leader change does not interrupt execution:
        // openraft's followers wait out their leader's lease (an election
        // timeout) before voting, so a leader death costs up to about two
        // election timeouts. Still four missed heartbeats, and far above a
        // slow fsync (p99 about 10 ms here), before a follower stands.
        Self {
            heartbeat: Duration::from_millis(100),
            election_min: Duration::from_millis(400),
            election_max: Duration::from_millis(700),
            snapshot_every: 5000,
        }
    }
}

/// What a member needs to start.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// Its node id.
    pub node_id: u64,
    /// Its data folder (the store lives in `<data_dir>/raft`).
    pub data_dir: PathBuf,
    /// The initial members; empty for a member that will be added to an
    /// existing cluster with `mevfleet cluster add`.
    pub peers: BTreeMap<u64, HostPort>,
    /// Raft timings.
    pub tuning: RaftTuning,
    /// Where to serve Raft's own port (openraft's calls between members,
    /// and the port this member dials them from); by default a free port
    /// on every address of the QUIC port's family.
    pub raft_listen: Option<SocketAddr>,
    /// The Raft port the other members are told to dial, when it is not
    /// the bound one (a port forwarded or relayed to it).
    pub raft_advertised_port: Option<u16>,
}

/// Why a member could not start or an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store failed while reading or writing.
    #[error("store failure: {0}")]
    Storage(#[from] StorageError),
    /// The QUIC client for peers could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Raft's own port could not be opened.
    #[error("cannot open Raft's port on {addr}: {reason} (is another process using it? change `raft_listen`)")]
    RaftPort {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The thread Raft runs on could not be started.
    #[error(transparent)]
    Thread(#[from] RaftThreadError),
    /// The thread that syncs the leader's entries could not be started.
    #[error("cannot start the WAL sync thread: {0}")]
    WalSyncThread(std::io::Error),
    /// openraft refused its configuration or stopped with a fatal error.
    #[error("raft: {0}")]
    Raft(String),
    /// No leader could be found before the deadline; retry later.
    #[error("no leader elected within {} ms; retry", .0.as_millis())]
    NoLeader(Duration),
    /// The request reached the leader but its outcome is unknown (the
    /// connection broke after it was sent): it may or may not be committed.
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
    /// A peer could not be asked.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// This member is not the leader (the caller routes to the leader).
    #[error("this member is not the leader")]
    NotLeader,
    /// The request is not valid for the cluster as it is.
    #[error("{0}")]
    Invalid(String),
}

/// A running member.
pub struct NodeCore {
    node_id: u64,
    raft: Raft,
    view: StateView,
    peers: Arc<PeerClient>,
    /// The Raft port the other members are told to dial.
    raft_port: u16,
    batcher: batch::Batcher,
    /// Last: its tasks (Raft's core among them) stop when it is dropped.
    raft_thread: RaftThread,
}

impl std::fmt::Debug for NodeCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCore")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl NodeCore {
    /// Opens the store, starts Raft, and initialises the cluster if this
    /// member is pristine and has initial peers. `listen` is the member's
    /// QUIC address. Raft's own port (`settings.raft_listen`, by default a
    /// free port on `listen`'s address family) is opened here, driven by
    /// the Raft thread: the member dials its peers from it, so the answers
    /// to its Raft calls never queue behind agent traffic, and serves
    /// openraft's calls on it once [`NodeCore::serve_raft_port`] runs.
    pub async fn start(
        settings: NodeSettings,
        listen: SocketAddr,
        creds: &Credentials,
    ) -> Result<Arc<Self>, NodeError> {
        let db = store::open(&settings.data_dir.join("raft"))?;
        let wal_sync = WalSync::start(&db).map_err(NodeError::WalSyncThread)?;
        let log = LogStore::new(db.clone(), settings.node_id, wal_sync.clone());
        let state_machine = StateMachine::open(db, wal_sync.clone())?;
        let view = state_machine.view();
        let raft_thread = RaftThread::start()?;
        let raft_bind = settings.raft_listen.unwrap_or_else(|| {
            let any: IpAddr = if listen.is_ipv6() {
                Ipv6Addr::UNSPECIFIED.into()
            } else {
                Ipv4Addr::UNSPECIFIED.into()
            };
            SocketAddr::new(any, 0)
        });
        let raft_port_error = |reason: String| NodeError::RaftPort {
            addr: raft_bind,
            reason,
        };
        let endpoint = {
            // quinn drives an endpoint on the runtime it is made on.
            let _on_raft_thread = raft_thread.handle().enter();
            tls::server_endpoint(raft_bind, creds, &[Service::Raft], PEER_TRANSPORT)
                .map_err(|err| raft_port_error(err.to_string()))?
        };
        let raft_port = match settings.raft_advertised_port {
            Some(port) => port,
            None => endpoint
                .local_addr()
                .map_err(|err| raft_port_error(err.to_string()))?
                .port(),
        };
        let peers = Arc::new(PeerClient::new(
            endpoint,
            creds,
            raft_thread.handle().clone(),
        )?);
        let tuning = settings.tuning;
        let config = openraft::Config {
            cluster_name: "mevfleet".into(),
            heartbeat_interval: tuning.heartbeat.as_millis() as u64,
            election_timeout_min: tuning.election_min.as_millis() as u64,
            election_timeout_max: tuning.election_max.as_millis() as u64,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(tuning.snapshot_every),
            max_in_snapshot_log_to_keep: 0,
            snapshot_max_chunk_size: 1 << 20,
            ..Default::default()
        }
        .validate()
        .map_err(|err| NodeError::Raft(err.to_string()))?;
        // openraft spawns its core and replication tasks, and the batcher
        // its loop, on the runtime they are started from.
        let network = NetworkFactory::new(peers.clone(), wal_sync);
        let node_id = settings.node_id;
        let (raft, batcher) = raft_thread
            .spawn(async move {
                let raft = Raft::new(node_id, Arc::new(config), network, log, state_machine)
                    .await
                    .map_err(|err| NodeError::Raft(err.to_string()))?;
                let batcher = batch::Batcher::spawn(raft.clone(), node_id);
                Ok::<_, NodeError>((raft, batcher))
            })
            .await
            .map_err(|err| NodeError::Raft(format!("raft did not start: {err}")))??;
        let core = Arc::new(Self {
            node_id,
            batcher,
            raft,
            view,
            peers,
            raft_port,
            raft_thread,
        });
        core.form_cluster(&settings.peers).await?;
        Ok(core)
    }

    /// First start: every pristine member with the same initial peers
    /// proposes the same membership, which openraft documents as safe.
    /// Later starts find the store initialised and do nothing.
    async fn form_cluster(&self, peers: &BTreeMap<u64, HostPort>) -> Result<(), NodeError> {
        if peers.is_empty() {
            info!(
                node_id = self.node_id,
                "no initial peers: waiting to be added to a cluster"
            );
            return Ok(());
        }
        let members: BTreeMap<u64, MemberNode> = peers
            .iter()
            .map(|(id, addr)| {
                (
                    *id,
                    MemberNode {
                        addr: addr.to_string(),
                    },
                )
            })
            .collect();
        match self.raft.initialize(members).await {
            Ok(()) => info!(
                node_id = self.node_id,
                members = peers.len(),
                "cluster initialised"
            ),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                info!(
                    node_id = self.node_id,
                    "store already initialised: rejoining"
                );
            }
            Err(err) => return Err(NodeError::Raft(err.to_string())),
        }
        Ok(())
    }

    /// This member's node id.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The peers (by public address) this member reaches on their Raft
    /// port; the others get openraft's calls on their public port.
    pub fn peers_on_raft_port(&self) -> Vec<String> {
        self.peers.on_raft_port()
    }

    /// The openraft handle (metrics, waits).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The applied state, for reads that need not be confirmed current.
    pub fn view(&self) -> &StateView {
        &self.view
    }

    /// The Raft port the other members dial for openraft's calls.
    pub fn raft_port(&self) -> u16 {
        self.raft_port
    }

    /// Serves openraft's calls from the other members on the Raft port,
    /// on the Raft thread, until `shutdown`.
    pub(crate) fn serve_raft_port(&self, service: Arc<RaftService>, shutdown: &Shutdown) {
        let serving = serve_raft_port(self.peers.endpoint().clone(), service, shutdown.clone());
        shutdown.spawn_on("raft-port", self.raft_thread.handle(), serving);
    }

    pub(crate) fn peers(&self) -> &PeerClient {
        &self.peers
    }

    /// This member's own status, from its Raft metrics.
    pub fn status(&self) -> MemberStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let role = match metrics.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        MemberStatus {
            node_id: self.node_id,
            role: role.into(),
            term: metrics.current_term,
            leader: metrics.current_leader,
            last_applied: metrics.last_applied.map(|id| id.index).unwrap_or(0),
            last_log: metrics.last_log_index.unwrap_or(0),
            running: metrics.running_state.is_ok(),
        }
    }

    /// Stops Raft (flushes nothing more: every acknowledged write is already
    /// on disk).
    pub async fn shutdown(&self) {
        if let Err(err) = self.raft.shutdown().await {
            warn!(error = %err, "raft did not stop cleanly");
        }
        // The peers' side of the connections this member dialled is freed
        // now rather than at their idle timeout.
        self.peers.close();
    }
}
