//! The fleet view as tables of cases: presence across a leader change,
//! corroborated heads and lag, the status level and its reasons, and the
//! checklist.

use std::time::Instant;

use mevfleet_common::report::{DiskReport, HostReport, ServiceReport};
use mevfleet_common::wire::admin::MemberInfo;

use super::*;

const NOW_MS: u64 = 1_700_000_000_000;

fn record(id: &str, chains: &[&str]) -> AgentRecord {
    AgentRecord {
        id: id.into(),
        labels: BTreeMap::new(),
        chains: chains.iter().map(|c| (*c).to_owned()).collect(),
        executes: chains.iter().map(|c| (*c).to_owned()).collect(),
        version: "0.1.0".into(),
        registered_ms: 0,
        updated_ms: 0,
    }
}

fn report(chain: &str, state: HealthState, head: u64) -> ChainReport {
    ChainReport {
        chain: chain.into(),
        state,
        head: Some(head),
        head_timestamp: None,
        syncing: Some(false),
        peers: None,
        rpc_latency_us: Some(1_500),
        chain_id: Some(1),
        error: None,
    }
}

fn live(age_ms: u64, chains: Vec<ChainReport>) -> (Duration, LiveAgent) {
    let mut reports = mevfleet_common::report::AgentReports::default();
    for chain in chains {
        reports.chains.insert(chain.chain.clone(), chain);
    }
    (
        Duration::from_millis(age_ms),
        LiveAgent {
            last_seen: Instant::now(),
            last_seen_unix_ms: NOW_MS - age_ms,
            reports: reports.into(),
            heartbeats: 1,
        },
    )
}

fn cluster(leader: Option<u64>, unhealthy: &[u64]) -> ClusterStatus {
    ClusterStatus {
        leader,
        term: 3,
        members: (1..=3)
            .map(|id| MemberInfo {
                id,
                addr: format!("127.0.0.1:{}", 7400 + id),
                role: if unhealthy.contains(&id) {
                    "unreachable"
                } else {
                    "follower"
                }
                .into(),
                healthy: !unhealthy.contains(&id),
                last_applied: Some(10),
                voter: true,
            })
            .collect(),
    }
}

struct Case {
    registry: BTreeMap<String, AgentRecord>,
    live: LiveSnapshot,
}

impl Case {
    fn new(in_office_ms: u64) -> Self {
        Self {
            registry: BTreeMap::new(),
            live: LiveSnapshot {
                in_office: Some(Duration::from_millis(in_office_ms)),
                agents: BTreeMap::new(),
            },
        }
    }

    fn agent(mut self, id: &str, chains: &[&str], seen: Option<(Duration, LiveAgent)>) -> Self {
        self.registry.insert(id.into(), record(id, chains));
        if let Some(seen) = seen {
            self.live.agents.insert(id.into(), seen);
        }
        self
    }

    fn view(&self, cluster: ClusterStatus) -> FleetView {
        assess(AssessInput {
            leader: 1,
            now_ms: NOW_MS,
            registry: &self.registry,
            events: &[],
            executors: &BTreeMap::new(),
            halted: false,
            guards: &BTreeMap::new(),
            executions: &[],
            live: &self.live,
            cluster,
            policy: &FleetPolicy::default(),
        })
    }
}

#[test]
fn presence_gives_a_new_leader_a_grace_period() {
    // (time in office, seen how long ago) -> presence
    let cases = [
        (60_000, Some(100), Presence::Connected),
        (60_000, Some(2_000), Presence::Reconnecting),
        (60_000, Some(60_000), Presence::Lost),
        (60_000, None, Presence::Lost),
        // A new leader has heard from nobody yet: nobody is lost.
        (500, None, Presence::Reconnecting),
        (9_999, None, Presence::Reconnecting),
        (10_001, None, Presence::Lost),
    ];
    for (in_office, seen, expected) in cases {
        let case =
            Case::new(in_office).agent("a", &["ethereum"], seen.map(|age| live(age, vec![])));
        let view = case.view(cluster(Some(1), &[]));
        assert_eq!(
            view.agents[0].presence, expected,
            "in office {in_office} ms, seen {seen:?}"
        );
        assert_eq!(view.agents[0].connected, expected == Presence::Connected);
    }
}

