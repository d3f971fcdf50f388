//! An in-process coordinator cluster: members bound on `127.0.0.1:0` with
//! fresh certificates and temp data folders, started with each other's
//! addresses, and stopped, restarted (same ports, same data) or added one
//! by one. Each member's QUIC port and Raft port sit behind relays, so the
//! harness can cut links.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use mevfleet_common::identity::Role;
use mevfleet_common::net::HostPort;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{Credentials, FleetCa};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse, ClusterStatus, WriteReceipt};
use mevfleet_coordinator::fleet::FleetPolicy;
use mevfleet_coordinator::node::{NodeCore, NodeSettings, RaftTuning};
use mevfleet_coordinator::runtime::{BoundCoordinator, SHUTDOWN_GRACE};
use mevfleet_coordinator::server::Signer;

use crate::coordinator::{admin_request, LOCALHOST};
use crate::relay::Relay;
use crate::wait::{wait_until, DEFAULT_DEADLINE};
use crate::TestPki;

/// One member: where it listens and keeps its data, and whether it runs.
#[derive(Debug)]
struct Member {
    quic: SocketAddr,
    relay: Relay,
    /// Its Raft port (it dials its peers from there too), and the relay
    /// the other members are told to dial instead.
    raft: SocketAddr,
    raft_relay: Relay,
    http: SocketAddr,
    data_dir: PathBuf,
    creds: Credentials,
    peers: BTreeMap<u64, HostPort>,
    running: Option<(Arc<NodeCore>, Shutdown)>,
}

/// A cluster of in-process coordinators.
#[derive(Debug)]
pub struct TestCluster {
    pki: TestPki,
    admin: Credentials,
    tuning: RaftTuning,
    members: BTreeMap<u64, Member>,
}

impl TestCluster {
    /// Starts `size` members (ids 1..=size) that form a cluster by themselves.
    pub async fn start(size: u64) -> anyhow::Result<Self> {
        Self::start_with(size, RaftTuning::default()).await
    }

    /// Like [`Self::start`] with explicit Raft tuning.
    pub async fn start_with(size: u64, tuning: RaftTuning) -> anyhow::Result<Self> {
        let pki = TestPki::new()?;
        let admin = pki.creds(Role::Admin, "root")?;
        let mut cluster = Self {
            pki,
            admin,
            tuning,
            members: BTreeMap::new(),
        };
        let mut bound = Vec::new();
        for id in 1..=size {
            let creds = cluster
                .pki
                .creds(Role::Coordinator, &format!("coord-{id}"))?;
            let member = BoundCoordinator::bind(LOCALHOST, LOCALHOST, creds.clone()).await?;
            let data_dir = cluster.pki.root().join(format!("coord-{id}-data"));
            let quic = member.quic_addr()?;
            let raft = free_udp_port()?;
            cluster.members.insert(
                id,
                Member {
                    quic,
                    relay: Relay::start(quic).await?,
                    raft,
                    raft_relay: Relay::start(raft).await?,
                    http: member.http_addr()?,
                    data_dir,
                    creds,
                    peers: BTreeMap::new(),
                    running: None,
                },
            );
            bound.push((id, member));
        }
        // Members reach each other through their relays, so links can be cut.
        let peers: BTreeMap<u64, HostPort> = cluster
            .members
            .iter()
            .map(|(id, m)| (*id, m.relay.front().into()))
            .collect();
        for (id, member) in bound {
            cluster.member_mut(id)?.peers = peers.clone();
            cluster.launch(id, member).await?;
        }
        Ok(cluster)
    }

    fn member(&self, id: u64) -> anyhow::Result<&Member> {
        self.members
            .get(&id)
            .ok_or_else(|| anyhow::anyhow!("no member {id}"))
    }

    fn member_mut(&mut self, id: u64) -> anyhow::Result<&mut Member> {
        self.members
            .get_mut(&id)
            .ok_or_else(|| anyhow::anyhow!("no member {id}"))
    }

