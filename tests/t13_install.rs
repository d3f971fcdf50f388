//! t13 install: `scripts/install.sh` against a temporary root prefix (no
//! real systemd needed) lays out the binaries, config, credentials, state,
//! unit and polkit rule with the right modes, again without harm, refuses
//! bad arguments by name, and `--uninstall` removes what it installed while
//! keeping config, credentials and state unless `--purge`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mevfleet_common::identity::Role;
use mevfleet_tests::{bin_path, TestPki};

fn install(args: &[&str]) -> anyhow::Result<Output> {
    let script = mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR"))
        .join("scripts/install.sh");
    Ok(Command::new("bash").arg(script).args(args).output()?)
}

fn mode(path: &Path) -> anyhow::Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

/// A folder holding the two built binaries the script installs.
fn bin_dir(root: &Path) -> anyhow::Result<PathBuf> {
    let dir = root.join("bin");
    std::fs::create_dir_all(&dir)?;
    for name in ["mevfleet-agent", "mevfleet"] {
        std::fs::copy(bin_path(name), dir.join(name))?;
    }
    Ok(dir)
}

#[test]
fn install_lays_out_an_agent_and_uninstall_removes_it() -> anyhow::Result<()> {
    let pki = TestPki::new()?;
    let creds = pki.issue_dir(Role::Agent, "host-a")?;
    let root = pki.root().join("root");
    let bins = bin_dir(pki.root())?;
    let config = mevfleet_common::source_tree::repo_root(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/agent.example.toml");
    let (config, creds, bins, prefix) = (
        config.display().to_string(),
        creds.display().to_string(),
        bins.display().to_string(),
        root.display().to_string(),
    );
    let args = [
        "--role",
        "agent",
        "--config",
        &config,
        "--creds",
        &creds,
        "--bin-dir",
        &bins,
        "--prefix",
        &prefix,
    ];
    for round in 0..2 {
        let out = install(&args)?;
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let expect = [
        ("usr/local/bin/mevfleet-agent", 0o755),
        ("usr/local/bin/mevfleet", 0o755),
        ("etc/mevfleet/agent.toml", 0o640),
        ("etc/mevfleet/tls-agent/ca.pem", 0o644),
        ("etc/mevfleet/tls-agent/host-a.pem", 0o644),
        ("etc/mevfleet/tls-agent/host-a.key", 0o600),
        ("etc/systemd/system/mevfleet-agent.service", 0o644),
        ("etc/polkit-1/rules.d/50-mevfleet-agent.rules", 0o644),
        ("var/lib/mevfleet-agent", 0o700),
    ];
    for (path, want) in expect {
        assert_eq!(mode(&root.join(path))?, want, "{path}");
    }
    // An existing config is kept.
    std::fs::write(root.join("etc/mevfleet/agent.toml"), "# edited by hand\n")?;
    assert!(install(&args)?.status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("etc/mevfleet/agent.toml"))?,
        "# edited by hand\n"
    );

    // --- bad arguments are refused by name
    let out = install(&["--role", "relay", "--prefix", &prefix])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--role must be agent or coordinator"));
    let out = install(&["--role", "agent", "--prefix", &prefix, "--config", &config])?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--creds DIR is required"));

    // --- uninstall keeps config, credentials and state; --purge removes them
    let out = install(&["--uninstall", "--role", "agent", "--prefix", &prefix])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for gone in [
        "usr/local/bin/mevfleet-agent",
        "etc/systemd/system/mevfleet-agent.service",
        "etc/polkit-1/rules.d/50-mevfleet-agent.rules",
    ] {
        assert!(!root.join(gone).exists(), "{gone} is still there");
    }
    for kept in [
        "etc/mevfleet/agent.toml",
        "etc/mevfleet/tls-agent/host-a.key",
        "var/lib/mevfleet-agent",
    ] {
        assert!(root.join(kept).exists(), "{kept} was removed");
    }
    let out = install(&[
        "--uninstall",
        "--purge",
        "--role",
        "agent",
        "--prefix",
        &prefix,
    ])?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for gone in ["etc/mevfleet", "var/lib/mevfleet-agent"] {
        assert!(!root.join(gone).exists(), "{gone} is still there");
    }
    Ok(())
}
