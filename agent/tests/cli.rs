//! The agent binary answers `--help` and `--version`, and refuses a missing
//! `--config` as a usage error. (Also makes cargo build the binary for the
//! workspace suites in `tests/`.)

use std::process::Command;

const AGENT: &str = env!("CARGO_BIN_EXE_mevfleet-agent");

#[test]
fn prints_help_and_version() {
    let help = Command::new(AGENT).arg("--help").output().expect("runs");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--config <FILE>") && text.contains("--log-format"),
        "{text}"
    );
    let version = Command::new(AGENT).arg("--version").output().expect("runs");
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("mevfleet-agent {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_missing_config_flag_is_a_usage_error() {
    let out = Command::new(AGENT)
        .env_remove("MEVFLEET_AGENT_CONFIG")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--config <FILE>"));
}
