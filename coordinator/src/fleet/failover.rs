//! The failover decision, as a pure function of the agents' views, the
//! committed assignments and how long this leader has been in office:
//! which chains' executor role to move, and where. It never moves a role
//! that works (no flapping back), waits while the holder is reconnecting or
//! the leader is new, and moves it only to a connected agent whose node is
//! healthy and which may execute on the chain, best first (least lag, then
//! lowest latency, then name). A drained agent (maintenance, or the `drain`
//! action) gives its roles up and is never chosen.

use std::collections::BTreeSet;

use std::collections::BTreeMap;
use std::time::Duration;

use mevfleet_common::wire::fleet::{AgentView, Presence};

use crate::state::{AgentRecord, Assignment, Command};

/// Why a holder must give the role up, if it must.
fn must_move(
    agents: &[AgentView],
    drained: &BTreeSet<String>,
    agent: &str,
    chain: &str,
) -> Option<String> {
    if drained.contains(agent) {
        return Some(format!("agent {agent} is drained"));
    }
    let Some(holder) = agents.iter().find(|a| a.id == agent) else {
        return Some(format!("{agent} is no longer registered"));
    };
    match holder.presence {
        Presence::Lost => return Some(format!("agent {agent} is lost")),
        Presence::Reconnecting => return None,
        Presence::Connected => {}
    }
    let node = holder.chains.iter().find(|c| c.chain == chain)?;
    match node.state.as_str() {
        // Usable: a degraded or slightly lagging node keeps the role.
        "healthy" | "degraded" | "lagging" => None,
        state => Some(format!("{agent}/{chain} is {state}")),
    }
}

/// The best standby for `chain`, other than `except`.
fn best_standby(
    agents: &[AgentView],
    registry: &BTreeMap<String, AgentRecord>,
    drained: &BTreeSet<String>,
    chain: &str,
    except: Option<&str>,
) -> Option<String> {
    let mut candidates: Vec<(u64, u64, &str)> = agents
        .iter()
        .filter(|a| a.presence == Presence::Connected && Some(a.id.as_str()) != except)
        .filter(|a| !drained.contains(&a.id))
        .filter(|a| {
            registry
                .get(&a.id)
                .is_some_and(|r| r.executes.iter().any(|c| c == chain))
        })
        .filter_map(|a| {
            let node = a
                .chains
                .iter()
                .find(|c| c.chain == chain && c.is_healthy())?;
            let latency_us = node
                .rpc_latency_ms
                .map_or(u64::MAX, |ms| (ms * 1000.0) as u64);
            Some((node.lag.unwrap_or(0), latency_us, a.id.as_str()))
        })
        .collect();
    candidates.sort_unstable();
    candidates.first().map(|(_, _, id)| (*id).to_owned())
}

/// What the failover decision looks at besides the live view.
#[derive(Clone, Copy, Debug)]
pub struct Committed<'a> {
    /// The registry.
    pub registry: &'a BTreeMap<String, AgentRecord>,
    /// The executor assignments.
    pub executors: &'a BTreeMap<String, Assignment>,
    /// Drained agents.
    pub drained: &'a BTreeSet<String>,
}

/// The commands that move executor roles, if any must move. `agents` holds
/// at least every agent that holds a role or may execute on a chain.
pub fn decide(
    agents: &[AgentView],
    committed: Committed<'_>,
    in_office: Duration,
    grace: Duration,
) -> Vec<Command> {
    let Committed {
        registry,
        executors,
        drained,
    } = committed;
    // A new leader has not heard from every agent yet.
    if in_office < grace {
        return Vec::new();
    }
    let mut chains: Vec<&str> = registry
        .values()
        .flat_map(|r| r.executes.iter().map(String::as_str))
        .collect();
    chains.sort_unstable();
    chains.dedup();
    let mut commands = Vec::new();
    for chain in chains {
        let current = executors.get(chain);
        let holder = current.and_then(|a| a.agent.as_deref());
        let reason = match holder {
            Some(agent) => match must_move(agents, drained, agent, chain) {
                Some(reason) => reason,
                None => continue,
            },
            None => "no executor".to_owned(),
        };
        if let Some(next) = best_standby(agents, registry, drained, chain, holder) {
            commands.push(Command::AssignExecutor {
                chain: chain.to_owned(),
                agent: Some(next),
                expected_epoch: current.map_or(0, |a| a.epoch),
                reason,
            });
        }
    }
    commands
}

#[cfg(test)]
#[path = "failover_tests.rs"]
mod tests;
