//! t20 processes: three real `mevfleet-coordinator` processes started from
//! config files. The leader is killed with SIGKILL in the middle of a stream
//! of writes, then all three at once; every acknowledged write is found
//! after recovery, through every member.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mevfleet_common::identity::Role;
use mevfleet_common::tls::Credentials;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_tests::{
    admin_request, coordinator_configs, data_dirs, init_logs, wait_until, ProcessMember, TestPki,
    DEFAULT_DEADLINE,
};
use tokio_util::sync::CancellationToken;

async fn leader_of(
    admin: &Credentials,
    members: &BTreeMap<u64, ProcessMember>,
) -> anyhow::Result<u64> {
    wait_until("a leader", DEFAULT_DEADLINE, || async {
        for member in members.values().filter(|m| m.process.is_some()) {
            if let Ok(AdminResponse::ClusterStatus(status)) =
                admin_request(admin, member.quic, &AdminRequest::ClusterStatus).await
            {
                if let Some(leader) = status
                    .leader
                    .filter(|l| members.get(l).is_some_and(|m| m.process.is_some()))
                {
                    return Some(leader);
                }
            }
        }
        None
    })
    .await
}

/// Writes `w{n}` keys round-robin through the members until cancelled,
/// recording every acknowledged one. A member that fails is skipped for a
/// while, as a client would, instead of costing a dial timeout per write.
fn spawn_writer(
    admin: Credentials,
    addrs: Vec<SocketAddr>,
    acknowledged: Arc<Mutex<BTreeMap<String, String>>>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut attempts = 0u64;
        let mut next = 0usize;
        let mut resting: BTreeMap<SocketAddr, Instant> = BTreeMap::new();
        while !stop.is_cancelled() {
            next += 1;
            let via = addrs[next % addrs.len()];
            if resting
                .get(&via)
                .is_some_and(|until| Instant::now() < *until)
            {
                tokio::task::yield_now().await;
                continue;
            }
            let (key, value) = (format!("w{attempts}"), format!("v{attempts}"));
            attempts += 1;
            let request = AdminRequest::SetSetting {
                key: key.clone(),
                value: value.clone(),
            };
            match admin_request(&admin, via, &request).await {
                Ok(AdminResponse::Written(receipt)) if receipt.refused.is_none() => {
                    if let Ok(mut acked) = acknowledged.lock() {
                        acked.insert(key, value);
                    }
                }
                _ => {
                    resting.insert(via, Instant::now() + Duration::from_secs(2));
                }
            }
        }
        attempts
    })
}

async fn acknowledged_count(
    acknowledged: &Arc<Mutex<BTreeMap<String, String>>>,
    at_least: usize,
) -> anyhow::Result<()> {
    wait_until(
        &format!("{at_least} acknowledged writes"),
        DEFAULT_DEADLINE,
        || async { (acknowledged.lock().map(|a| a.len()).unwrap_or(0) >= at_least).then_some(()) },
    )
    .await
}

async fn assert_all_present(
    admin: &Credentials,
    members: &BTreeMap<u64, ProcessMember>,
    expected: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for (id, member) in members {
        let settings = wait_until(
            &format!("member {id} to serve a current read"),
            DEFAULT_DEADLINE,
            || async {
                match admin_request(admin, member.quic, &AdminRequest::GetSettings).await {
                    Ok(AdminResponse::Settings(settings)) => Some(settings),
                    _ => None,
                }
            },
        )
        .await?;
        let missing: Vec<&String> = expected
            .keys()
            .filter(|k| settings.get(*k) != expected.get(*k))
            .collect();
        assert!(
            missing.is_empty(),
            "member {id} lost {} acknowledged writes: {missing:?}",
            missing.len()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_and_of_every_member_loses_no_acknowledged_write() -> anyhow::Result<()>
{
    init_logs();
    let pki = TestPki::new()?;
    let admin = pki.creds(Role::Admin, "root")?;
    let mut members: BTreeMap<u64, ProcessMember> =
        coordinator_configs(&pki, &data_dirs(pki.root(), 3))?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
    for member in members.values_mut() {
        member.start("info")?;
    }
    leader_of(&admin, &members).await?;

    // --- a stream of writes through every member
    let acknowledged = Arc::new(Mutex::new(BTreeMap::new()));
    let addrs: Vec<SocketAddr> = members.values().map(|m| m.quic).collect();
    let stop = CancellationToken::new();
    let writer = spawn_writer(admin.clone(), addrs, acknowledged.clone(), stop.clone());
    acknowledged_count(&acknowledged, 30).await?;

    // --- kill -9 the leader in the middle of it
    let leader = leader_of(&admin, &members).await?;
    if let Some(member) = members.get_mut(&leader) {
        if let Some(mut process) = member.process.take() {
            process.kill9()?;
        }
    }
    let before = acknowledged.lock().map(|a| a.len()).unwrap_or(0);
    acknowledged_count(&acknowledged, before + 20).await?;

    // --- the killed member comes back and the stream ends
    if let Some(member) = members.get_mut(&leader) {
        member.start("info")?;
    }
    acknowledged_count(&acknowledged, before + 30).await?;
    stop.cancel();
    let attempts = writer.await?;
    let snapshot = acknowledged.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(snapshot.len() as u64 <= attempts);
    assert_all_present(&admin, &members, &snapshot).await?;

    // --- kill -9 every member at once, restart them all
    for member in members.values_mut() {
        if let Some(mut process) = member.process.take() {
            process.kill9()?;
        }
    }
    for member in members.values_mut() {
        member.start("info")?;
    }
    leader_of(&admin, &members).await?;
    assert_all_present(&admin, &members, &snapshot).await?;

    // --- and a clean stop ends every process with exit 0
    for (id, member) in members.iter_mut() {
        if let Some(mut process) = member.process.take() {
            let status = process.terminate(DEFAULT_DEADLINE).await?;
            assert!(
                status.success(),
                "member {id} exit {status}: {}",
                process.stderr()
            );
        }
    }
    Ok(())
}
