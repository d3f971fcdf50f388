//! t20 cluster: three in-process coordinators form a cluster by
//! themselves, elect a leader, keep every acknowledged write across leader
//! loss and full restarts (through snapshots and log purging), batch
//! concurrent writes into shared log entries, change membership, and check
//! roles on writes.

use std::collections::BTreeMap;

use mevfleet_common::identity::Role;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::{ErrorCode, RpcError};
use mevfleet_coordinator::node::RaftTuning;
use mevfleet_tests::{
    admin_request, http_get, init_logs, promtool_check_metrics, wait_until, TestCluster,
    DEFAULT_DEADLINE,
};

/// Writes `count` settings `{prefix}{i} = v{i}`, round-robin through the
/// running members, and returns what was acknowledged.
async fn write_many(
    cluster: &TestCluster,
    prefix: &str,
    count: usize,
) -> anyhow::Result<BTreeMap<String, String>> {
    let members = cluster.running();
    let mut acknowledged = BTreeMap::new();
    for i in 0..count {
        let via = members[i % members.len()];
        let (key, value) = (format!("{prefix}{i}"), format!("v{i}"));
        let receipt = cluster.set(via, &key, &value).await?;
        assert!(receipt.refused.is_none(), "{receipt:?}");
        acknowledged.insert(key, value);
    }
    Ok(acknowledged)
}

