//! A UDP relay in front of one cluster member, so the harness can cut links
//! without any hook in the product: the other members reach the member
//! through its relay, and the relay drops what the harness blocks.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Which traffic a relay drops.
#[derive(Debug, Default)]
struct Rules {
    /// Drop everything (the member behind it is cut off).
    down: bool,
    /// Drop traffic from and to these client addresses.
    blocked: HashSet<SocketAddr>,
}

/// A relay forwarding datagrams from any client to one target.
#[derive(Debug)]
pub struct Relay {
    front: SocketAddr,
    rules: Arc<Mutex<Rules>>,
    stop: CancellationToken,
}

impl Relay {
    /// Starts a relay on `127.0.0.1:0` in front of `target`.
    pub async fn start(target: SocketAddr) -> anyhow::Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let rules = Arc::new(Mutex::new(Rules::default()));
        let stop = CancellationToken::new();
        let relay = Self {
            front: front.local_addr()?,
            rules: rules.clone(),
            stop: stop.clone(),
        };
        tokio::spawn(run(front, target, rules, stop));
        Ok(relay)
    }

    /// The address clients send to.
    pub fn front(&self) -> SocketAddr {
        self.front
    }

    /// Drops everything (`true`) or nothing but the blocked clients (`false`).
    pub fn set_down(&self, down: bool) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.down = down;
        }
    }

    /// Drops (or stops dropping) the traffic of one client.
    pub fn set_blocked(&self, client: SocketAddr, blocked: bool) {
        if let Ok(mut rules) = self.rules.lock() {
            if blocked {
                rules.blocked.insert(client);
            } else {
                rules.blocked.remove(&client);
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn passes(rules: &Mutex<Rules>, client: SocketAddr) -> bool {
    rules
        .lock()
        .map(|r| !r.down && !r.blocked.contains(&client))
        .unwrap_or(false)
}

async fn run(
    front: Arc<UdpSocket>,
    target: SocketAddr,
    rules: Arc<Mutex<Rules>>,
    stop: CancellationToken,
) {
    let mut sessions: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let (len, client) = tokio::select! {
            _ = stop.cancelled() => return,
            received = front.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(_) => continue,
            },
        };
        if !passes(&rules, client) {
            continue;
        }
        let session = match sessions.get(&client) {
            Some(session) => session.clone(),
            None => {
                let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                if socket.connect(target).await.is_err() {
                    continue;
                }
                let socket = Arc::new(socket);
                sessions.insert(client, socket.clone());
                tokio::spawn(reply_path(
                    socket.clone(),
                    front.clone(),
                    client,
                    rules.clone(),
                    stop.clone(),
                ));
                socket
            }
        };
        let _dropped_on_error = session.send(&buf[..len]).await;
    }
}

/// Carries the target's answers back to `client`.
async fn reply_path(
    session: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    rules: Arc<Mutex<Rules>>,
    stop: CancellationToken,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let len = tokio::select! {
            _ = stop.cancelled() => return,
            received = session.recv(&mut buf) => match received {
                Ok(len) => len,
                Err(_) => continue,
            },
        };
        if passes(&rules, client) {
            let _dropped_on_error = front.send_to(&buf[..len], client).await;
        }
    }
}
