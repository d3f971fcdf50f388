//! The rolling-maintenance decision as tables: starting hosts within
//! max_parallel and min_healthy, each phase's way forward, and the
//! failures that stop a plan.

use mevfleet_common::command::{CommandResult, CommandSpec, Target};
use mevfleet_common::maintenance::{MaintenanceSpec, PlanState};
use mevfleet_common::wire::fleet::Presence::Connected;

use super::*;
use crate::fleet::test_support::{agent, held_by};
use crate::state::HostStep;

const NOW: u64 = 1_000_000;
const STEP: u64 = 60_000;

fn plan(phases: &[(&str, Phase)], max_parallel: u32, min_healthy: u32) -> MaintenancePlan {
    MaintenancePlan {
        id: 7,
        issued_by: "ops".into(),
        issued_at_ms: 0,
        spec: MaintenanceSpec {
            target: Target::All,
            action: "restart".into(),
            args: Vec::new(),
            timeout_ms: None,
            max_parallel,
            min_healthy,
            step_timeout_ms: STEP,
        },
        state: PlanState::Running,
        hosts: phases
            .iter()
            .map(|(host, phase)| HostStep {
                host: (*host).into(),
                phase: *phase,
                since_ms: NOW - 1_000,
                command_id: (*phase == Phase::Running).then_some(1),
                reason: None,
            })
            .collect(),
    }
}

/// Command 1 on `host` with `status`.
fn command(host: &str, status: Option<CommandStatus>) -> BTreeMap<u64, CommandRecord> {
    let results = status
        .map(|status| {
            BTreeMap::from([(
                host.to_owned(),
                CommandResult {
                    id: 1,
                    status,
                    exit_code: Some(if status == CommandStatus::Ok { 0 } else { 3 }),
                    output: "line one\nno space left\n".into(),
                    duration_ms: 5,
                    at_ms: NOW,
                },
            )])
        })
        .unwrap_or_default();
    BTreeMap::from([(
        1,
        CommandRecord {
            id: 1,
            issued_by: "ops".into(),
            issued_at_ms: 0,
            spec: CommandSpec {
                target: Target::Agents(vec![host.into()]),
                action: "restart".into(),
                args: Vec::new(),
                timeout_ms: None,
                expires_in_ms: 1,
            },
            expires_at_ms: NOW + 1,
            targets: vec![host.into()],
            results,
        },
    )])
}

/// The moves as (host, from, to, reason contains).
fn moves(decision: &Decision) -> Vec<(String, Phase, Phase)> {
    decision
        .moves
        .iter()
        .filter_map(|m| match m {
            Command::AdvanceMaintenance { host, from, to, .. } => Some((host.clone(), *from, *to)),
            _ => None,
        })
        .collect()
}