fn assert_contains(settings: &BTreeMap<String, String>, expected: &BTreeMap<String, String>) {
    for (key, value) in expected {
        assert_eq!(
            settings.get(key),
            Some(value),
            "acknowledged write {key} is missing or changed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_elect_a_leader_and_every_member_reports_it() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;

    // --- every member answers cluster status with the same leader and three healthy members
    for via in cluster.ids() {
        let status = wait_until("all three members healthy", DEFAULT_DEADLINE, || async {
            let status = cluster.status(via).await.ok()?;
            (status.members.iter().all(|m| m.healthy) && status.members.len() == 3)
                .then_some(status)
        })
        .await?;
        assert_eq!(status.leader, Some(leader), "as seen by {via}");
        assert!(status.term >= 1);
        let roles: Vec<&str> = status.members.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(
            roles.iter().filter(|r| **r == "leader").count(),
            1,
            "{roles:?}"
        );
        assert_eq!(
            roles.iter().filter(|r| **r == "follower").count(),
            2,
            "{roles:?}"
        );
    }

    // --- the JSON shape of the contract
    let json = serde_json::to_value(cluster.status(1).await?)?;
    for field in ["leader", "term", "members"] {
        assert!(json.get(field).is_some(), "missing {field}: {json}");
    }
    for field in ["id", "addr", "role", "healthy", "last_applied"] {
        assert!(
            json["members"][0].get(field).is_some(),
            "missing members[].{field}: {json}"
        );
    }
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_the_loss_of_the_leader() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let old_leader = cluster.wait_for_leader().await?;

    // --- writes through every member (followers forward to the leader)
    let mut acknowledged = write_many(&cluster, "before-", 30).await?;

    // --- the leader goes away; the two others elect a new one
    cluster.stop(old_leader).await?;
    let new_leader = cluster.wait_for_leader().await?;
    assert_ne!(new_leader, old_leader);
    let survivor = cluster.running()[0];
    assert_contains(&cluster.settings(survivor).await?, &acknowledged);

    // --- the cluster keeps taking writes with two of three members
    acknowledged.extend(write_many(&cluster, "after-", 10).await?);

    // --- the old leader comes back, catches up, and serves current reads
    cluster.restart(old_leader).await?;
    let last = cluster.core(new_leader)?.status().last_applied;
    cluster.wait_applied(old_leader, last).await?;
    assert_contains(&cluster.settings(old_leader).await?, &acknowledged);
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_log_entries_and_each_gets_its_own_outcome() -> anyhow::Result<()> {
    use mevfleet_coordinator::state::{Actor, Command, Outcome, Proposal};
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;
    let core = cluster.core(leader)?;
    let before = core.status().last_log;

    // --- 64 writes at once on the leader; every fourth is refused
    let writes = 64u64;
    let proposal = |i: u64| Proposal {
        actor: Actor::new("admin", "root"),
        at_ms: 1,
        command: if i % 4 == 3 {
            Command::DeleteSetting {
                key: format!("missing-{i}"),
            }
        } else {
            Command::SetSetting {
                key: format!("batched-{i}"),
                value: format!("v{i}"),
            }
        },
    };
    let results = futures::future::join_all((0..writes).map(|i| core.write(proposal(i)))).await;
    for (i, result) in (0..writes).zip(results) {
        let (_, outcome) = result?;
        let expected = if i % 4 == 3 {
            Outcome::Refused(format!("no setting `missing-{i}`"))
        } else {
            Outcome::Done
        };
        assert_eq!(outcome, expected, "write {i}");
    }

    // --- fewer entries than writes, and every write on every member
    let grown = core.status().last_log - before;
    assert!(
        grown < writes / 4,
        "{writes} concurrent writes took {grown} log entries: not batched"
    );
    let last = core.status().last_applied;
    for id in cluster.ids() {
        cluster.wait_applied(id, last).await?;
        let settings = cluster.settings(id).await?;
        let batched = settings
            .keys()
            .filter(|k| k.starts_with("batched-"))
            .count();
        assert_eq!(batched as u64, writes - writes / 4, "member {id}");
    }
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_restart_keeps_every_acknowledged_write_through_snapshots() -> anyhow::Result<()> {
    init_logs();
    // Snapshot every 20 entries so the restart goes through a snapshot and a
    // purged log, not only a replayed one.
    let tuning = RaftTuning {
        snapshot_every: 20,
        ..RaftTuning::default()
    };
    let mut cluster = TestCluster::start_with(3, tuning).await?;
    cluster.wait_for_leader().await?;
    let acknowledged = write_many(&cluster, "k", 75).await?;
    let leader = cluster.wait_for_leader().await?;
    wait_until("a snapshot on the leader", DEFAULT_DEADLINE, || async {
        cluster
            .core(leader)
            .ok()?
            .view()
            .snapshot_count()
            .gt(&0)
            .then_some(())
    })
    .await?;

    // --- every member stops; every member comes back on the same data
    cluster.stop_all().await?;
    for id in cluster.ids() {
        cluster.restart(id).await?;
    }
    cluster.wait_for_leader().await?;
    for via in cluster.ids() {
        assert_contains(&cluster.settings(via).await?, &acknowledged);
    }
    // --- and the log before the snapshot was purged
    let purged = cluster.core(leader)?.raft().metrics().borrow().purged;
    assert!(purged.is_some(), "the log was compacted");
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_is_added_as_a_learner_promoted_and_removed() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;
    let acknowledged = write_many(&cluster, "k", 10).await?;
    let follower = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader)
        .expect("a follower");

    // --- a fourth member starts empty and is added through a follower
    let joiner = cluster.spawn_joiner().await?;
    let addr = cluster.peer_addr(joiner)?.to_string();
    let response = cluster
        .admin(follower, &AdminRequest::AddMember { id: joiner, addr })
        .await?;
    assert!(
        matches!(response, AdminResponse::Written(_)),
        "{response:?}"
    );
    let status = wait_until("four healthy voters", DEFAULT_DEADLINE, || async {
        let status = cluster.status(joiner).await.ok()?;
        (status.members.len() == 4 && status.members.iter().all(|m| m.healthy && m.voter))
            .then_some(status)
    })
    .await?;
    assert_eq!(status.leader, Some(leader));

    // --- it has the whole state and serves reads
    assert_contains(&cluster.settings(joiner).await?, &acknowledged);

    // --- a member is removed; the cluster goes on with three
    let removed = cluster
        .ids()
        .into_iter()
        .find(|id| *id != leader && *id != joiner)
        .expect("a member to remove");
    cluster
        .admin(leader, &AdminRequest::RemoveMember { id: removed })
        .await?;
    wait_until("three members left", DEFAULT_DEADLINE, || async {
        let status = cluster.status(leader).await.ok()?;
        (status.members.len() == 3 && !status.members.iter().any(|m| m.id == removed)).then_some(())
    })
    .await?;
    cluster.set(joiner, "after-removal", "yes").await?;

    // --- removing a member that is not there is a clear error
    let err = cluster
        .admin(leader, &AdminRequest::RemoveMember { id: 99 })
        .await
        .expect_err("no member 99");
    assert!(err.to_string().contains("99 is not a member"), "{err}");
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_change_settings_and_membership() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    cluster.wait_for_leader().await?;
    let addr = cluster.addr(1)?;
    for (role, name) in [(Role::Viewer, "bob"), (Role::Operator, "alice")] {
        let creds = cluster.pki().creds(role, name)?;
        for request in [
            AdminRequest::SetSetting {
                key: "k".into(),
                value: "v".into(),
            },
            AdminRequest::RemoveMember { id: 2 },
        ] {
            let err = admin_request(&creds, addr, &request)
                .await
                .expect_err("refused");
            let RpcError::Remote(remote) = err else {
                panic!("expected a refusal, got {err}")
            };
            assert_eq!(remote.code, ErrorCode::FORBIDDEN, "{}", remote.reason);
            assert!(
                remote.reason.contains("needs role admin"),
                "{}",
                remote.reason
            );
        }
        // --- but every human role reads
        let settings = admin_request(&creds, addr, &AdminRequest::GetSettings).await?;
        assert!(matches!(settings, AdminResponse::Settings(_)));
    }
    // --- nothing was written; the audit trail of the admin's write names the admin
    cluster.set(2, "who", "root").await?;
    let audit = cluster
        .core(1)?
        .view()
        .read(|applied| applied.state.audit.clone())
        .await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0].actor.to_string(), "admin root");
    assert_eq!(audit[0].what, "set who = root");
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_term_leader_indexes_and_replication_lag() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let leader = cluster.wait_for_leader().await?;
    write_many(&cluster, "k", 5).await?;
    let text = http_get(cluster.http_addr(leader)?, "/metrics").await?;
    for needle in [
        "mevfleet_raft_term ",
        "mevfleet_raft_is_leader 1",
        &format!("mevfleet_raft_leader_id {leader}"),
        "mevfleet_raft_applied_index ",
        "mevfleet_raft_commit_index ",
        "mevfleet_raft_apply_lag_entries ",
        "mevfleet_raft_snapshots_total ",
        "mevfleet_raft_replication_lag_entries{peer=",
        "# TYPE mevfleet_service_stalled_seconds_total counter",
    ] {
        assert!(text.contains(needle), "missing {needle} in:\n{text}");
    }

    // --- Prometheus's own linter accepts the exposition
    let lint = promtool_check_metrics(&text)?;
    assert!(
        lint.is_empty(),
        "promtool check metrics:\n{lint}\n--- exposition:\n{text}"
    );
    cluster.stop_all().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_is_replaced_and_catches_up_when_healed() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(3).await?;
    let old_leader = cluster.wait_for_leader().await?;
    let mut acknowledged = write_many(&cluster, "before-", 10).await?;
    let majority: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != old_leader)
        .collect();

    // --- the leader is cut off from the other two
    cluster.isolate(old_leader)?;
    let new_leader = wait_until(
        "a new leader among the majority",
        DEFAULT_DEADLINE,
        || async {
            let leaders: std::collections::BTreeSet<Option<u64>> = majority
                .iter()
                .filter_map(|id| cluster.core(*id).ok())
                .map(|core| core.raft().metrics().borrow().current_leader)
                .collect();
            match leaders.into_iter().collect::<Vec<_>>().as_slice() {
                [Some(leader)] if *leader != old_leader => Some(*leader),
                _ => None,
            }
        },
    )
    .await?;

    // --- the majority keeps taking writes
    for (i, via) in majority.iter().cycle().take(10).enumerate() {
        let key = format!("during-{i}");
        cluster.set(*via, &key, "v").await?;
        acknowledged.insert(key, "v".into());
    }

    // --- the cut-off member cannot acknowledge a write
    let err = cluster
        .set(old_leader, "minority", "v")
        .await
        .expect_err("no quorum on the minority side");
    assert!(
        err.to_string().contains("not committed") || err.to_string().contains("no leader"),
        "{err}"
    );

    // --- healed, it follows the new leader and has every acknowledged write
    cluster.heal(old_leader)?;
    let core = cluster.core(old_leader)?;
    wait_until(
        "the old leader to follow the new one",
        DEFAULT_DEADLINE,
        || async {
            (core.raft().metrics().borrow().current_leader == Some(new_leader)).then_some(())
        },
    )
    .await?;
    let last = cluster.core(new_leader)?.status().last_applied;
    cluster.wait_applied(old_leader, last).await?;
    let local = core
        .view()
        .read(|applied| applied.state.settings.clone())
        .await;
    assert_contains(&local, &acknowledged);
    cluster.stop_all().await
}

