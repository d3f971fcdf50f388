//! The dedup's set against the standard one, its bound, and its keys.

use std::collections::HashSet;

use super::*;

const T0: u64 = 1_700_000_000_000_000;

/// A hash with `n` in its `word`-th 8-byte word, the way made-up feeds
/// number them.
fn numbered(word: usize, n: u64) -> B256 {
    let mut hash = B256::ZERO;
    hash[word * 8..word * 8 + 8].copy_from_slice(&n.to_be_bytes());
    hash
}

#[test]
fn the_set_agrees_with_the_standard_one_as_it_grows() {
    let mut ours = KeySet::for_keys(0);
    let mut theirs = HashSet::new();
    // Counters, their multiples (keys that crowd one end of the table
    // without the multiply), repeats, and zero.
    let keys = (0..20_000u64)
        .chain((0..20_000u64).map(|n| n << 40))
        .chain((0..5_000u64).map(|n| n * 3))
        .chain([0, 0, u64::MAX]);
    for key in keys {
        assert_eq!(ours.insert(key), theirs.insert(key), "insert {key}");
    }
    assert_eq!(ours.len(), theirs.len());
    for key in (0..50_000u64).chain((0..50_000u64).map(|n| n << 40)) {
        assert_eq!(ours.contains(key), theirs.contains(&key), "contains {key}");
    }
    assert!(ours.slots.len() >= 2 * ours.len, "at most half full");
}

#[test]
fn counters_land_far_apart_in_the_table() {
    let mut set = KeySet::for_keys(4096);
    for n in 1..=4096u64 {
        set.insert(key_of(&numbered(3, n)));
    }
    // A probe runs over the occupied slots after a key's home: with the
    // keys spread, no run is long.
    let longest_run = set
        .slots
        .split(|&slot| slot == 0)
        .map(<[u64]>::len)
        .max()
        .unwrap_or(0);
    assert!(longest_run < 32, "a run of {longest_run} occupied slots");
}

#[test]
fn hashes_that_differ_in_any_one_word_are_told_apart() {
    let mut dedup = Dedup::new(u64::MAX, 100_000);
    for n in 1..=500u64 {
        for word in 0..4 {
            assert!(
                dedup.first_time(numbered(word, n), T0),
                "{}",
                numbered(word, n)
            );
        }
        assert!(!dedup.first_time(numbered(2, n), T0), "{n} again");
    }
    for byte in 1..=255u8 {
        assert!(
            dedup.first_time(B256::repeat_byte(byte), T0),
            "{byte} repeated"
        );
    }
    assert!(dedup.first_time(B256::ZERO, T0), "the zero hash");
    assert!(!dedup.first_time(B256::ZERO, T0), "the zero hash again");
}

#[test]
fn memory_is_bounded_by_the_capacity() {
    let mut dedup = Dedup::new(u64::MAX, 4);
    for n in 0..100u8 {
        assert!(dedup.first_time(B256::repeat_byte(n), T0));
    }
    assert!(dedup.current.len() <= 4 && dedup.previous.len() <= 4);
    assert!(
        !dedup.first_time(B256::repeat_byte(99), T0),
        "the newest stay"
    );
}

#[test]
fn a_hash_is_remembered_for_between_one_and_two_ttls() {
    let mut dedup = Dedup::new(10, 1_000);
    assert!(dedup.first_time(numbered(0, 7), T0));
    assert!(!dedup.first_time(numbered(0, 7), T0 + 9), "within the TTL");
    assert!(
        !dedup.first_time(numbered(0, 7), T0 + 15),
        "in the previous generation"
    );
    assert!(dedup.first_time(numbered(0, 7), T0 + 31), "forgotten");
}
