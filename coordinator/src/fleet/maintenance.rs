//! The rolling-maintenance decision, as a pure function of the plan, the
//! agents as the leader sees them, the executor assignments, the commands'
//! results and the time: which hosts move to their next phase. A host is
//! drained first, runs its action once its executor roles have moved away
//! (and every handover is complete),
//! is undrained when the action succeeded, and is done when its chains are
//! healthy again. A new host starts only while fewer than `max_parallel`
//! are in progress and every chain it serves keeps `min_healthy` healthy
//! nodes without it. Any phase that outlasts `step_timeout_ms`, or an action
//! that does not succeed, stops the plan.

use std::collections::BTreeMap;

use mevfleet_common::command::CommandStatus;
use mevfleet_common::maintenance::Phase;
use mevfleet_common::wire::fleet::AgentView;

use crate::state::{Assignment, Command, CommandRecord, MaintenancePlan};

/// What the decision looks at besides the plan.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// The agents, as the leader sees them now.
    pub agents: &'a [AgentView],
    /// The executor assignments.
    pub executors: &'a BTreeMap<String, Assignment>,
    /// Fleet commands, by id.
    pub commands: &'a BTreeMap<u64, CommandRecord>,
    /// Now (ms since the Unix epoch).
    pub now_ms: u64,
}

/// The moves to commit, and why the plan waits, if it does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// The moves.
    pub moves: Vec<Command>,
    /// Why no new host starts, when one could be next.
    pub waiting: Option<String>,
}

fn advance(
    plan: &MaintenancePlan,
    host: &str,
    from: Phase,
    to: Phase,
    reason: Option<String>,
) -> Command {
    Command::AdvanceMaintenance {
        plan: plan.id,
        host: host.to_owned(),
        from,
        to,
        reason,
    }
}

/// Whether `host` is connected and every chain it serves is healthy; if
/// not, why.
fn unhealthy(agents: &[AgentView], host: &str) -> Option<String> {
    let Some(agent) = agents.iter().find(|a| a.id == host) else {
        return Some(format!("{host} is not registered"));
    };
    if !agent.connected {
        return Some(format!("{host} is not connected"));
    }
    agent
        .chains
        .iter()
        .find(|c| !c.is_healthy())
        .map(|c| format!("{host}/{} is {}", c.chain, c.state))
}

/// The next moves of a running plan.
pub fn next(plan: &MaintenancePlan, inputs: Inputs<'_>) -> Decision {
    let mut decision = Decision::default();
    let timeout = plan.spec.step_timeout_ms;
    let overdue = |since: u64| inputs.now_ms.saturating_sub(since) > timeout;
    for step in plan.hosts.iter().filter(|h| h.phase.in_progress()) {
        let host = step.host.as_str();
        let fail = |why: String| advance(plan, host, step.phase, Phase::Failed, Some(why));
        let moved = match step.phase {
            Phase::Draining => {
                // Held by the host, or handed over but not yet active (the
                // old holder may still have its lease).
                let holds: Vec<&str> = inputs
                    .executors
                    .iter()
                    .filter(|(_, a)| a.agent.as_deref() == Some(host) || !a.active)
                    .map(|(chain, _)| chain.as_str())
                    .collect();
                if holds.is_empty() {
                    Some(advance(plan, host, Phase::Draining, Phase::Running, None))
                } else if overdue(step.since_ms) {
                    Some(fail(format!(
                        "the executor role of {} did not move off {host} within {timeout} ms (no healthy standby?)",
                        holds.join(", ")
                    )))
                } else {
                    None
                }
            }
            Phase::Running => {
                let result = step
                    .command_id
                    .and_then(|id| inputs.commands.get(&id))
                    .and_then(|c| c.results.get(host))
                    .filter(|r| r.status.is_final());
                match result {
                    Some(r) if r.status == CommandStatus::Ok => {
                        Some(advance(plan, host, Phase::Running, Phase::Recovering, None))
                    }
                    Some(r) => {
                        let output = r.output.trim_end().lines().last().unwrap_or_default();
                        Some(fail(format!(
                            "{} on {host}: {} {}",
                            plan.spec.action,
                            r.status.as_str(),
                            output
                        )))
                    }
                    None if overdue(step.since_ms) => Some(fail(format!(
                        "{} on {host} gave no result within {timeout} ms",
                        plan.spec.action
                    ))),
                    None => None,
                }
            }
            Phase::Recovering => match unhealthy(inputs.agents, host) {
                None => Some(advance(plan, host, Phase::Recovering, Phase::Done, None)),
                Some(why) if overdue(step.since_ms) => Some(fail(format!(
                    "not healthy again within {timeout} ms: {why}"
                ))),
                Some(_) => None,
            },
            _ => None,
        };
        decision.moves.extend(moved);
    }
    if decision.moves.iter().any(|m| {
        matches!(
            m,
            Command::AdvanceMaintenance {
                to: Phase::Failed,
                ..
            }
        )
    }) {
        return decision;
    }
    // Start hosts in order while there is room and every chain keeps its
    // healthy nodes.
    let mut busy: Vec<&str> = plan
        .hosts
        .iter()
        .filter(|h| h.phase.in_progress())
        .map(|h| h.host.as_str())
        .collect();
    for step in plan.hosts.iter().filter(|h| h.phase == Phase::Waiting) {
        if busy.len() >= plan.spec.max_parallel as usize {
            break;
        }
        let host = step.host.as_str();
        if let Some(why) = short_of_healthy(plan, inputs.agents, &busy, host) {
            decision.waiting = Some(why);
            break;
        }
        decision
            .moves
            .push(advance(plan, host, Phase::Waiting, Phase::Draining, None));
        busy.push(host);
    }
    decision
}

/// Why taking `host` out now would leave a chain short of healthy nodes.
fn short_of_healthy(
    plan: &MaintenancePlan,
    agents: &[AgentView],
    busy: &[&str],
    host: &str,
) -> Option<String> {
    let chains: Vec<&str> = agents
        .iter()
        .find(|a| a.id == host)
        .map(|a| a.chains.iter().map(|c| c.chain.as_str()).collect())
        .unwrap_or_default();
    for chain in chains {
        let healthy = agents
            .iter()
            .filter(|a| a.connected && a.id != host && !busy.contains(&a.id.as_str()))
            .filter(|a| a.chains.iter().any(|c| c.chain == chain && c.is_healthy()))
            .count();
        if healthy < plan.spec.min_healthy as usize {
            return Some(format!(
                "waiting before {host}: {chain} would keep {healthy} healthy node(s), needs {}",
                plan.spec.min_healthy
            ));
        }
    }
    None
}

#[cfg(test)]
#[path = "maintenance_tests.rs"]
mod tests;