/// One member on a service runtime of its own (one worker), as in the
/// daemon, so that a test can stall that member's service threads alone.
struct OwnRuntimeMember {
    runtime: tokio::runtime::Runtime,
    core: std::sync::Arc<mevfleet_coordinator::node::NodeCore>,
    shutdown: mevfleet_common::shutdown::Shutdown,
}

/// Starts three members, each on its own one-worker runtime.
fn start_on_own_runtimes(
    pki: &mevfleet_tests::TestPki,
) -> anyhow::Result<BTreeMap<u64, OwnRuntimeMember>> {
    use mevfleet_common::net::HostPort;
    use mevfleet_coordinator::fleet::FleetPolicy;
    use mevfleet_coordinator::node::NodeSettings;
    use mevfleet_coordinator::runtime::BoundCoordinator;
    use mevfleet_tests::LOCALHOST;

    let mut bound = BTreeMap::new();
    for id in 1..=3u64 {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let creds = pki.creds(Role::Coordinator, &format!("coord-{id}"))?;
        let member = runtime.block_on(BoundCoordinator::bind(LOCALHOST, LOCALHOST, creds))?;
        bound.insert(id, (runtime, member));
    }
    let peers: BTreeMap<u64, HostPort> = bound
        .iter()
        .map(|(id, (_, member))| Ok((*id, HostPort::from(member.quic_addr()?))))
        .collect::<std::io::Result<_>>()?;
    let mut members = BTreeMap::new();
    for (id, (runtime, member)) in bound {
        let shutdown = mevfleet_common::shutdown::Shutdown::new();
        let settings = NodeSettings {
            node_id: id,
            data_dir: pki.root().join(format!("coord-{id}-data")),
            peers: peers.clone(),
            tuning: RaftTuning::default(),
            raft_listen: None,
            raft_advertised_port: None,
        };
        let fleet = runtime.block_on(member.start(settings, FleetPolicy::default(), &shutdown))?;
        let core = fleet.core().clone();
        members.insert(
            id,
            OwnRuntimeMember {
                runtime,
                core,
                shutdown,
            },
        );
    }
    Ok(members)
}

