//! t12 systemd and monitoring: both daemons speak the notify protocol on a test
//! `NOTIFY_SOCKET` (READY=1 once serving, WATCHDOG=1 at least twice per
//! watchdog period, STOPPING=1 on SIGTERM), and `systemd-analyze verify`
//! accepts the shipped units, and promtool the Prometheus config and rules.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mevfleet_common::identity::Role;
use mevfleet_tests::{
    bin_path, coordinator_configs, data_dirs, init_logs, ChildProcess, TestPki, DEFAULT_DEADLINE,
};

/// The watchdog period the tests ask for.
const WATCHDOG: Duration = Duration::from_secs(3);

/// Messages on `socket` until `stop` says so, with their arrival times.
fn collect(
    socket: &UnixDatagram,
    mut stop: impl FnMut(&[(String, Instant)]) -> bool,
) -> anyhow::Result<Vec<(String, Instant)>> {
    socket.set_read_timeout(Some(DEFAULT_DEADLINE))?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !stop(&seen) {
        let n = socket
            .recv(&mut buf)
            .map_err(|err| anyhow::anyhow!("no notify message ({err}); got {seen:?}"))?;
        for line in String::from_utf8_lossy(&buf[..n]).lines() {
            seen.push((line.to_owned(), Instant::now()));
        }
    }
    Ok(seen)
}

/// Starts `program --config config` under a test notify socket with a
/// watchdog, checks READY, the watchdog pings and STOPPING on SIGTERM.
async fn speaks_notify(program: &Path, config: &Path, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path)?;
    // systemd names the watched process in WATCHDOG_PID: the shell's pid is
    // the daemon's after `exec`.
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("WATCHDOG_PID=$$ exec \"$0\" --config \"$1\"")
        .arg(program)
        .arg(config)
        .env("NOTIFY_SOCKET", &path)
        .env("WATCHDOG_USEC", WATCHDOG.as_micros().to_string());
    let mut process = ChildProcess::spawn(command)?;
    let pings = |seen: &[(String, Instant)]| seen.iter().filter(|(m, _)| m == "WATCHDOG=1").count();
    let seen = tokio::task::block_in_place(|| collect(&socket, |seen| pings(seen) >= 4))?;
    assert_eq!(
        seen.first().map(|(m, _)| m.as_str()),
        Some("READY=1"),
        "{seen:?}"
    );
    let times: Vec<Instant> = seen
        .iter()
        .filter(|(m, _)| m == "WATCHDOG=1")
        .map(|(_, at)| *at)
        .collect();
    for pair in times.windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(
            gap <= WATCHDOG / 2,
            "pings {gap:?} apart: not twice per {WATCHDOG:?}"
        );
    }
    let stopping = tokio::task::spawn_blocking({
        let socket = socket.try_clone()?;
        move || collect(&socket, |seen| seen.iter().any(|(m, _)| m == "STOPPING=1"))
    });
    let status = process.terminate(DEFAULT_DEADLINE).await?;
    assert!(status.success(), "exit {status}: {}", process.stderr());
    stopping.await??;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_speaks_the_notify_protocol() -> anyhow::Result<()> {
    init_logs();
    let pki = TestPki::new()?;
    let creds = pki.issue_dir(Role::Agent, "host-a")?;
    let config = pki.root().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "agent_id = \"host-a\"\ncoordinators = [\"127.0.0.1:9\"]\ndata_dir = \"{}\"\nhttp = \"127.0.0.1:0\"\n[tls]\nca = \"{c}/ca.pem\"\ncert = \"{c}/host-a.pem\"\nkey = \"{c}/host-a.key\"\n",
            pki.root().join("agent-data").display(),
            c = creds.display()
        ),
    )?;
    speaks_notify(&bin_path("mevfleet-agent"), &config, pki.root()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_speaks_the_notify_protocol() -> anyhow::Result<()> {
    init_logs();
    let pki = TestPki::new()?;
    let members = coordinator_configs(&pki, &data_dirs(pki.root(), 1))?;
    let member = members
        .first()
        .ok_or_else(|| anyhow::anyhow!("no member config"))?;
    speaks_notify(
        &bin_path("mevfleet-coordinator"),
        &member.config,
        pki.root(),
    )
    .await
}

#[test]
fn systemd_analyze_verify_accepts_the_units() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let units =
        mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR")).join("deploy/systemd");
    for name in ["mevfleet-agent", "mevfleet-coordinator"] {
        // The units name the installed binary; point them at the built one.
        let text = std::fs::read_to_string(units.join(format!("{name}.service")))?;
        let installed = format!("/usr/local/bin/{name}");
        assert!(text.contains(&installed), "{name}.service runs {installed}");
        let built = bin_path(name);
        let unit = dir.path().join(format!("{name}.service"));
        std::fs::write(
            &unit,
            text.replace(&installed, &built.display().to_string()),
        )?;
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .output()?;
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{name}: {said}"
        );
    }
    Ok(())
}

#[test]
fn promtool_accepts_the_prometheus_files_and_their_alerts_fire_as_tested() -> anyhow::Result<()> {
    let dir = mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/prometheus");
    for (what, file) in [
        ("config", "prometheus.yml"),
        ("rules", "mevfleet-rules.yml"),
    ] {
        let out = Command::new("promtool")
            .args(["check", what])
            .arg(dir.join(file))
            .output()?;
        assert!(
            out.status.success(),
            "promtool check {what} {file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The alerts fire on what they should and on nothing else.
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(dir.join("mevfleet-rules.test.yml"))
        .output()?;
    assert!(
        out.status.success(),
        "promtool test rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
