//! Lease grants as sequences of heartbeats: renewal, a handover that waits
//! for the old holder, a new leader's wait, and the switches that stop
//! every grant.

use super::*;
use crate::state::Assignment;

const LEASE: Duration = Duration::from_millis(2000);

fn timing() -> LeaseTiming {
    LeaseTiming::for_lease(LEASE)
}

fn state(agent: &str, epoch: u64, active: bool) -> FleetState {
    let mut state = FleetState::default();
    state.executors.insert(
        "ethereum".into(),
        Assignment {
            agent: Some(agent.into()),
            epoch,
            active,
            since_ms: 0,
            reason: "test".into(),
        },
    );
    state
}

fn held(epoch: u64) -> Vec<Held> {
    vec![Held {
        chain: "ethereum".into(),
        epoch,
    }]
}

const FRESH: Option<Duration> = Some(Duration::from_millis(50));

#[test]
fn the_active_holder_is_renewed_at_once_even_by_a_new_leader() {
    let mut book = LeaseBook::default();
    let t0 = Instant::now();
    book.took_office(t0);
    let answer = book.on_heartbeat("a", &[], &state("a", 3, true), t0, timing(), FRESH);
    assert_eq!(answer.grants.len(), 1);
    assert_eq!(
        (answer.grants[0].epoch, answer.grants[0].lease_ms),
        (3, 2000)
    );
    // Others get nothing for the chain.
    let other = book.on_heartbeat("b", &[], &state("a", 3, true), t0, timing(), FRESH);
    assert_eq!(other, LeaseAnswer::default());
}

#[test]
fn a_handover_waits_for_the_old_holder_to_stop_or_its_lease_to_run_out() {
    let t0 = Instant::now();
    let ms = |n| t0 + Duration::from_millis(n);
    // Case 1: the old holder confirms it stopped.
    let mut book = LeaseBook::default();
    book.took_office(t0);
    book.on_heartbeat("a", &[], &state("a", 1, true), ms(0), timing(), FRESH);
    let moved = state("b", 2, false);
    assert!(book
        .on_heartbeat("b", &[], &moved, ms(10), timing(), FRESH)
        .activate
        .is_empty());
    // a still holds epoch 1: nothing yet.
    book.on_heartbeat("a", &held(1), &moved, ms(20), timing(), FRESH);
    assert!(book
        .on_heartbeat("b", &[], &moved, ms(30), timing(), FRESH)
        .activate
        .is_empty());
    // a's next heartbeat holds nothing: it stopped.
    book.on_heartbeat("a", &[], &moved, ms(270), timing(), FRESH);
    let answer = book.on_heartbeat("b", &[], &moved, ms(280), timing(), FRESH);
    assert_eq!(answer.activate, vec![("ethereum".to_owned(), 2)]);
    assert!(
        answer.grants.is_empty(),
        "no grant before the activation is committed"
    );
    let answer = book.on_heartbeat("b", &[], &state("b", 2, true), ms(300), timing(), FRESH);
    assert_eq!(answer.grants.len(), 1);

    // Case 2: the old holder is gone: wait out its lease plus the margin.
    let mut book = LeaseBook::default();
    book.took_office(t0);
    book.on_heartbeat("a", &[], &state("a", 1, true), ms(0), timing(), FRESH);
    let moved = state("b", 2, false);
    assert!(book
        .on_heartbeat("b", &[], &moved, ms(2400), timing(), FRESH)
        .activate
        .is_empty());
    assert_eq!(
        book.on_heartbeat("b", &[], &moved, ms(2501), timing(), FRESH)
            .activate,
        vec![("ethereum".to_owned(), 2)]
    );
}

#[test]
fn a_new_leader_activates_an_unwitnessed_handover_only_after_its_office_wait() {
    let t0 = Instant::now();
    let mut book = LeaseBook::default();
    book.took_office(t0);
    let moved = state("b", 2, false);
    let wait = timing().office_wait();
    assert_eq!(wait, Duration::from_millis(3500));
    let early = book.on_heartbeat(
        "b",
        &[],
        &moved,
        t0 + wait - Duration::from_millis(1),
        timing(),
        FRESH,
    );
    assert!(early.activate.is_empty());
    let late = book.on_heartbeat("b", &[], &moved, t0 + wait, timing(), FRESH);
    assert_eq!(late.activate.len(), 1);
}

#[test]
fn halt_safe_mode_a_stale_quorum_or_no_office_grant_nothing() {
    let t0 = Instant::now();
    let mut halted = state("a", 1, true);
    halted.halted = true;
    let mut safe = state("a", 1, true);
    safe.safe_mode.insert("a".into());
    let cases: Vec<(&str, FleetState, Option<Duration>, bool)> = vec![
        ("halted", halted, FRESH, true),
        ("safe mode", safe, FRESH, true),
        (
            "stale quorum",
            state("a", 1, true),
            Some(Duration::from_millis(1500)),
            true,
        ),
        ("no quorum ack at all", state("a", 1, true), None, true),
        ("not leading", state("a", 1, true), FRESH, false),
    ];
    for (what, state, quorum, leading) in cases {
        let mut book = LeaseBook::default();
        if leading {
            book.took_office(t0);
        }
        let answer = book.on_heartbeat("a", &[], &state, t0, timing(), quorum);
        assert!(answer.grants.is_empty(), "{what}");
    }
}

#[test]
fn a_holder_whose_role_moved_is_told_to_stop_and_a_new_leader_does_not_revoke_by_silence() {
    let t0 = Instant::now();
    let mut book = LeaseBook::default();
    book.took_office(t0);
    let moved = state("b", 2, false);
    let answer = book.on_heartbeat("a", &held(1), &moved, t0, timing(), FRESH);
    assert_eq!(answer.revoke, vec!["ethereum".to_owned()]);
    // Still the holder, but no quorum yet (a brand-new leader): no grant,
    // and no revocation either: the lease runs on.
    let answer = book.on_heartbeat("a", &held(1), &state("a", 1, true), t0, timing(), None);
    assert!(answer.grants.is_empty() && answer.revoke.is_empty());
}