/// The leader and term every member agrees on, if they agree.
fn agreed_leader(members: &BTreeMap<u64, OwnRuntimeMember>) -> Option<(u64, u64)> {
    let views: std::collections::BTreeSet<(Option<u64>, u64)> = members
        .values()
        .map(|member| {
            let metrics = member.core.raft().metrics().borrow().clone();
            (metrics.current_leader, metrics.current_term)
        })
        .collect();
    match views.into_iter().collect::<Vec<_>>().as_slice() {
        [(Some(leader), term)] => Some((*leader, *term)),
        _ => None,
    }
}

#[test]
fn a_leader_whose_service_threads_stall_keeps_its_office_and_commits() -> anyhow::Result<()> {
    use mevfleet_coordinator::state::{Actor, Command, Proposal};
    use std::time::Duration;
    init_logs();
    let pki = mevfleet_tests::TestPki::new()?;
    let members = start_on_own_runtimes(&pki)?;
    // The test's own runtime, apart from the members'.
    let watcher = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (leader, term) = watcher.block_on(wait_until("a leader", DEFAULT_DEADLINE, || async {
        agreed_leader(&members)
    }))?;

    // --- the leader's service runtime (agents, admin, HTTP, its QUIC
    // port's receive path) is held until the test releases it
    let stalled = &members[&leader];
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let stalling = stalled.runtime.spawn(async move {
        let _ = started_tx.send(());
        let _ = release_rx.recv();
    });
    started_rx.recv_timeout(Duration::from_secs(5))?;

    // --- for five election timeouts no member's view of the leader or
    // the term changes
    let window = RaftTuning::default().election_max * 5;
    let watches = members.values().map(|member| {
        let mut metrics = member.core.raft().metrics();
        Box::pin(async move {
            loop {
                metrics.changed().await.ok()?;
                let seen = {
                    let now = metrics.borrow();
                    (now.current_leader, now.current_term)
                };
                if seen != (Some(leader), term) {
                    return Some(seen);
                }
            }
        })
    });
    let changed = watcher.block_on(async {
        tokio::time::timeout(window, futures::future::select_all(watches)).await
    });
    if let Ok((seen, _, _)) = changed {
        anyhow::bail!(
            "while the leader's service threads were stalled a member saw (leader, term) {seen:?}, not {:?}",
            (Some(leader), term)
        );
    }

    // --- and a write proposed on the leader commits, still stalled
    let write = stalled.core.write_here(Proposal {
        actor: Actor::new("test", "root"),
        at_ms: mevfleet_coordinator::node::unix_ms(),
        command: Command::SetSetting {
            key: "during-stall".into(),
            value: "v".into(),
        },
    });
    let committed = watcher.block_on(async { tokio::time::timeout(DEFAULT_DEADLINE, write).await });
    let _ = release_tx.send(());
    stalled.runtime.block_on(stalling)?;
    let committed = committed.map_err(|_| {
        anyhow::anyhow!("the write did not commit while the leader's service threads were stalled")
    })?;
    assert!(committed.is_ok(), "{committed:?}");
    assert_eq!(agreed_leader(&members), Some((leader, term)));

    for member in members.values() {
        member.shutdown.cancel();
    }
    for member in members.into_values() {
        let clean = member.runtime.block_on(
            member
                .shutdown
                .wait(mevfleet_coordinator::runtime::SHUTDOWN_GRACE),
        );
        anyhow::ensure!(clean, "a member did not stop cleanly");
    }
    Ok(())
}
