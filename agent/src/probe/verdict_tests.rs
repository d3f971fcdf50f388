//! The local verdict as tables: single readings, and sequences of samples
//! for the hysteresis.

use std::time::Duration;

use mevfleet_common::chain::HealthState::{self, *};

use super::*;

const NOW: u64 = 1_800_000_000;

fn policy() -> VerdictPolicy {
    VerdictPolicy {
        chain_id: 1,
        block_time: Duration::from_secs(12),
        stale_after_blocks: 5,
        min_peers: 3,
        high_latency: Duration::from_millis(15),
        failures_before_down: 3,
        successes_before_up: 2,
    }
}

fn good() -> NodeReading {
    NodeReading {
        chain_id: 1,
        syncing: false,
        head: 100,
        head_timestamp: NOW - 6,
        peers: Some(25),
        latency: Duration::from_millis(2),
    }
}

#[test]
fn one_reading_gets_the_worst_of_its_checks() {
    let cases: Vec<(&str, NodeReading, HealthState)> = vec![
        ("all good", good(), Healthy),
        (
            "no peer count (anvil)",
            NodeReading {
                peers: None,
                ..good()
            },
            Healthy,
        ),
        (
            "wrong chain beats everything",
            NodeReading {
                chain_id: 5,
                syncing: true,
                ..good()
            },
            WrongChain,
        ),
        (
            "syncing",
            NodeReading {
                syncing: true,
                ..good()
            },
            Syncing,
        ),
        (
            "head older than 5 blocks",
            NodeReading {
                head_timestamp: NOW - 61,
                ..good()
            },
            Stale,
        ),
        (
            "head exactly 5 blocks old",
            NodeReading {
                head_timestamp: NOW - 60,
                ..good()
            },
            Healthy,
        ),
        (
            "few peers",
            NodeReading {
                peers: Some(2),
                ..good()
            },
            Degraded,
        ),
        (
            "slow RPC",
            NodeReading {
                latency: Duration::from_millis(16),
                ..good()
            },
            Degraded,
        ),
        (
            "stale beats degraded",
            NodeReading {
                head_timestamp: 0,
                peers: Some(0),
                ..good()
            },
            Stale,
        ),
    ];
    for (what, reading, expected) in cases {
        assert_eq!(judge(&reading, NOW, &policy()), expected, "{what}");
    }
}

fn run(samples: &[Sample]) -> Vec<HealthState> {
    let mut health = LocalHealth::default();
    samples
        .iter()
        .map(|s| health.observe(s.clone(), NOW, &policy()))
        .collect()
}

fn fail() -> Sample {
    Sample::Failed("connection refused".into())
}

fn ok() -> Sample {
    Sample::Read(good())
}

#[test]
fn hard_failures_act_after_consecutive_probes_and_recovery_needs_two_good_ones() {
    let cases: Vec<(&str, Vec<Sample>, Vec<HealthState>)> = vec![
        ("first answer makes it healthy", vec![ok()], vec![Healthy]),
        (
            "two failures are tolerated",
            vec![ok(), fail(), fail(), ok()],
            vec![Healthy, Healthy, Healthy, Healthy],
        ),
        (
            "the third failure is down",
            vec![ok(), fail(), fail(), fail()],
            vec![Healthy, Healthy, Healthy, Down],
        ),
        (
            "one good answer does not bring it back",
            vec![ok(), fail(), fail(), fail(), ok(), fail(), ok(), ok()],
            vec![Healthy, Healthy, Healthy, Down, Down, Down, Down, Healthy],
        ),
        (
            "never answered stays down",
            vec![fail(), fail()],
            vec![Down, Down],
        ),
    ];
    for (what, samples, expected) in cases {
        assert_eq!(run(&samples), expected, "{what}");
    }
}

#[test]
fn a_wrong_chain_shows_at_once_and_the_error_is_kept() {
    let mut health = LocalHealth::default();
    let wrong = Sample::Read(NodeReading {
        chain_id: 31337,
        ..good()
    });
    assert_eq!(health.observe(wrong, NOW, &policy()), WrongChain);
    health.observe(fail(), NOW, &policy());
    assert_eq!(health.last_error.as_deref(), Some("connection refused"));
    assert_eq!(
        health.state, WrongChain,
        "one failure does not change the verdict"
    );
}

#[test]
fn latency_is_judged_on_the_median_of_recent_probes() {
    let slow = || {
        Sample::Read(NodeReading {
            latency: Duration::from_millis(40),
            ..good()
        })
    };
    let cases: Vec<(&str, Vec<Sample>, HealthState)> = vec![
        (
            "one slow answer among fast ones",
            vec![ok(), ok(), slow(), ok()],
            Healthy,
        ),
        (
            "mostly slow",
            vec![ok(), slow(), slow(), ok(), slow()],
            Degraded,
        ),
        (
            "fast again",
            vec![slow(), slow(), slow(), ok(), ok(), ok(), ok(), ok()],
            Healthy,
        ),
    ];
    for (what, samples, expected) in cases {
        assert_eq!(run(&samples).last().copied(), Some(expected), "{what}");
    }
}
