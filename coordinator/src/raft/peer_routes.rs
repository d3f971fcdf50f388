//! How this member reaches each peer's Raft port. openraft's own calls
//! (append, vote, snapshot) go to a port each member serves from its Raft
//! thread (see [`super::raft_port`]); a member learns a peer's Raft port by
//! asking on the peer's public QUIC port, and dials it from its own Raft
//! endpoint. Until that dial succeeds, or while the port cannot be reached
//! (a firewall, a peer of an older version), everything goes through the
//! public port as before: the Raft port saves time, never availability.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mevfleet_common::tls;
use mevfleet_common::wire::{call, RpcLimits};

use super::wire::{RaftRequest, RaftResponse};

/// How long to use the public port before asking again for a Raft port
/// that could not be reached.
pub const RETRY_RAFT_PORT: Duration = Duration::from_secs(30);
/// How long to wait for a peer to name its Raft port.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// Where openraft's calls to one peer go.
#[derive(Debug)]
enum Route {
    /// Asking the peer for its Raft port, or dialling it.
    Finding,
    /// Connected to the peer's Raft port.
    RaftPort(quinn::Connection),
    /// The public port, until `retry_at`.
    PublicPort { retry_at: Instant },
}

/// The route to every peer, by the peer's public address.
#[derive(Debug, Default)]
pub struct PeerRoutes {
    routes: Mutex<HashMap<String, Route>>,
}

impl PeerRoutes {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Route>> {
        // The map holds no invariant a panicking holder could break.
        self.routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The open connection to `addr`'s Raft port, if there is one.
    pub fn raft_port(&self, addr: &str) -> Option<quinn::Connection> {
        let mut routes = self.lock();
        match routes.get(addr) {
            Some(Route::RaftPort(conn)) if conn.close_reason().is_none() => Some(conn.clone()),
            Some(Route::RaftPort(_)) => {
                routes.remove(addr);
                None
            }
            _ => None,
        }
    }

    /// The peers with an open connection to their Raft port, sorted.
    pub fn on_raft_port(&self) -> Vec<String> {
        let mut peers: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, route)| {
                matches!(route, Route::RaftPort(conn) if conn.close_reason().is_none())
            })
            .map(|(addr, _)| addr.clone())
            .collect();
        peers.sort();
        peers
    }

    /// Whether to look for `addr`'s Raft port now; if so, marks it being
    /// looked for, so only one search runs at a time.
    pub fn start_finding(&self, addr: &str, now: Instant) -> bool {
        let mut routes = self.lock();
        let due = match routes.get(addr) {
            None => true,
            Some(Route::PublicPort { retry_at }) => *retry_at <= now,
            Some(Route::Finding | Route::RaftPort(_)) => false,
        };
        if due {
            routes.insert(addr.to_owned(), Route::Finding);
        }
        due
    }

    /// The search for `addr`'s Raft port ended: connected, or not (then the
    /// public port is used until [`RETRY_RAFT_PORT`] has passed).
    pub fn found(&self, addr: &str, found: Option<quinn::Connection>, now: Instant) {
        let route = match found {
            Some(conn) => Route::RaftPort(conn),
            None => Route::PublicPort {
                retry_at: now + RETRY_RAFT_PORT,
            },
        };
        self.lock().insert(addr.to_owned(), route);
    }

    /// A call on `conn`, the connection to `addr`'s Raft port, failed: the
    /// next call looks for the port again (the peer may have restarted on
    /// another one).
    pub fn failed(&self, addr: &str, conn: &quinn::Connection) {
        let mut routes = self.lock();
        if matches!(routes.get(addr), Some(Route::RaftPort(known)) if known.stable_id() == conn.stable_id())
        {
            routes.remove(addr);
        }
        conn.close(quinn::VarInt::from_u32(0), b"call failed");
    }
}

/// Asks the peer behind `public` (a connection to its public port) for its
/// Raft port and dials it from `endpoint`, at the address `public` reached.
pub async fn find_raft_port(
    public: &quinn::Connection,
    endpoint: &quinn::Endpoint,
    config: quinn::ClientConfig,
    dial_timeout: Duration,
) -> Result<quinn::Connection, String> {
    let limits = RpcLimits {
        timeout: ASK_TIMEOUT,
        ..RpcLimits::default()
    };
    let port = match call::<_, RaftResponse>(public, &RaftRequest::RaftPort, limits).await {
        Ok(RaftResponse::RaftPort(port)) => port,
        Ok(_) => return Err("the peer answered with another reply".into()),
        Err(err) => return Err(format!("the peer did not name its Raft port: {err}")),
    };
    let target = SocketAddr::new(public.remote_address().ip(), port);
    tls::connect(endpoint, config, target, dial_timeout)
        .await
        .map_err(|err| format!("its Raft port {target}: {err}"))
}

#[cfg(test)]
#[path = "peer_routes_tests.rs"]
mod tests;
