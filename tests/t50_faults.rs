//! t50 faults: a member whose disk fills up stops with a fatal error (and a
//! non-zero exit, so its supervisor restarts it once there is room) instead
//! of serving answers its store can no longer back; the other members carry
//! on with every acknowledged write. Needs root to mount a small tmpfs.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mevfleet_common::identity::Role;
use mevfleet_common::tls::Credentials;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_tests::{
    admin_request, coordinator_configs, init_logs, wait_until, ProcessMember, TestPki,
    DEFAULT_DEADLINE,
};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size_mb: u32) -> anyhow::Result<Self> {
        std::fs::create_dir_all(path)?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mb}m"), "tmpfs"])
            .arg(path)
            .status()?;
        anyhow::ensure!(
            status.success(),
            "mounting a tmpfs needs root (mount exited {status})"
        );
        Ok(Self(path.to_owned()))
    }

    /// Writes zeros until the filesystem is full.
    fn fill(&self) -> anyhow::Result<()> {
        let mut file = std::fs::File::create(self.0.join("ballast"))?;
        let chunk = vec![0u8; 1 << 16];
        loop {
            if let Err(err) = file.write_all(&chunk) {
                anyhow::ensure!(err.raw_os_error() == Some(28), "expected ENOSPC, got {err}");
                return Ok(());
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _unmounted = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn set(admin: &Credentials, via: SocketAddr, key: &str, value: &str) -> bool {
    let request = AdminRequest::SetSetting {
        key: key.into(),
        value: value.into(),
    };
    matches!(admin_request(admin, via, &request).await, Ok(AdminResponse::Written(r)) if r.refused.is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_disk_fills_stops_and_the_others_carry_on() -> anyhow::Result<()> {
    init_logs();
    let pki = TestPki::new()?;
    let admin = pki.creds(Role::Admin, "root")?;
    let small = Tmpfs::mount(&pki.root().join("small-disk"), 48)?;
    let data_dirs = vec![
        pki.root().join("data-1"),
        pki.root().join("data-2"),
        small.0.join("data-3"),
    ];
    let mut members: BTreeMap<u64, ProcessMember> = coordinator_configs(&pki, &data_dirs)?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    for member in members.values_mut() {
        member.start("info")?;
    }
    let addr = |id: u64| {
        members
            .get(&id)
            .map(|m| m.quic)
            .ok_or_else(|| anyhow::anyhow!("no member {id}"))
    };
    let (one, two) = (addr(1)?, addr(2)?);
    wait_until("the first write", DEFAULT_DEADLINE, || async {
        set(&admin, one, "first", "1").await.then_some(())
    })
    .await?;

    // --- member 3's disk fills up; large writes keep coming through 1 and 2
    small.fill()?;
    let value = "x".repeat(32 << 10);
    let mut acknowledged = vec!["first".to_owned()];
    let mut third = members
        .remove(&3)
        .and_then(|m| m.process)
        .ok_or_else(|| anyhow::anyhow!("no member 3"))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempt = 0usize;
    let status = loop {
        if let Some(status) = third.try_status()? {
            break status;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "member 3 kept running on a full disk:\n{}",
            third.stderr()
        );
        let key = format!("big-{attempt}");
        if set(&admin, [one, two][attempt % 2], &key, &value).await {
            acknowledged.push(key);
        }
        attempt += 1;
    };

    // --- it stopped with a failure exit and said why
    assert_eq!(status.code(), Some(1), "{}", third.stderr());
    let log = third.stderr();
    assert!(
        log.contains("fatal error") && log.contains("stops rather than serve"),
        "{log}"
    );
    assert!(
        log.contains("No space left on device"),
        "the cause is the full disk: {log}"
    );

    // --- the other two carry on, with every acknowledged write
    let after = wait_until(
        "a write after member 3 stopped",
        DEFAULT_DEADLINE,
        || async { set(&admin, one, "after", "1").await.then_some(()) },
    );
    after.await?;
    acknowledged.push("after".into());
    for via in [one, two] {
        let settings = match admin_request(&admin, via, &AdminRequest::GetSettings).await? {
            AdminResponse::Settings(settings) => settings,
            other => anyhow::bail!("unexpected answer {other:?}"),
        };
        let missing: Vec<&String> = acknowledged
            .iter()
            .filter(|k| !settings.contains_key(*k))
            .collect();
        assert!(missing.is_empty(), "lost acknowledged writes: {missing:?}");
    }
    let status = match admin_request(&admin, one, &AdminRequest::ClusterStatus).await? {
        AdminResponse::ClusterStatus(status) => status,
        other => anyhow::bail!("unexpected answer {other:?}"),
    };
    let member3 = status
        .members
        .iter()
        .find(|m| m.id == 3)
        .ok_or_else(|| anyhow::anyhow!("member 3 listed"))?;
    assert!(!member3.healthy, "{status:?}");
    for mut process in members.into_values().filter_map(|m| m.process) {
        process.terminate(DEFAULT_DEADLINE).await?;
    }
    Ok(())
}
