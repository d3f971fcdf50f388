//! Routine automation as tables: windows, disk cleanup inside a window and
//! in an emergency, scheduled jobs by period, nothing repeated.

use std::collections::BTreeMap;

use mevfleet_common::report::{DiskReport, HostReport};
use mevfleet_common::wire::fleet::Presence::{Connected, Lost};

use super::*;
use crate::fleet::test_support::agent;

const DAY: u64 = 86_400_000;
/// Some day at 00:30 UTC.
const NIGHT: u64 = 20_000 * DAY + 30 * 60_000;
/// The same day at 12:00 UTC.
const NOON: u64 = 20_000 * DAY + 12 * 3_600_000;

#[test]
fn windows_read_and_contain_their_minutes() {
    let window = |text: &str| parse_window(text);
    assert_eq!(window("00:00-02:00"), Ok((0, 120)));
    assert_eq!(window("22:00-02:00"), Ok((1320, 120)));
    assert_eq!(window("00:00-24:00"), Ok((0, 1440)));
    for bad in [
        "2am-4am",
        "25:00-02:00",
        "00:60-01:00",
        "01:00-01:00",
        "00:00",
    ] {
        assert!(window(bad).is_err(), "{bad}");
    }
    let at = |h: u64, m: u64| 20_000 * DAY + h * 3_600_000 + m * 60_000;
    assert!(in_window((0, 120), at(0, 0)));
    assert!(in_window((0, 120), at(1, 59)));
    assert!(!in_window((0, 120), at(2, 0)));
    assert!(in_window((1320, 120), at(23, 0)));
    assert!(in_window((1320, 120), at(1, 0)));
    assert!(!in_window((1320, 120), at(12, 0)));
}

fn with_disk(id: &str, used_percent: u8, connected: bool) -> AgentView {
    let mut view = agent(id, if connected { Connected } else { Lost }, "healthy", 0);
    view.host = Some(HostReport {
        disks: vec![DiskReport {
            path: "/data".into(),
            total_bytes: 100,
            available_bytes: 100 - u64::from(used_percent),
            used_percent,
            error: None,
        }],
        ..HostReport::default()
    });
    view
}

fn ran(id: u64, action: &str, host: &str, at: u64) -> CommandRecord {
    CommandRecord {
        id,
        issued_by: ROUTINE.into(),
        issued_at_ms: at,
        spec: spec(Target::Agents(vec![host.into()]), action),
        expires_at_ms: at + EXPIRY_MS,
        targets: vec![host.into()],
        results: BTreeMap::new(),
    }
}

fn config() -> RoutineConfig {
    RoutineConfig {
        jobs: vec![RoutineJob {
            action: "rotate-logs".into(),
            every_h: 24,
            target: "all".into(),
        }],
        ..RoutineConfig::default()
    }
}

/// Due commands as "action@target".
fn due_at(agents: &[AgentView], history: &[CommandRecord], now: u64) -> Vec<String> {
    let history: Vec<&CommandRecord> = history.iter().collect();
    due(&config(), &[(0, 120)], 85, agents, &history, now)
        .iter()
        .map(|s| format!("{}@{}", s.action, s.target))
        .collect()
}

#[test]
fn cleanup_and_jobs_run_inside_windows_once_and_emergencies_at_once() {
    let agents = vec![
        with_disk("a", 90, true),
        with_disk("b", 50, true),
        with_disk("c", 97, true),
        with_disk("d", 99, false),
    ];
    let yesterday_rotation = ran(1, "rotate-logs", "a", NIGHT - DAY);
    let cases: Vec<(&str, u64, Vec<CommandRecord>, Vec<&str>)> = vec![
        (
            "a night with nothing done yet",
            NIGHT,
            vec![],
            vec!["cleanup-disk@a", "cleanup-disk@c", "rotate-logs@all"],
        ),
        (
            "noon: only the emergency",
            NOON,
            vec![],
            vec!["cleanup-disk@c"],
        ),
        (
            "already cleaned and rotated this night",
            NIGHT,
            vec![
                ran(1, "cleanup-disk", "a", NIGHT - 60_000),
                ran(2, "cleanup-disk", "c", NIGHT - 60_000),
                ran(3, "rotate-logs", "a", NIGHT - 60_000),
            ],
            vec![],
        ),
        (
            "rotated yesterday: due again",
            NIGHT,
            vec![yesterday_rotation],
            vec!["cleanup-disk@a", "cleanup-disk@c", "rotate-logs@all"],
        ),
        (
            "the emergency cleaned an hour and more ago: again",
            NOON,
            vec![ran(1, "cleanup-disk", "c", NOON - EXPIRY_MS - 1)],
            vec!["cleanup-disk@c"],
        ),
    ];
    for (what, now, history, expected) in cases {
        assert_eq!(due_at(&agents, &history, now), expected, "{what}");
    }
}
