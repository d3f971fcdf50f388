//! The Raft network over QUIC: per peer, a cached connection to its public
//! port and, for openraft's own calls, one to its Raft port (see
//! [`super::peer_routes`]), on the Raft service with coordinator
//! certificates only, and openraft's network traits on top.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mevfleet_common::identity::Role;
use mevfleet_common::net::HostPort;
use mevfleet_common::tls::{self, Credentials, ExpectedPeer, Service, TlsError, TransportSettings};
use mevfleet_common::wire::{call, RpcError, RpcLimits};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use tokio::sync::Mutex;
use tracing::{debug, warn, Instrument};

use super::peer_routes::{find_raft_port, PeerRoutes, RETRY_RAFT_PORT};
use super::types::{MemberNode, TypeConfig};
use super::wal_sync::WalSync;
use super::wire::{RaftRequest, RaftResponse};

/// Frame limit between coordinators: entry batches and snapshot chunks.
pub const RAFT_MAX_FRAME: usize = 16 << 20;
/// QUIC timings between members: a peer silent for 3 s is gone, so a
/// member that restarted on another Raft port is looked for again soon.
pub const PEER_TRANSPORT: TransportSettings = TransportSettings {
    idle_timeout: Duration::from_secs(3),
    keep_alive: Duration::from_secs(1),
};
/// How long to wait for a peer to answer a dial.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a call to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer could not be reached (dial failed or the connection broke).
    #[error("peer {addr} unreachable: {reason}")]
    Unreachable {
        /// The peer's address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The peer answered, but not with a usable reply.
    #[error("peer {addr}: {source}")]
    Call {
        /// The peer's address.
        addr: String,
        /// What went wrong.
        source: RpcError,
    },
    /// The peer answered with a reply of another kind.
    #[error("peer {addr} answered with an unexpected reply")]
    UnexpectedReply {
        /// The peer's address.
        addr: String,
    },
}

/// Connections to the other coordinators, made from this member's Raft
/// endpoint (which also serves its Raft port) with its coordinator
/// certificate.
#[derive(Debug)]
pub struct PeerClient {
    endpoint: quinn::Endpoint,
    config: quinn::ClientConfig,
    /// Connections to the peers' public ports, by address.
    connections: Mutex<HashMap<String, quinn::Connection>>,
    /// Where openraft's calls to each peer go.
    routes: Arc<PeerRoutes>,
    /// The runtime connections are dialled on: a connection's driver (its
    /// sends, timers and retransmits) runs where it was dialled, so peer
    /// connections stay on the Raft thread whoever dials first.
    dial_on: tokio::runtime::Handle,
}

impl PeerClient {
    /// A client dialling from `endpoint` with `creds`, driving its
    /// connections on `dial_on`.
    pub fn new(
        endpoint: quinn::Endpoint,
        creds: &Credentials,
        dial_on: tokio::runtime::Handle,
    ) -> Result<Self, TlsError> {
        let config = tls::client_config(
            creds,
            Service::Raft,
            ExpectedPeer::role(Role::Coordinator),
            PEER_TRANSPORT,
        )?;
        Ok(Self {
            endpoint,
            config,
            connections: Mutex::new(HashMap::new()),
            routes: Arc::default(),
            dial_on,
        })
    }

    /// The peers reached on their Raft port, by public address.
    pub fn on_raft_port(&self) -> Vec<String> {
        self.routes.on_raft_port()
    }

