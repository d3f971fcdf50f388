//! Join tokens in the fleet state, as a table: each use of a token in log
//! order, and what it gives (enrolled, or refused with the reason by name).

use std::collections::BTreeMap;

use super::super::*;

const HOUR_MS: u64 = 3_600_000;

fn at(at_ms: u64, command: Command) -> Proposal {
    Proposal {
        actor: Actor::new("operator", "alice"),
        at_ms,
        command,
    }
}

fn create(id: &str, secret: &str, agent_id: Option<&str>) -> Command {
    Command::CreateJoinToken {
        id: id.into(),
        secret_sha256: secret.into(),
        expires_ms: HOUR_MS,
        labels: BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
        agent_id: agent_id.map(str::to_owned),
    }
}

fn redeem(id: &str, secret: &str, agent: &str) -> Command {
    Command::RedeemJoinToken {
        id: id.into(),
        secret_sha256: secret.into(),
        agent_id: agent.into(),
    }
}

fn register(id: &str) -> Command {
    Command::RegisterAgent {
        id: id.into(),
        labels: BTreeMap::new(),
        chains: vec![],
        executes: vec![],
        version: "0".into(),
    }
}

/// What an outcome says, for the table: "enrolled" or the refusal's text.
fn said(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Enrolled { labels } => format!("enrolled {labels:?}"),
        Outcome::Refused(reason) => reason.clone(),
        other => format!("{other:?}"),
    }
}

#[test]
fn a_token_enrolls_once_and_every_refusal_says_why() {
    let mut state = FleetState::default();
    let cases: Vec<(u64, Command, &str)> = vec![
        (0, create("t1", "s1", None), "Done"),
        (1, create("t1", "s9", None), "exists"),
        (2, create("t2", "s2", Some("host-b")), "Done"),
        (3, create("t3", "s3", None), "Done"),
        (4, register("host-c"), "Done"),
        // --- forged: never issued, or the wrong secret
        (
            10,
            redeem("t9", "s1", "host-a"),
            "unknown: this fleet never issued it",
        ),
        (11, redeem("t1", "s2", "host-a"), "its secret is wrong"),
        // --- a token bound to another agent, or an id already registered
        (
            12,
            redeem("t2", "s2", "host-a"),
            "is for agent `host-b`, not `host-a`",
        ),
        (
            13,
            redeem("t3", "s3", "host-c"),
            "`host-c` is already registered",
        ),
        // --- used once, then reused
        (
            20,
            redeem("t1", "s1", "host-a"),
            "enrolled {\"region\": \"eu\"}",
        ),
        (
            21,
            redeem("t1", "s1", "host-z"),
            "already used: it enrolled `host-a`",
        ),
        // --- expired: the hour has passed
        (
            HOUR_MS,
            redeem("t2", "s2", "host-b"),
            "expired at 1970-01-01 01:00:00 UTC",
        ),
        // --- a reused token's secret is still checked first
        (
            HOUR_MS + 1,
            redeem("t1", "bad", "host-a"),
            "its secret is wrong",
        ),
    ];
    for (index, (now, command, expected)) in cases.into_iter().enumerate() {
        let outcome = state.apply(index as u64 + 1, &at(now, command.clone()));
        let text = said(&outcome);
        assert!(text.contains(expected), "{command:?}: {text}");
    }
    let t1 = &state.join_tokens["t1"];
    assert_eq!(t1.used_by.as_deref(), Some("host-a"));
    assert_eq!(t1.used_ms, Some(20));
    assert!(state.join_tokens["t2"].used_by.is_none());
    // --- the audit log names the agent and the token, never the secret
    let enrolled = state
        .audit
        .iter()
        .find(|entry| entry.applied && entry.what.starts_with("enroll agent host-a"))
        .expect("audited");
    assert!(enrolled.what.contains("join token t1"), "{enrolled:?}");
    assert!(state.audit.iter().all(|entry| !entry.what.contains("s1")));
}

#[test]
fn a_token_bound_to_an_agent_re_enrolls_it_and_ended_tokens_are_dropped_after_a_week() {
    let mut state = FleetState::default();
    state.apply(1, &at(0, register("host-a")));
    state.apply(2, &at(0, create("t1", "s1", Some("host-a"))));
    let outcome = state.apply(3, &at(5, redeem("t1", "s1", "host-a")));
    assert!(matches!(outcome, Outcome::Enrolled { .. }), "{outcome:?}");
    // --- a week after it was used, making another token drops it
    let later = 5 + TOKENS_KEPT_AFTER_MS;
    let too_long = Command::CreateJoinToken {
        id: "t2".into(),
        secret_sha256: "s2".into(),
        expires_ms: later + MAX_TOKEN_TTL_MS + 1,
        labels: BTreeMap::new(),
        agent_id: None,
    };
    let outcome = state.apply(4, &at(later, too_long));
    assert!(said(&outcome).contains("within 30 days"), "{outcome:?}");
    assert!(!state.join_tokens.contains_key("t1"));
}