    /// Starts a bound member. Every in-process member holds the test CA's
    /// key, so it signs enrollments.
    async fn launch(&mut self, id: u64, bound: BoundCoordinator) -> anyhow::Result<()> {
        let tuning = self.tuning;
        let signer = Signer {
            ca: FleetCa::load(&self.pki.ca_path(), &self.pki.ca_key_path())?,
            cert_days: 30,
        };
        let bound = bound.with_signer(signer);
        let member = self.member_mut(id)?;
        let shutdown = Shutdown::new();
        let settings = NodeSettings {
            node_id: id,
            data_dir: member.data_dir.clone(),
            peers: member.peers.clone(),
            tuning,
            raft_listen: Some(member.raft),
            raft_advertised_port: Some(member.raft_relay.front().port()),
        };
        let fleet = bound
            .start(settings, FleetPolicy::default(), &shutdown)
            .await?;
        member.running = Some((fleet.core().clone(), shutdown));
        Ok(())
    }

    /// The PKI that issued the members' certificates.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// Ids of every member, running or not.
    pub fn ids(&self) -> Vec<u64> {
        self.members.keys().copied().collect()
    }

    /// Ids of the running members.
    pub fn running(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|(_, m)| m.running.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// A member's QUIC address.
    pub fn addr(&self, id: u64) -> anyhow::Result<SocketAddr> {
        Ok(self.member(id)?.quic)
    }

    /// The address the other members use for member `id` (its relay):
    /// what `cluster add` must be given.
    pub fn peer_addr(&self, id: u64) -> anyhow::Result<SocketAddr> {
        Ok(self.member(id)?.relay.front())
    }

    /// Cuts member `id` off from the other members (both directions). The
    /// harness can still reach it directly.
    pub fn isolate(&self, id: u64) -> anyhow::Result<()> {
        self.set_isolated(id, true)
    }

    /// Restores member `id`'s links.
    pub fn heal(&self, id: u64) -> anyhow::Result<()> {
        self.set_isolated(id, false)
    }

    fn set_isolated(&self, id: u64, isolated: bool) -> anyhow::Result<()> {
        let member = self.member(id)?;
        member.relay.set_down(isolated);
        member.raft_relay.set_down(isolated);
        // A member dials its peers from its Raft port, and answers
        // forwarded requests from its QUIC port.
        let sources = [member.quic, member.raft];
        for (other_id, other) in &self.members {
            if *other_id != id {
                for source in &sources {
                    other.relay.set_blocked(*source, isolated);
                    other.raft_relay.set_blocked(*source, isolated);
                }
            }
        }
        Ok(())
    }

    /// Cuts (or restores) the links between members' public QUIC ports,
    /// leaving their Raft ports and the harness's own links alone.
    pub fn cut_public_links(&self, cut: bool) {
        for (id, member) in &self.members {
            for (other_id, other) in &self.members {
                if other_id != id {
                    other.relay.set_blocked(member.raft, cut);
                }
            }
        }
    }

    /// Makes every member's Raft port unreachable (or reachable again).
    pub fn set_raft_ports_down(&self, down: bool) {
        for member in self.members.values() {
            member.raft_relay.set_down(down);
        }
    }

    /// A member's HTTP address.
    pub fn http_addr(&self, id: u64) -> anyhow::Result<SocketAddr> {
        Ok(self.member(id)?.http)
    }

    /// A running member's core.
    pub fn core(&self, id: u64) -> anyhow::Result<Arc<NodeCore>> {
        self.member(id)?
            .running
            .as_ref()
            .map(|(core, _)| core.clone())
            .ok_or_else(|| anyhow::anyhow!("member {id} is not running"))
    }

    /// Waits until the running members agree on a running leader.
    pub async fn wait_for_leader(&self) -> anyhow::Result<u64> {
        wait_until(
            "a leader the running members agree on",
            DEFAULT_DEADLINE,
            || async {
                let running = self.running();
                let leaders: BTreeSet<Option<u64>> = running
                    .iter()
                    .filter_map(|id| self.core(*id).ok())
                    .map(|core| core.raft().metrics().borrow().current_leader)
                    .collect();
                match leaders.into_iter().collect::<Vec<_>>().as_slice() {
                    [Some(leader)] if running.contains(leader) => Some(*leader),
                    _ => None,
                }
            },
        )
        .await
    }

    /// Waits until member `id` has applied at least `index`.
    pub async fn wait_applied(&self, id: u64, index: u64) -> anyhow::Result<()> {
        let core = self.core(id)?;
        wait_until(
            &format!("member {id} to apply index {index}"),
            DEFAULT_DEADLINE,
            || async { (core.status().last_applied >= index).then_some(()) },
        )
        .await
    }

    /// Stops member `id` and waits for all its tasks (its data stays).
    pub async fn stop(&mut self, id: u64) -> anyhow::Result<()> {
        let (core, shutdown) = self
            .member_mut(id)?
            .running
            .take()
            .ok_or_else(|| anyhow::anyhow!("member {id} is not running"))?;
        shutdown.cancel();
        anyhow::ensure!(
            shutdown.wait(SHUTDOWN_GRACE).await,
            "member {id} stopped in time"
        );
        drop(core);
        Ok(())
    }

    /// Restarts a stopped member on its old ports with its old data.
    pub async fn restart(&mut self, id: u64) -> anyhow::Result<()> {
        let member = self.member(id)?;
        let (quic, http, raft) = (member.quic, member.http, member.raft);
        let creds = member.creds.clone();
        let bound = wait_until(
            &format!("member {id}'s ports and store to be free"),
            DEFAULT_DEADLINE,
            || {
                let creds = creds.clone();
                async move {
                    std::net::UdpSocket::bind(raft).ok()?;
                    BoundCoordinator::bind(quic, http, creds).await.ok()
                }
            },
        )
        .await?;
        self.launch(id, bound).await
    }

    /// Starts a new member with no initial peers (it waits to be added) and
    /// returns its id.
    pub async fn spawn_joiner(&mut self) -> anyhow::Result<u64> {
        let id = self.members.keys().max().copied().unwrap_or(0) + 1;
        let creds = self.pki.creds(Role::Coordinator, &format!("coord-{id}"))?;
        let bound = BoundCoordinator::bind(LOCALHOST, LOCALHOST, creds.clone()).await?;
        let quic = bound.quic_addr()?;
        let raft = free_udp_port()?;
        self.members.insert(
            id,
            Member {
                quic,
                relay: Relay::start(quic).await?,
                raft,
                raft_relay: Relay::start(raft).await?,
                http: bound.http_addr()?,
                data_dir: self.pki.root().join(format!("coord-{id}-data")),
                creds,
                peers: BTreeMap::new(),
                running: None,
            },
        );
        self.launch(id, bound).await?;
        Ok(id)
    }

    /// An admin request sent to member `via`, as the admin `root`.
    pub async fn admin(&self, via: u64, request: &AdminRequest) -> anyhow::Result<AdminResponse> {
        Ok(admin_request(&self.admin, self.addr(via)?, request).await?)
    }

    /// Sets `key = value` through member `via`.
    pub async fn set(&self, via: u64, key: &str, value: &str) -> anyhow::Result<WriteReceipt> {
        let request = AdminRequest::SetSetting {
            key: key.into(),
            value: value.into(),
        };
        match self.admin(via, &request).await? {
            AdminResponse::Written(receipt) => Ok(receipt),
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
    }

    /// Every setting, read through member `via` (confirmed by the leader).
    pub async fn settings(&self, via: u64) -> anyhow::Result<BTreeMap<String, String>> {
        match self.admin(via, &AdminRequest::GetSettings).await? {
            AdminResponse::Settings(settings) => Ok(settings),
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
    }

    /// The cluster status as member `via` reports it.
    pub async fn status(&self, via: u64) -> anyhow::Result<ClusterStatus> {
        match self.admin(via, &AdminRequest::ClusterStatus).await? {
            AdminResponse::ClusterStatus(status) => Ok(status),
            other => anyhow::bail!("unexpected answer {other:?}"),
        }
    }

    /// Stops every running member.
    pub async fn stop_all(&mut self) -> anyhow::Result<()> {
        for id in self.running() {
            self.stop(id).await?;
        }
        Ok(())
    }
}

/// A UDP address on loopback that was free a moment ago, for a member's
/// Raft port (its relay needs the port before the member starts).
fn free_udp_port() -> std::io::Result<SocketAddr> {
    std::net::UdpSocket::bind(LOCALHOST)?.local_addr()
}