#[test]
fn lag_is_measured_against_the_second_highest_head() {
    use HealthState::*;
    let case = Case::new(60_000)
        // A node that claims a far-ahead head does not make the others lag.
        .agent(
            "liar",
            &["ethereum"],
            Some(live(50, vec![report("ethereum", Healthy, 1_000)])),
        )
        .agent(
            "a",
            &["ethereum"],
            Some(live(50, vec![report("ethereum", Healthy, 100)])),
        )
        .agent(
            "b",
            &["ethereum"],
            Some(live(50, vec![report("ethereum", Healthy, 98)])),
        )
        .agent(
            "c",
            &["ethereum"],
            Some(live(50, vec![report("ethereum", Healthy, 90)])),
        )
        // A down node's head does not count.
        .agent(
            "d",
            &["ethereum"],
            Some(live(50, vec![report("ethereum", Down, 5_000)])),
        );
    let view = case.view(cluster(Some(1), &[]));
    let state = |id: &str| {
        let agent = view.agents.iter().find(|a| a.id == id).expect("agent");
        (agent.chains[0].state.clone(), agent.chains[0].lag)
    };
    assert_eq!(state("a"), ("healthy".into(), Some(0)));
    assert_eq!(state("b"), ("healthy".into(), Some(2)));
    assert_eq!(state("c"), ("lagging".into(), Some(10)));
    assert_eq!(state("d"), ("down".into(), Some(0)));
    let chain = &view.chains[0];
    assert_eq!(
        (chain.best_head, chain.healthy, chain.nodes),
        (Some(100), 3, 5)
    );
    assert_eq!(chain.standbys, vec!["a", "liar", "b"]);
}

#[test]
fn an_agent_that_is_not_connected_reports_unknown_states() {
    let case = Case::new(60_000).agent(
        "a",
        &["ethereum"],
        Some(live(
            60_000,
            vec![report("ethereum", HealthState::Healthy, 10)],
        )),
    );
    let view = case.view(cluster(Some(1), &[]));
    assert_eq!(view.agents[0].chains[0].state, "unknown");
    assert_eq!(view.chains[0].healthy, 0);
}

#[test]
fn status_is_the_worst_finding() {
    use HealthState::*;
    let healthy = |_id: &str| Some(live(50, vec![report("ethereum", Healthy, 10)]));
    let cases: Vec<(Case, ClusterStatus, StatusLevel, &str)> = vec![
        (
            Case::new(60_000).agent("a", &["ethereum"], healthy("a")),
            cluster(Some(1), &[]),
            StatusLevel::Green,
            "",
        ),
        (
            Case::new(60_000)
                .agent("a", &["ethereum"], healthy("a"))
                .agent(
                    "b",
                    &["ethereum"],
                    Some(live(50, vec![report("ethereum", Down, 10)])),
                ),
            cluster(Some(1), &[]),
            StatusLevel::Yellow,
            "b/ethereum is down",
        ),
        (
            Case::new(60_000).agent(
                "a",
                &["ethereum"],
                Some(live(50, vec![report("ethereum", Syncing, 10)])),
            ),
            cluster(Some(1), &[]),
            StatusLevel::Red,
            "ethereum: no healthy node of 1",
        ),
        (
            Case::new(60_000).agent("a", &["ethereum"], healthy("a")),
            cluster(Some(1), &[3]),
            StatusLevel::Yellow,
            "coordinator 3 (127.0.0.1:7403) is unreachable",
        ),
        (
            Case::new(60_000).agent("a", &["ethereum"], healthy("a")),
            cluster(None, &[]),
            StatusLevel::Red,
            "the coordinator cluster has no leader",
        ),
        (
            Case::new(60_000)
                .agent("a", &["ethereum"], healthy("a"))
                .agent("b", &["ethereum"], None),
            cluster(Some(1), &[]),
            StatusLevel::Yellow,
            "agent b is lost",
        ),
    ];
    for (i, (case, cluster, level, reason)) in cases.into_iter().enumerate() {
        let view = case.view(cluster);
        assert_eq!(view.status.level, level, "case {i}: {:?}", view.status);
        if !reason.is_empty() {
            assert!(
                view.status
                    .reasons
                    .iter()
                    .any(|r| r.text.starts_with(reason)),
                "case {i}: no reason `{reason}` in {:?}",
                view.status.reasons
            );
        }
    }
}

