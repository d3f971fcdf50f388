//! The failover decision as a table: node down, agent gone, both standbys
//! unhealthy, wrong chain, a new leader's grace, no flapping back, ranking.

use mevfleet_common::wire::fleet::AgentView;

use super::*;
use crate::fleet::test_support::{agent, held_by};

const GRACE: Duration = Duration::from_secs(10);
const SETTLED: Duration = Duration::from_secs(60);

fn registry(executors: &[&str], others: &[&str]) -> BTreeMap<String, AgentRecord> {
    let record = |id: &str, executes: bool| AgentRecord {
        id: id.into(),
        labels: BTreeMap::new(),
        chains: vec!["ethereum".into()],
        executes: if executes {
            vec!["ethereum".into()]
        } else {
            Vec::new()
        },
        version: "0".into(),
        registered_ms: 0,
        updated_ms: 0,
    };
    executors
        .iter()
        .map(|id| ((*id).to_owned(), record(id, true)))
        .chain(
            others
                .iter()
                .map(|id| ((*id).to_owned(), record(id, false))),
        )
        .collect()
}

/// The agent the role moves to, if it moves.
fn moved_to(commands: &[Command]) -> Option<(String, u64)> {
    match commands {
        [] => None,
        [Command::AssignExecutor {
            agent: Some(agent),
            expected_epoch,
            ..
        }] => Some((agent.clone(), *expected_epoch)),
        other => panic!("unexpected commands {other:?}"),
    }
}

/// (what, agents, registry, current holder, time in office, moved to)
type Case<'a> = (
    &'a str,
    Vec<AgentView>,
    BTreeMap<String, AgentRecord>,
    Option<&'a str>,
    Duration,
    Option<&'a str>,
);

#[test]
fn the_role_moves_only_when_it_must_and_only_to_a_healthy_standby() {
    use Presence::*;
    let two = registry(&["a", "b"], &[]);
    let cases: Vec<Case> = vec![
        (
            "node down: to the healthy standby",
            vec![
                agent("a", Connected, "down", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("a"),
            SETTLED,
            Some("b"),
        ),
        (
            "agent lost: to the healthy standby",
            vec![
                agent("a", Lost, "unknown", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("a"),
            SETTLED,
            Some("b"),
        ),
        (
            "agent reconnecting: wait",
            vec![
                agent("a", Reconnecting, "unknown", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("a"),
            SETTLED,
            None,
        ),
        (
            "wrong chain: move",
            vec![
                agent("a", Connected, "wrong_chain", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("a"),
            SETTLED,
            Some("b"),
        ),
        (
            "degraded holder keeps the role",
            vec![
                agent("a", Connected, "degraded", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("a"),
            SETTLED,
            None,
        ),
        (
            "standby unhealthy too: stay",
            vec![
                agent("a", Connected, "down", 0),
                agent("b", Connected, "syncing", 0),
            ],
            two.clone(),
            Some("a"),
            SETTLED,
            None,
        ),
        (
            "the old holder recovered: no flapping back",
            vec![
                agent("a", Connected, "healthy", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("b"),
            SETTLED,
            None,
        ),
        (
            "a new leader waits out its grace",
            vec![
                agent("a", Lost, "unknown", 0),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            Some("a"),
            Duration::from_secs(2),
            None,
        ),
        (
            "nobody holds it: the best standby",
            vec![
                agent("a", Connected, "healthy", 2),
                agent("b", Connected, "healthy", 0),
            ],
            two.clone(),
            None,
            SETTLED,
            Some("b"),
        ),
        (
            "an agent that may not execute is never chosen",
            vec![
                agent("a", Connected, "down", 0),
                agent("c", Connected, "healthy", 0),
            ],
            registry(&["a"], &["c"]),
            Some("a"),
            SETTLED,
            None,
        ),
    ];
    for (what, agents, registry, holder, in_office, expected) in cases {
        let executors = holder.map(|h| held_by(Some(h), 4)).unwrap_or_default();
        let committed = Committed {
            registry: &registry,
            executors: &executors,
            drained: &BTreeSet::new(),
        };
        let commands = decide(&agents, committed, in_office, GRACE);
        let expected_epoch = if holder.is_some() { 4 } else { 0 };
        assert_eq!(
            moved_to(&commands),
            expected.map(|to| (to.to_owned(), expected_epoch)),
            "{what}"
        );
    }
}

#[test]
fn a_drained_agent_gives_its_role_up_and_is_never_chosen() {
    use Presence::*;
    let registry = registry(&["a", "b", "c"], &[]);
    let agents = || {
        vec![
            agent("a", Connected, "healthy", 0),
            agent("b", Connected, "healthy", 0),
            agent("c", Connected, "healthy", 3),
        ]
    };
    // (what, drained, holder, where the role goes)
    type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
    let cases: [Case; 4] = [
        (
            "the drained holder's role moves to the best standby",
            &["a"],
            Some("a"),
            Some("b"),
        ),
        (
            "a drained standby is passed over",
            &["a", "b"],
            Some("a"),
            Some("c"),
        ),
        (
            "a working holder keeps it when another is drained",
            &["b"],
            Some("a"),
            None,
        ),
        (
            "everybody drained: nobody takes it",
            &["a", "b", "c"],
            None,
            None,
        ),
    ];
    for (what, drained, holder, expected) in cases {
        let drained: BTreeSet<String> = drained.iter().map(|d| (*d).to_owned()).collect();
        let executors = holder.map(|h| held_by(Some(h), 4)).unwrap_or_default();
        let committed = Committed {
            registry: &registry,
            executors: &executors,
            drained: &drained,
        };
        let commands = decide(&agents(), committed, SETTLED, GRACE);
        assert_eq!(
            moved_to(&commands).map(|(to, _)| to),
            expected.map(str::to_owned),
            "{what}"
        );
    }
}
