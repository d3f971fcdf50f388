//! t22 Raft's own port: openraft's calls between members go to each
//! member's Raft port once it is known, and fall back to the public QUIC
//! port when the Raft port cannot be reached; the Raft port answers
//! nothing else. Links are cut with the harness's relays.

use std::net::SocketAddr;
use std::time::Duration;

use mevfleet_common::identity::Role;
use mevfleet_common::tls::{self, ExpectedPeer, Service, TransportSettings};
use mevfleet_common::wire::{call, ErrorCode, RpcError, RpcLimits};
use mevfleet_coordinator::raft::wire::{RaftRequest, RaftResponse};
use mevfleet_tests::{http_get, init_logs, wait_until, TestCluster, DEFAULT_DEADLINE, LOCALHOST};

/// Waits until member `id` reaches `count` peers on their Raft port.
async fn wait_on_raft_port(cluster: &TestCluster, id: u64, count: usize) -> anyhow::Result<()> {
    let core = cluster.core(id)?;
    wait_until(
        &format!("member {id} to reach {count} peers on their Raft port"),
        DEFAULT_DEADLINE,
        || async { (core.peers_on_raft_port().len() == count).then_some(()) },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_goes_through_the_raft_port() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;
    cluster.set(leader, "before", "v").await?;
    wait_on_raft_port(&cluster, leader, 2).await?;
    let text = http_get(cluster.http_addr(leader)?, "/metrics").await?;
    assert!(
        text.contains("mevfleet_raft_peers_on_raft_port 2"),
        "the leader's metrics show both followers on their Raft port:\n{text}"
    );

    // --- the public ports between members are cut: writes to the leader
    // still commit on a quorum and reach every member
    cluster.cut_public_links(true);
    let mut last = 0;
    for i in 0..10 {
        let receipt = cluster.set(leader, &format!("raft-port-{i}"), "v").await?;
        assert!(receipt.refused.is_none(), "{receipt:?}");
        last = receipt.index;
    }
    for id in cluster.ids() {
        cluster.wait_applied(id, last).await?;
    }
    assert_eq!(
        cluster.wait_for_leader().await?,
        leader,
        "heartbeats went through the Raft port"
    );
    cluster.cut_public_links(false);
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_calls_fall_back_to_the_public_port_when_the_raft_port_is_unreachable(
) -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;
    cluster.set(leader, "before", "v").await?;
    wait_on_raft_port(&cluster, leader, 2).await?;

    // --- every Raft port goes dark: the members notice and use the public
    // ports (a new leader may be elected meanwhile)
    cluster.set_raft_ports_down(true);
    let receipt = wait_until(
        "a write to commit over the public ports",
        DEFAULT_DEADLINE,
        || async {
            for via in cluster.ids() {
                if let Ok(receipt) = cluster.set(via, "during", "v").await {
                    if receipt.refused.is_none() {
                        return Some(receipt);
                    }
                }
            }
            None
        },
    )
    .await?;
    let leader = cluster.wait_for_leader().await?;
    assert!(
        cluster.core(leader)?.peers_on_raft_port().is_empty(),
        "no peer is reached on a dark Raft port"
    );
    for id in cluster.ids() {
        cluster.wait_applied(id, receipt.index).await?;
    }
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_port_refuses_what_is_not_an_openraft_call() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;
    let port = cluster.core(leader)?.raft_port();
    let creds = cluster.pki().creds(Role::Coordinator, "coord-probe")?;
    let config = tls::client_config(
        &creds,
        Service::Raft,
        ExpectedPeer::role(Role::Coordinator),
        TransportSettings::default(),
    )?;
    let endpoint = tls::client_endpoint(LOCALHOST)?;
    let target = SocketAddr::new(LOCALHOST.ip(), port);
    let conn = tls::connect(&endpoint, config, target, Duration::from_secs(5))
        .await
        .map_err(anyhow::Error::msg)?;
    let refused = call::<_, RaftResponse>(&conn, &RaftRequest::Status, RpcLimits::default()).await;
    match refused {
        Err(RpcError::Remote(err)) => {
            assert_eq!(err.code, ErrorCode::BAD_REQUEST, "{err}");
            assert!(err.reason.contains("only openraft's calls"), "{err}");
        }
        other => panic!("a status request on the Raft port was answered: {other:?}"),
    }
    cluster.stop_all().await
}