#[test]
fn host_findings_turn_the_status_yellow_and_fail_their_checks() {
    let mut seen = live(50, vec![report("ethereum", HealthState::Healthy, 10)]);
    let reports = std::sync::Arc::make_mut(&mut seen.1.reports);
    reports.host = Some(HostReport {
        disks: vec![DiskReport {
            path: "/data".into(),
            total_bytes: 100 << 30,
            available_bytes: 10 << 30,
            used_percent: 90,
            error: None,
        }],
        ..HostReport::default()
    });
    reports.services = vec![ServiceReport {
        unit: "erigon.service".into(),
        chain: Some("ethereum".into()),
        active: "failed".into(),
        sub: Some("failed".into()),
        restarts: Some(4),
    }];
    let view = Case::new(60_000)
        .agent("a", &["ethereum"], Some(seen))
        .view(cluster(Some(1), &[]));
    assert_eq!(view.status.level, StatusLevel::Yellow);
    let texts: Vec<&str> = view
        .status
        .reasons
        .iter()
        .map(|r| r.text.as_str())
        .collect();
    assert!(
        texts.contains(&"a: disk /data is 90 % full (limit 85 %)"),
        "{texts:?}"
    );
    assert!(texts.contains(&"a: erigon.service is failed"), "{texts:?}");
    let result = |section: &str| {
        view.checks
            .iter()
            .find(|c| c.section == section)
            .map(|c| c.result)
    };
    assert_eq!(result("node sync"), Some(CheckResult::Pass));
    assert_eq!(result("disk"), Some(CheckResult::Fail));
    assert_eq!(result("services"), Some(CheckResult::Fail));
    assert_eq!(result("overnight alerts"), Some(CheckResult::Pass));
}

