//! The coordinator and CLI binaries answer `--help` and `--version`, and bad
//! usage exits 2 with a message that says what was expected. (Also makes
//! cargo build the binaries for the workspace suites in `tests/`.)

use std::process::Command;

const COORDINATOR: &str = env!("CARGO_BIN_EXE_mevfleet-coordinator");
const CLI: &str = env!("CARGO_BIN_EXE_mevfleet");

#[test]
fn both_binaries_print_help_and_version() {
    for (bin, name, expect) in [
        (COORDINATOR, "mevfleet-coordinator", "--config <FILE>"),
        (CLI, "mevfleet", "--coordinators"),
    ] {
        let help = Command::new(bin).arg("--help").output().expect("runs");
        assert!(help.status.success(), "{name}");
        let text = String::from_utf8_lossy(&help.stdout);
        assert!(text.contains(expect), "{name}: {text}");
        let version = Command::new(bin).arg("--version").output().expect("runs");
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn the_cli_help_lists_its_commands_and_global_flags() {
    let help = Command::new(CLI).arg("--help").output().expect("runs");
    let text = String::from_utf8_lossy(&help.stdout);
    for expected in ["ca", "ping", "--creds", "--output"] {
        assert!(text.contains(expected), "missing {expected}: {text}");
    }
}

#[test]
fn bad_cli_usage_exits_2_and_says_what_was_expected() {
    let cases: [(&[&str], &str); 5] = [
        (&["frobnicate"], "unrecognized subcommand"),
        (&["-o", "yaml", "ping"], "expected table or json"),
        (&["--coordinators", "nohost", "ping"], "expected host:port"),
        (
            &[
                "ca",
                "issue",
                "--role",
                "root",
                "--name",
                "x",
                "--dir",
                "/nonexistent",
            ],
            "expected one of coordinator, agent, admin, operator, viewer",
        ),
        (
            &[
                "ca",
                "issue",
                "--role",
                "agent",
                "--name",
                "Bad_Name",
                "--dir",
                "/nonexistent",
            ],
            "invalid name",
        ),
    ];
    for (args, expected) in cases {
        let out = Command::new(CLI)
            .args(args)
            .env_remove("MEVFLEET_COORDINATORS")
            .env_remove("MEVFLEET_CREDS")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected '{expected}' in {stderr}"
        );
    }
}

#[test]
fn ping_without_coordinators_or_credentials_names_the_missing_flag() {
    let out = Command::new(CLI)
        .arg("ping")
        .env_remove("MEVFLEET_COORDINATORS")
        .env_remove("MEVFLEET_CREDS")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--coordinators"));
    let out = Command::new(CLI)
        .args(["--coordinators", "127.0.0.1:7400", "ping"])
        .env_remove("MEVFLEET_CREDS")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--creds"));
}
