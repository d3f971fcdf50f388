use super::*;

const SECOND: u64 = 1_000_000;
const T0: u64 = 1_700_000_000 * SECOND;
const ETH: u128 = 1_000_000_000_000_000_000;
const GWEI: u128 = 1_000_000_000;

fn tx(n: u8, value: u128, fee_gwei: u128) -> PendingTx {
    PendingTx {
        hash: B256::repeat_byte(n),
        from: Some(Address::repeat_byte(0xaa)),
        to: Some(Address::repeat_byte(n)),
        value: alloy::primitives::U256::from(value),
        gas_price: None,
        max_fee_per_gas: Some(alloy::primitives::U256::from(fee_gwei * GWEI)),
    }
}

fn stats(selection: Selection) -> ChainStats {
    ChainStats::new("ethereum", selection, Dedup::new(120 * SECOND, 1000))
}

fn plain() -> Selection {
    Selection {
        high_value_wei: ETH,
        watched: BTreeSet::new(),
        forward_all: false,
    }
}

#[test]
fn a_second_summarises_its_arrivals_and_fee_percentiles() {
    let mut stats = stats(plain());
    assert_eq!(stats.roll(T0), None, "nothing has ended yet");
    for (i, fee) in (1..=10u128).enumerate() {
        assert_eq!(
            stats.arrived(&tx(i as u8, 1, fee), T0 + 100),
            Taken::Counted
        );
    }
    assert_eq!(stats.roll(T0 + SECOND / 2), None, "the second is not over");
    let summary = stats.roll(T0 + SECOND + 5).expect("the second ended");
    assert_eq!(summary.second, T0 / SECOND);
    assert_eq!((summary.arrivals, summary.arrivals_total), (10, 10));
    assert_eq!(summary.fee_gwei, Some([5.0, 9.0, 10.0]));
    assert_eq!(summary.trailing_p50_gwei, None, "no earlier second");
    assert_eq!(stats.roll(T0 + SECOND + 10), None, "once per second");

    let next = stats
        .roll(T0 + 2 * SECOND)
        .expect("an empty second is reported");
    assert_eq!((next.arrivals, next.arrivals_total), (0, 10));
    assert_eq!(
        next.fee_gwei,
        Some([5.0, 9.0, 10.0]),
        "a quiet second keeps the last fees"
    );
    assert_eq!(next.trailing_p50_gwei, Some(5.0));
}

#[test]
fn a_second_ended_by_an_arrival_is_still_reported() {
    let mut stats = stats(plain());
    stats.arrived(&tx(1, 1, 3), T0);
    stats.arrived(&tx(2, 1, 3), T0 + SECOND + 1);
    let first = stats.roll(T0 + SECOND + 2).expect("the first second");
    assert_eq!((first.second, first.arrivals), (T0 / SECOND, 1));
    let second = stats.roll(T0 + 2 * SECOND).expect("the second second");
    assert_eq!((second.arrivals, second.arrivals_total), (1, 2));
}

#[test]
fn duplicates_count_once_within_the_ttl() {
    let mut stats = ChainStats::new("ethereum", plain(), Dedup::new(10 * SECOND, 1000));
    assert_eq!(stats.arrived(&tx(1, 1, 1), T0), Taken::Counted);
    assert_eq!(
        stats.arrived(&tx(1, 1, 1), T0 + 9 * SECOND),
        Taken::Duplicate
    );
    assert!(!stats.hash_arrived(B256::repeat_byte(1), T0 + 15 * SECOND));
    // Forgotten between one and two TTLs.
    assert_eq!(
        stats.arrived(&tx(1, 1, 1), T0 + 31 * SECOND),
        Taken::Counted
    );
}

#[test]
fn selection_by_value_watch_list_and_forward_all() {
    let watched = Address::repeat_byte(7);
    let cases = [
        (plain(), tx(1, ETH, 1), Some(SightingReason::HighValue)),
        (plain(), tx(2, ETH - 1, 1), None),
        (
            Selection {
                watched: [watched].into(),
                ..plain()
            },
            tx(7, 5, 1),
            Some(SightingReason::Watched),
        ),
        (
            Selection {
                forward_all: true,
                ..plain()
            },
            tx(3, 5, 1),
            Some(SightingReason::All),
        ),
    ];
    for (selection, tx, expected) in cases {
        let taken = stats(selection).arrived(&tx, T0 + 42);
        match (taken, expected) {
            (Taken::Selected(sighting), Some(reason)) => {
                assert_eq!(sighting.reason, reason);
                assert_eq!(sighting.hash, tx.hash.to_string());
                assert_eq!(sighting.seen_us, T0 + 42);
                assert_eq!(sighting.value_wei, tx.value_wei());
            }
            (Taken::Counted, None) => {}
            (other, expected) => panic!("{other:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn hash_mode_counts_at_arrival_and_keeps_the_first_seen_time() {
    let mut stats = stats(plain());
    let big = tx(9, 3 * ETH, 2);
    assert!(stats.hash_arrived(big.hash, T0 + 10));
    let Taken::Selected(sighting) = stats.fetched(&big, T0 + 10) else {
        panic!("a high-value fetched transaction is selected");
    };
    assert_eq!(sighting.seen_us, T0 + 10);
    let summary = stats.roll(T0 + SECOND).expect("ended");
    assert_eq!(summary.arrivals, 1);
    assert_eq!(summary.fee_gwei, Some([2.0, 2.0, 2.0]));
}

#[test]
fn the_trailing_median_follows_past_seconds() {
    let mut stats = stats(plain());
    let mut n = 0u8;
    for (second, fee) in [(0u64, 10u128), (1, 10), (2, 12), (3, 40)] {
        n += 1;
        stats.arrived(&tx(n, 1, fee), T0 + second * SECOND);
    }
    let mut last = None;
    for second in 1..=4 {
        last = stats.roll(T0 + second * SECOND).or(last);
    }
    let last = last.expect("summaries");
    assert_eq!(last.fee_gwei.map(|f| f[0]), Some(40.0));
    assert_eq!(last.trailing_p50_gwei, Some(10.0), "median of 10, 10, 12");
}

/// A transaction whose hash is `n` in its last bytes, the way made-up
/// feeds number them.
fn numbered(n: u64, fee_gwei: u128) -> PendingTx {
    PendingTx {
        hash: B256::left_padding_from(&n.to_be_bytes()),
        ..tx(0, 1, fee_gwei)
    }
}

#[test]
fn a_busy_second_is_summarised_from_a_bounded_uniform_sample() {
    let mut stats = ChainStats::new("ethereum", plain(), Dedup::new(120 * SECOND, 200_000));
    let busy = 100_000u64;
    // Fees 1..=100,000 gwei, rising through the second: keeping only the
    // first ones would give a p50 of about 4,000.
    for n in 0..busy {
        let fee = u128::from(n + 1);
        assert_eq!(stats.arrived(&numbered(n, fee), T0 + 10), Taken::Counted);
    }
    assert!(stats.fees.kept.len() <= FEE_SAMPLE, "the sample is bounded");
    let summary = stats.roll(T0 + SECOND).expect("the second ended");
    assert_eq!(summary.arrivals, busy, "every arrival counts");
    let [p50, p90, p99] = summary.fee_gwei.expect("fees");
    for (estimate, exact) in [(p50, 50_000.0), (p90, 90_000.0), (p99, 99_000.0)] {
        assert!(
            (estimate - exact).abs() / exact < 0.03,
            "{estimate} gwei is not within 3% of {exact}"
        );
    }
}
