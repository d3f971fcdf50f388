use super::*;
use mevfleet_common::mempool::Sighting;

fn forwarded(hash: &str, reason: SightingReason, seen: &[(&str, u64)]) -> Forwarded {
    Forwarded {
        hash: hash.into(),
        value_wei: 2_000_000_000_000_000_000,
        from: None,
        to: None,
        reason,
        seen: seen
            .iter()
            .map(|(agent, seen_us)| SeenBy {
                agent: (*agent).to_owned(),
                seen_us: *seen_us,
                received_us: seen_us + 1_000,
            })
            .collect(),
    }
}

fn summary(chain: &str, arrivals: u64, p50: Option<f64>, trailing: Option<f64>) -> MempoolSummary {
    MempoolSummary {
        chain: chain.into(),
        second: 1,
        streaming: true,
        arrivals,
        arrivals_total: arrivals * 10,
        dropped_total: 0,
        pending: Some(arrivals * 2),
        queued: Some(1),
        fee_gwei: p50.map(|p| [p, p * 2.0, p * 3.0]),
        trailing_p50_gwei: trailing,
        error: None,
    }
}

/// agent, share, median lead, first, seen
type Row<'a> = (&'a str, f64, Option<f64>, u64, u64);

#[test]
fn first_seen_shares_and_median_leads() {
    let cases: Vec<(&str, Vec<Forwarded>, Vec<Row>)> = vec![
        (
            "nothing compared",
            vec![forwarded("0x1", SightingReason::All, &[("a", 1)])],
            vec![],
        ),
        (
            "a always first",
            vec![
                forwarded("0x1", SightingReason::All, &[("b", 5_000), ("a", 1_000)]),
                forwarded("0x2", SightingReason::All, &[("a", 10_000), ("b", 12_000)]),
                forwarded("0x3", SightingReason::All, &[("a", 20_000), ("b", 26_000)]),
            ],
            vec![("a", 1.0, Some(4.0), 3, 3), ("b", 0.0, None, 0, 3)],
        ),
        (
            "split, with a third agent that saw only one",
            vec![
                forwarded("0x1", SightingReason::All, &[("a", 1_000), ("b", 3_000)]),
                forwarded(
                    "0x2",
                    SightingReason::All,
                    &[("b", 1_000), ("a", 2_000), ("c", 9_000)],
                ),
            ],
            vec![
                ("a", 0.5, Some(2.0), 1, 2),
                ("b", 0.5, Some(1.0), 1, 2),
                ("c", 0.0, None, 0, 1),
            ],
        ),
        (
            "a tie goes to the lower id",
            vec![forwarded("0x1", SightingReason::All, &[("b", 7), ("a", 7)])],
            vec![("a", 1.0, Some(0.0), 1, 1), ("b", 0.0, None, 0, 1)],
        ),
    ];
    for (name, txs, expected) in cases {
        let table = first_seen(&txs);
        let got: Vec<Row> = table
            .iter()
            .map(|r| (r.agent.as_str(), r.share, r.median_lead_ms, r.first, r.seen))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn the_chain_view_takes_the_busiest_agent_and_flags_spikes() {
    let cases = [
        ("no trailing median", Some(50.0), None, false),
        ("within the multiplier", Some(19.0), Some(10.0), false),
        ("over it", Some(21.0), Some(10.0), true),
        ("no fees", None, Some(10.0), false),
    ];
    for (name, p50, trailing, spike) in cases {
        let snapshot = WindowSnapshot {
            summaries: [
                (
                    ("ethereum".into(), "a".into()),
                    summary("ethereum", 100, p50, trailing),
                ),
                (
                    ("ethereum".into(), "b".into()),
                    summary("ethereum", 40, Some(1.0), Some(1.0)),
                ),
            ]
            .into(),
            forwarded: BTreeMap::new(),
        };
        let view = view(&snapshot, 2.0);
        assert_eq!(view.len(), 1, "{name}");
        let chain = &view[0];
        assert_eq!(chain.gas_spike, spike, "{name}");
        assert_eq!(
            (chain.rate_per_s, chain.pending),
            (100.0, Some(200)),
            "{name}"
        );
        assert_eq!(chain.agents.len(), 2, "{name}");
        let expected_p50 = if p50.is_some() { p50 } else { Some(1.0) };
        assert_eq!(
            chain.fee_p50_gwei, expected_p50,
            "{name}: the busiest agent with fees"
        );
    }
}

fn sighting(hash: &str, seen_us: u64, reason: SightingReason) -> Sighting {
    Sighting {
        chain: "ethereum".into(),
        hash: hash.into(),
        value_wei: 5,
        from: Some("0xaa".into()),
        to: None,
        seen_us,
        reason,
    }
}

#[test]
fn the_window_joins_agents_sightings_and_forgets_old_ones() {
    let window = MempoolWindow::default();
    let start = Instant::now();
    let report = |sightings| MempoolReport {
        summaries: vec![summary("ethereum", 3, Some(2.0), None)],
        sightings,
        sightings_dropped_total: 0,
    };
    window.take(
        "a",
        report(vec![sighting("0x1", 100, SightingReason::HighValue)]),
        start,
        600,
    );
    window.take(
        "b",
        report(vec![sighting("0x1", 900, SightingReason::HighValue)]),
        start,
        1_100,
    );
    // A resend from the same agent does not count twice.
    window.take(
        "b",
        report(vec![sighting("0x1", 950, SightingReason::HighValue)]),
        start,
        1_200,
    );
    let snapshot = window.snapshot(start);
    let view = view(&snapshot, 2.0);
    let chain = &view[0];
    assert_eq!(chain.high_value.len(), 1);
    assert_eq!(chain.high_value[0].first_seen_by, "a");
    assert_eq!(chain.first_seen[0].agent, "a");
    assert_eq!(chain.first_seen[0].median_lead_ms, Some(0.8));
    // Each agent's delay from its sighting to the leader's receipt; the
    // resend did not replace b's first receipt.
    let delay = |id: &str| {
        chain
            .agents
            .iter()
            .find(|a| a.agent == id)
            .and_then(|a| a.forward_delay_ms)
    };
    assert_eq!(delay("a"), Some([0.5, 0.5]));
    assert_eq!(delay("b"), Some([0.2, 0.2]));

    // Summaries go stale; transactions leave the window.
    let later = start + WINDOW + Duration::from_secs(1);
    window.take("c", MempoolReport::default(), later, 0);
    let snapshot = window.snapshot(later);
    assert!(snapshot.summaries.is_empty());
    assert!(snapshot.forwarded["ethereum"].is_empty());

    window.clear();
    assert_eq!(window.snapshot(start), WindowSnapshot::default());
}

#[test]
fn forward_delay_is_p50_and_p99_per_agent_and_keeps_skew() {
    // a: 100 sightings with delays 1..=100 ms; b: one, its clock 2 ms ahead.
    let mut txs: Vec<Forwarded> = (1..=100u64)
        .map(|n| {
            let mut tx = forwarded(&format!("0x{n}"), SightingReason::All, &[("a", 0)]);
            tx.seen[0].received_us = n * 1_000;
            tx
        })
        .collect();
    let mut skewed = forwarded("0xb", SightingReason::All, &[("b", 5_000)]);
    skewed.seen[0].received_us = 3_000;
    txs.push(skewed);
    assert_eq!(forward_delay("a", &txs), Some([50.0, 99.0]));
    assert_eq!(forward_delay("b", &txs), Some([-2.0, -2.0]));
    assert_eq!(forward_delay("c", &txs), None);
}