fn reason(decision: &Decision) -> String {
    decision
        .moves
        .iter()
        .find_map(|m| match m {
            Command::AdvanceMaintenance { reason, .. } => reason.clone(),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn hosts_start_in_order_within_max_parallel_and_min_healthy() {
    use Phase::*;
    let healthy = vec![
        agent("a", Connected, "healthy", 0),
        agent("b", Connected, "healthy", 0),
        agent("c", Connected, "healthy", 0),
    ];
    let mut b_down = healthy.clone();
    b_down[1] = agent("b", Connected, "down", 0);
    let waiting = [("a", Waiting), ("b", Waiting), ("c", Waiting)];
    type Case<'a> = (
        &'a str,
        MaintenancePlan,
        &'a [AgentView],
        Vec<&'a str>,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "one at a time",
            plan(&waiting, 1, 1),
            &healthy,
            vec!["a"],
            None,
        ),
        (
            "two at once",
            plan(&waiting, 2, 1),
            &healthy,
            vec!["a", "b"],
            None,
        ),
        (
            "two at once, but ethereum keeps 2 healthy",
            plan(&waiting, 2, 2),
            &healthy,
            vec!["a"],
            Some("would keep 1 healthy node(s), needs 2"),
        ),
        (
            "another node is down: a cannot go",
            plan(&waiting, 1, 2),
            &b_down,
            vec![],
            Some("waiting before a: ethereum would keep 1"),
        ),
        (
            "the slot is taken",
            plan(&[("a", Recovering), ("b", Waiting), ("c", Waiting)], 1, 1),
            &healthy,
            vec![],
            None,
        ),
    ];
    for (what, plan, agents, started, waiting) in cases {
        let executors = held_by(Some("z"), 1);
        let commands = BTreeMap::new();
        let inputs = Inputs {
            agents,
            executors: &executors,
            commands: &commands,
            now_ms: NOW,
        };
        let decision = next(&plan, inputs);
        let drained: Vec<String> = moves(&decision)
            .into_iter()
            .filter(|(_, from, to)| (*from, *to) == (Waiting, Draining))
            .map(|(host, _, _)| host)
            .collect();
        assert_eq!(drained, started, "{what}");
        match waiting {
            Some(why) => assert!(
                decision.waiting.as_deref().is_some_and(|w| w.contains(why)),
                "{what}: {:?}",
                decision.waiting
            ),
            None => assert_eq!(decision.waiting, None, "{what}"),
        }
    }
}

#[test]
fn each_phase_moves_on_when_its_condition_holds_and_fails_when_overdue() {
    use Phase::*;
    let healthy = vec![
        agent("a", Connected, "healthy", 0),
        agent("b", Connected, "healthy", 0),
    ];
    let a_down = vec![
        agent("a", Connected, "down", 0),
        agent("b", Connected, "healthy", 0),
    ];
    // (what, a's phase, a holds the role, command status, agents, late, expected move, reason)
    type Case<'a> = (
        &'a str,
        Phase,
        bool,
        Option<CommandStatus>,
        &'a [AgentView],
        bool,
        Option<Phase>,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "draining, role still on a",
            Draining,
            true,
            None,
            &healthy,
            false,
            None,
            "",
        ),
        (
            "draining, role moved",
            Draining,
            false,
            None,
            &healthy,
            false,
            Some(Running),
            "",
        ),
        (
            "draining, handover not complete",
            Draining,
            false,
            None,
            &healthy,
            false,
            None,
            "",
        ),
        (
            "draining too long",
            Draining,
            true,
            None,
            &healthy,
            true,
            Some(Failed),
            "did not move off a",
        ),
        (
            "running, no result",
            Running,
            false,
            None,
            &healthy,
            false,
            None,
            "",
        ),
        (
            "running, still running",
            Running,
            false,
            Some(CommandStatus::Running),
            &healthy,
            false,
            None,
            "",
        ),
        (
            "running, ok",
            Running,
            false,
            Some(CommandStatus::Ok),
            &healthy,
            false,
            Some(Recovering),
            "",
        ),
        (
            "running, failed",
            Running,
            false,
            Some(CommandStatus::Failed),
            &healthy,
            false,
            Some(Failed),
            "restart on a: failed no space left",
        ),
        (
            "running, no result too long",
            Running,
            false,
            None,
            &healthy,
            true,
            Some(Failed),
            "gave no result",
        ),
        (
            "recovering, healthy",
            Recovering,
            false,
            None,
            &healthy,
            false,
            Some(Done),
            "",
        ),
        (
            "recovering, still down",
            Recovering,
            false,
            None,
            &a_down,
            false,
            None,
            "",
        ),
        (
            "recovering too long",
            Recovering,
            false,
            None,
            &a_down,
            true,
            Some(Failed),
            "a/ethereum is down",
        ),
    ];
    for (what, phase, holds, status, agents, late, expected, why) in cases {
        let mut plan = plan(&[("a", phase), ("b", Phase::Done)], 1, 0);
        if late {
            plan.hosts[0].since_ms = NOW - STEP - 1;
        }
        let mut executors = held_by(Some(if holds { "a" } else { "b" }), 1);
        if what.contains("not complete") {
            executors.values_mut().for_each(|a| a.active = false);
        }
        let commands = command("a", status);
        let inputs = Inputs {
            agents,
            executors: &executors,
            commands: &commands,
            now_ms: NOW,
        };
        let decision = next(&plan, inputs);
        let moved: Vec<Phase> = moves(&decision)
            .into_iter()
            .filter(|(host, _, _)| host == "a")
            .map(|(_, from, to)| {
                assert_eq!(from, phase, "{what}");
                to
            })
            .collect();
        assert_eq!(moved.first().copied(), expected, "{what}");
        assert!(
            reason(&decision).contains(why),
            "{what}: {}",
            reason(&decision)
        );
    }
}