    /// Closes every connection this member dialled, telling the peers.
    pub fn close(&self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), b"member stopping");
    }

    /// This member's Raft endpoint: it dials the peers and serves the Raft
    /// port.
    pub fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// Sends `request` to the member at `addr` (its public address) and
    /// waits at most `timeout`: openraft's own calls to the member's Raft
    /// port once it is known, everything else to its public port.
    pub async fn call(
        &self,
        addr: &str,
        request: &RaftRequest,
        timeout: Duration,
    ) -> Result<RaftResponse, PeerError> {
        let limits = RpcLimits {
            max_frame: RAFT_MAX_FRAME,
            timeout,
        };
        if request.is_consensus() {
            if let Some(conn) = self.routes.raft_port(addr) {
                return self.call_raft_port(addr, conn, request, limits).await;
            }
        }
        let conn = self.connection(addr).await?;
        if request.is_consensus() {
            self.find_raft_port(addr, &conn);
        }
        match call::<_, RaftResponse>(&conn, request, limits).await {
            Ok(response) => Ok(response),
            Err(err @ RpcError::Connection(_)) => {
                self.connections.lock().await.remove(addr);
                Err(PeerError::Unreachable {
                    addr: addr.to_owned(),
                    reason: err.to_string(),
                })
            }
            Err(source) => Err(PeerError::Call {
                addr: addr.to_owned(),
                source,
            }),
        }
    }

    async fn call_raft_port(
        &self,
        addr: &str,
        conn: quinn::Connection,
        request: &RaftRequest,
        limits: RpcLimits,
    ) -> Result<RaftResponse, PeerError> {
        let result = call::<_, RaftResponse>(&conn, request, limits).await;
        if let Err(RpcError::Connection(_)) = &result {
            // Gone (closed, reset, or silent past the idle timeout, as a
            // peer that restarted on another port is): look for the port
            // again on the next call.
            self.routes.failed(addr, &conn);
        }
        result.map_err(|err| match err {
            RpcError::Connection(_) => PeerError::Unreachable {
                addr: addr.to_owned(),
                reason: format!("its Raft port: {err}"),
            },
            source => PeerError::Call {
                addr: addr.to_owned(),
                source,
            },
        })
    }

    /// Looks for `addr`'s Raft port in the background (on the Raft
    /// thread), unless a search is running or failed recently.
    fn find_raft_port(&self, addr: &str, public: &quinn::Connection) {
        if !self.routes.start_finding(addr, Instant::now()) {
            return;
        }
        let (routes, endpoint, config) = (
            self.routes.clone(),
            self.endpoint.clone(),
            self.config.clone(),
        );
        let (public, addr) = (public.clone(), addr.to_owned());
        let search = async move {
            let found = match find_raft_port(&public, &endpoint, config, DIAL_TIMEOUT).await {
                Ok(conn) => {
                    debug!(peer = %addr, raft_port = %conn.remote_address(), "Raft calls go to the peer's Raft port");
                    Some(conn)
                }
                Err(reason) => {
                    warn!(
                        peer = %addr,
                        %reason,
                        retry_s = RETRY_RAFT_PORT.as_secs(),
                        "Raft calls go to the peer's public port"
                    );
                    None
                }
            };
            routes.found(&addr, found, Instant::now());
        };
        // Bounded by the ask and dial timeouts; nothing to stop.
        self.dial_on
            .spawn(search.instrument(tracing::info_span!("task", name = "find-raft-port")));
    }

    async fn connection(&self, addr: &str) -> Result<quinn::Connection, PeerError> {
        let unreachable = |reason: String| PeerError::Unreachable {
            addr: addr.to_owned(),
            reason,
        };
        if let Some(conn) = self.connections.lock().await.get(addr) {
            if conn.close_reason().is_none() {
                return Ok(conn.clone());
            }
        }
        let target: HostPort = addr
            .parse()
            .map_err(|err: mevfleet_common::net::InvalidHostPort| unreachable(err.to_string()))?;
        let socket: SocketAddr = target
            .resolve()
            .await
            .map_err(|err| unreachable(err.to_string()))?
            .into_iter()
            .next()
            .ok_or_else(|| unreachable("resolves to no address".into()))?;
        let (endpoint, config) = (self.endpoint.clone(), self.config.clone());
        let dial = async move { tls::connect(&endpoint, config, socket, DIAL_TIMEOUT).await };
        let conn = self
            .dial_on
            .spawn(dial)
            .await
            .map_err(|err| unreachable(format!("the dial did not finish: {err}")))?
            .map_err(unreachable)?;
        self.connections
            .lock()
            .await
            .insert(addr.to_owned(), conn.clone());
        Ok(conn)
    }
}

/// openraft's network factory over [`PeerClient`].
#[derive(Clone, Debug)]
pub struct NetworkFactory {
    peers: Arc<PeerClient>,
    wal_sync: WalSync,
}

impl NetworkFactory {
    /// A factory sharing `peers`; a commit index goes out only once
    /// `wal_sync` has this member's entries up to it on disk.
    pub fn new(peers: Arc<PeerClient>, wal_sync: WalSync) -> Self {
        Self { peers, wal_sync }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: u64, node: &MemberNode) -> Self::Network {
        PeerNetwork {
            peers: self.peers.clone(),
            wal_sync: self.wal_sync.clone(),
            target,
            node: node.clone(),
        }
    }
}

/// openraft's network to one peer.
#[derive(Debug)]
pub struct PeerNetwork {
    peers: Arc<PeerClient>,
    wal_sync: WalSync,
    target: u64,
    node: MemberNode,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<u64, MemberNode, RaftError<u64, E>>>;

impl PeerNetwork {
    async fn send<E: std::error::Error>(
        &self,
        request: RaftRequest,
        option: &RPCOption,
    ) -> Result<RaftResponse, RPCError<u64, MemberNode, RaftError<u64, E>>> {
        self.peers
            .call(&self.node.addr, &request, option.hard_ttl())
            .await
            .map_err(|err| match err {
                PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&err)),
                _ => RPCError::Network(NetworkError::new(&err)),
            })
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<u64, MemberNode, RaftError<u64, E>> {
        RPCError::Network(NetworkError::new(&PeerError::UnexpectedReply {
            addr: self.node.addr.clone(),
        }))
    }

    fn remote<E: std::error::Error>(
        &self,
        err: RaftError<u64, E>,
    ) -> RPCError<u64, MemberNode, RaftError<u64, E>> {
        RPCError::RemoteError(RemoteError::new_with_node(
            self.target,
            self.node.clone(),
            err,
        ))
    }
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        // The leader's own entries may still be syncing here (see
        // wal_sync): followers learn a commit index only once it is durable
        // on this member too, so they never apply what a crash here loses.
        if let Some(committed) = rpc.leader_commit {
            self.wal_sync
                .wait_durable(committed.index)
                .await
                .map_err(|err| RPCError::Network(NetworkError::new(&err)))?;
        }
        match self.send(RaftRequest::AppendEntries(rpc), &option).await? {
            RaftResponse::AppendEntries(result) => result.map_err(|err| self.remote(err)),
            _ => Err(self.unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, InstallSnapshotError> {
        match self
            .send(RaftRequest::InstallSnapshot(rpc), &option)
            .await?
        {
            RaftResponse::InstallSnapshot(result) => result.map_err(|err| self.remote(err)),
            _ => Err(self.unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        match self.send(RaftRequest::Vote(rpc), &option).await? {
            RaftResponse::Vote(result) => result.map_err(|err| self.remote(err)),
            _ => Err(self.unexpected()),
        }
    }
}

#[cfg(test)]
#[path = "network_tests.rs"]
mod tests;