#[test]
fn overnight_events_are_listed_per_node() {
    let registry = BTreeMap::from([("a".to_owned(), record("a", &["ethereum"]))]);
    let event = |seq, to, at_ms| ChainEvent {
        agent: "a".into(),
        seq,
        chain: "ethereum".into(),
        from: HealthState::Healthy,
        to,
        at_ms,
        reason: None,
    };
    let events = [
        event(
            1,
            HealthState::Down,
            NOW_MS - OVERNIGHT.as_millis() as u64 - 1,
        ),
        event(2, HealthState::Down, NOW_MS - 3_600_000),
        event(3, HealthState::Healthy, NOW_MS - 3_500_000),
        event(4, HealthState::Stale, NOW_MS - 1_000),
    ];
    let live = LiveSnapshot {
        in_office: Some(Duration::from_secs(60)),
        agents: BTreeMap::from([(
            "a".to_owned(),
            live(50, vec![report("ethereum", HealthState::Healthy, 1)]),
        )]),
    };
    let view = assess(AssessInput {
        leader: 1,
        now_ms: NOW_MS,
        registry: &registry,
        events: &events,
        executors: &BTreeMap::new(),
        halted: false,
        guards: &BTreeMap::new(),
        executions: &[],
        live: &live,
        cluster: cluster(Some(1), &[]),
        policy: &FleetPolicy::default(),
    });
    assert_eq!(
        view.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
    let overnight: Vec<&CheckItem> = view
        .checks
        .iter()
        .filter(|c| c.section == "overnight alerts")
        .collect();
    assert_eq!(overnight.len(), 1);
    assert_eq!(overnight[0].result, CheckResult::Warn);
    assert!(
        overnight[0].detail.starts_with("2 time(s)"),
        "{}",
        overnight[0].detail
    );
}

static EMPTY_EXECUTORS: BTreeMap<String, Assignment> = BTreeMap::new();
static EMPTY_GUARDS: BTreeMap<String, mevfleet_common::wire::agent::Guards> = BTreeMap::new();

#[test]
fn the_failover_rounds_agent_views_are_the_whole_views_of_those_agents() {
    use super::super::live::LiveView;
    use mevfleet_common::report::ReportDelta;
    use HealthState::*;
    let now = Instant::now();
    let live = LiveView::default();
    live.took_office(now - Duration::from_secs(60));
    let mut registry = BTreeMap::new();
    // (id, head, may execute); "silent" never heartbeats.
    for (id, head, executes) in [
        ("liar", 1_000, false),
        ("a", 100, true),
        ("b", 98, false),
        ("c", 90, true),
        ("silent", 0, true),
    ] {
        let mut agent = record(id, &["ethereum"]);
        if !executes {
            agent.executes.clear();
        }
        registry.insert(id.to_owned(), agent);
        if id != "silent" {
            live.hello(id, now, NOW_MS);
            let delta = ReportDelta {
                chains: vec![report("ethereum", Healthy, head)],
                ..ReportDelta::default()
            };
            live.heartbeat(id, delta, now, NOW_MS);
        }
    }
    let policy = FleetPolicy::default();
    let input = |live| AssessInput {
        leader: 1,
        now_ms: NOW_MS,
        registry: &registry,
        events: &[],
        executors: &EMPTY_EXECUTORS,
        halted: false,
        guards: &EMPTY_GUARDS,
        executions: &[],
        live,
        cluster: cluster(Some(1), &[]),
        policy: &policy,
    };
    let whole_live = live.snapshot(now);
    let whole = assess(input(&whole_live));

    let executes = |agent: &AgentRecord| !agent.executes.is_empty();
    let picked: BTreeSet<&str> = registry
        .values()
        .filter(|agent| executes(agent))
        .map(|agent| agent.id.as_str())
        .collect();
    let picked_live = live.snapshot_of(now, &picked);
    assert_eq!(
        picked_live.agents.len(),
        2,
        "only a and c are live and picked"
    );
    let heads = live.corroborated_heads(now, policy.connected_within());
    let part = agent_views(&input(&picked_live), &heads, executes);

    let expected: Vec<AgentView> = whole
        .agents
        .into_iter()
        .filter(|agent| picked.contains(agent.id.as_str()))
        .collect();
    assert_eq!(part, expected);
    // Lag is against the whole fleet's corroborated head (100), not the
    // picked agents' own (90).
    let c = part.iter().find(|agent| agent.id == "c").expect("c");
    assert_eq!(
        (c.chains[0].lag, c.chains[0].state.as_str()),
        (Some(10), "lagging")
    );
    let silent = part
        .iter()
        .find(|agent| agent.id == "silent")
        .expect("silent");
    assert_eq!(silent.presence, Presence::Lost);
}

/// The sort-based rule the top-two selection must agree with.
fn second_highest_by_sorting(mut heads: Vec<u64>) -> Option<u64> {
    heads.sort_unstable_by(|a, b| b.cmp(a));
    heads.get(1).or(heads.first()).copied()
}

#[test]
fn corroborated_heads_keep_the_second_highest_per_chain_in_any_order() {
    use HealthState::*;
    let cases: [&[u64]; 7] = [
        &[7],
        &[10, 10],
        &[1_000, 100, 98, 90],
        &[90, 98, 100, 1_000],
        &[5, 5, 5, 4],
        &[3, 9, 9, 1],
        &[0, 2, 1],
    ];
    for heads in cases {
        // Every rotation of the arrival order gives the same answer.
        for start in 0..heads.len() {
            let order: Vec<u64> = heads[start..]
                .iter()
                .chain(&heads[..start])
                .copied()
                .collect();
            let agents: Vec<LiveAgent> = order
                .iter()
                .map(|head| {
                    live(
                        0,
                        vec![
                            report("ethereum", Healthy, *head),
                            report("base", Lagging, head + 1),
                        ],
                    )
                    .1
                })
                .collect();
            let got = corroborated_heads(&agents);
            assert_eq!(
                got.get("ethereum").copied(),
                second_highest_by_sorting(order.clone()),
                "{order:?}"
            );
            assert_eq!(
                got.get("base").copied(),
                second_highest_by_sorting(order.iter().map(|h| h + 1).collect()),
                "{order:?}"
            );
        }
    }
    // Down and wrong-chain nodes do not count; a chain nobody usable
    // reports has no corroborated head.
    let agents = [
        live(0, vec![report("ethereum", Down, 5_000)]).1,
        live(0, vec![report("ethereum", WrongChain, 4_000)]).1,
        live(0, vec![report("ethereum", Healthy, 10)]).1,
        live(0, vec![report("polygon", Down, 77)]).1,
    ];
    let got = corroborated_heads(&agents);
    assert_eq!(got, BTreeMap::from([("ethereum".to_owned(), 10)]));
}
