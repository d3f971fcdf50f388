//! Building the fleet view as a pure function of the registry, the committed
//! chain events, the leader's live view, the cluster's status and the
//! policy: presence of each agent, lag against the corroborated head, chain
//! summaries, the overall status with its reasons and the morning checklist.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mevfleet_common::chain::HealthState;
use mevfleet_common::report::ChainReport;
use mevfleet_common::wire::admin::ClusterStatus;
use mevfleet_common::wire::fleet::{
    AgentChainView, AgentView, ChainView, CheckItem, CheckResult, EventView, FleetView, Presence,
    Reason, StatusLevel, StatusReport,
};

use super::live::{LiveAgent, LiveSnapshot};
use super::policy::{FleetPolicy, OVERNIGHT};
use crate::state::{AgentRecord, Assignment, ChainEvent};

/// What the view is built from.
#[derive(Debug)]
pub struct AssessInput<'a> {
    /// The leader building it.
    pub leader: u64,
    /// Now, in ms since the Unix epoch.
    pub now_ms: u64,
    /// Registered agents.
    pub registry: &'a BTreeMap<String, crate::state::AgentRecord>,
    /// Committed chain events.
    pub events: &'a [ChainEvent],
    /// Executor assignments by chain.
    pub executors: &'a BTreeMap<String, Assignment>,
    /// Whether the emergency stop is in force.
    pub halted: bool,
    /// Execution outcomes.
    pub executions: &'a [crate::state::ExecutionEntry],
    /// Write guards by chain.
    pub guards: &'a BTreeMap<String, mevfleet_common::wire::agent::Guards>,
    /// The live view.
    pub live: &'a LiveSnapshot,
    /// The cluster.
    pub cluster: ClusterStatus,
    /// The limits.
    pub policy: &'a FleetPolicy,
}

/// Builds the view.
pub fn assess(input: AssessInput<'_>) -> FleetView {
    let best_heads = corroborated_heads(
        input
            .live
            .agents
            .values()
            .filter(|(age, _)| *age <= input.policy.connected_within())
            .map(|(_, agent)| agent),
    );
    let agents: Vec<AgentView> = input
        .registry
        .values()
        .map(|record| agent_view(record, &input, &best_heads))
        .collect();
    let mut chains = chain_views(&agents, &best_heads, input.policy);
    for chain in &mut chains {
        if let Some(guards) = input.guards.get(&chain.chain) {
            chain.guards = guards.clone();
        }
        if let Some(assignment) = input.executors.get(&chain.chain) {
            chain.executor = assignment.agent.clone();
            chain.epoch = Some(assignment.epoch);
            chain
                .standbys
                .retain(|id| Some(id) != assignment.agent.as_ref());
        }
    }
    let cutoff = input.now_ms.saturating_sub(OVERNIGHT.as_millis() as u64);
    let events: Vec<EventView> = input
        .events
        .iter()
        .filter(|event| event.at_ms >= cutoff)
        .map(|event| EventView {
            agent: event.agent.clone(),
            chain: event.chain.clone(),
            from: event.from,
            to: event.to,
            at_ms: event.at_ms,
            reason: event.reason.clone(),
            seq: event.seq,
        })
        .collect();
    let mut status = status(&agents, &chains, &input.cluster, input.policy, input.now_ms);
    if input.halted {
        status.level = StatusLevel::Red;
        status.reasons.insert(
            0,
            Reason {
                level: StatusLevel::Red,
                text: "emergency stop: no executor may execute (mevfleet resume undoes it)".into(),
            },
        );
    }
    let checks = checks(&agents, &events, &input.cluster, input.policy);
    FleetView {
        leader: input.leader,
        at_ms: input.now_ms,
        agents,
        chains,
        status,
        checks,
        events,
        cluster: input.cluster,
        mev: super::mev::report(
            input.executions,
            input.now_ms,
            (input.policy.alerts.missed_opportunity_eth * 1e18) as u128,
        ),
        mempool: Vec::new(),
    }
}

/// The views of the registered agents `wanted` picks, lag measured against
/// `best_heads` (corroborated over the whole fleet): what the leader's
/// failover round looks at ten times a second, without the rest of the
/// fleet view. `input.live` needs only the picked agents.
pub fn agent_views(
    input: &AssessInput<'_>,
    best_heads: &BTreeMap<String, u64>,
    wanted: impl Fn(&AgentRecord) -> bool,
) -> Vec<AgentView> {
    input
        .registry
        .values()
        .filter(|record| wanted(record))
        .map(|record| agent_view(record, input, best_heads))
        .collect()
}

/// The corroborated head per chain: the second-highest head among connected
/// agents whose node answers on the right chain (the highest alone when
/// only one reports), so one node that lies about its head cannot make the
/// rest look behind. The leader computes it every failover round over the
/// whole fleet, so it keeps only the top two heads of each chain and
/// allocates one name per chain, not one per report.
pub fn corroborated_heads<'a>(
    connected: impl IntoIterator<Item = &'a LiveAgent>,
) -> BTreeMap<String, u64> {
    let mut tops: BTreeMap<&str, TopTwo> = BTreeMap::new();
    for agent in connected {
        for report in agent.reports.chains.values() {
            if let Some(head) = usable_head(report) {
                match tops.get_mut(report.chain.as_str()) {
                    Some(top) => top.add(head),
                    None => {
                        tops.insert(report.chain.as_str(), TopTwo::new(head));
                    }
                }
            }
        }
    }
    tops.into_iter()
        .map(|(chain, top)| (chain.to_owned(), top.corroborated()))
        .collect()
}

/// The head a chain report counts with towards the corroborated head: none
/// when the node is down or on the wrong chain.
pub fn usable_head(report: &ChainReport) -> Option<u64> {
    let usable = !matches!(report.state, HealthState::Down | HealthState::WrongChain);
    report.head.filter(|_| usable)
}

/// The two highest heads seen so far (equal heads count twice).
struct TopTwo {
    highest: u64,
    second: Option<u64>,
}

impl TopTwo {
    fn new(head: u64) -> Self {
        Self {
            highest: head,
            second: None,
        }
    }

    fn add(&mut self, head: u64) {
        if head >= self.highest {
            self.second = Some(self.highest);
            self.highest = head;
        } else if self.second.is_none_or(|second| head > second) {
            self.second = Some(head);
        }
    }

    /// The second-highest, or the highest when it is alone.
    fn corroborated(&self) -> u64 {
        self.second.unwrap_or(self.highest)
    }
}

/// An agent's presence, `seen_ago` after its last heartbeat to a leader
/// `in_office` for so long.
pub fn presence(seen_ago: Option<Duration>, in_office: Duration, policy: &FleetPolicy) -> Presence {
    match seen_ago {
        Some(age) if age <= policy.connected_within() => Presence::Connected,
        Some(age) if age <= policy.agent_lost => Presence::Reconnecting,
        _ if in_office <= policy.leader_grace => Presence::Reconnecting,
        _ => Presence::Lost,
    }
}

fn agent_view(
    record: &AgentRecord,
    input: &AssessInput<'_>,
    best_heads: &BTreeMap<String, u64>,
) -> AgentView {
    let live = input.live.agents.get(&record.id);
    let in_office = input.live.in_office.unwrap_or_default();
    let presence = presence(live.map(|(age, _)| *age), in_office, input.policy);
    let mut names: BTreeSet<&str> = record.chains.iter().map(String::as_str).collect();
    if let Some((_, agent)) = live {
        names.extend(agent.reports.chains.keys().map(String::as_str));
    }
    let chains = names
        .into_iter()
        .map(|name| {
            let report = live.and_then(|(_, agent)| agent.reports.chains.get(name));
            chain_view(name, report, presence, best_heads, input.policy)
        })
        .collect();
    let reports = live.map(|(_, agent)| &agent.reports);
    AgentView {
        id: record.id.clone(),
        connected: presence == Presence::Connected,
        presence,
        last_seen_ms: live.map(|(_, agent)| agent.last_seen_unix_ms),
        labels: record.labels.clone(),
        version: record.version.clone(),
        chains,
        host: reports.and_then(|r| r.host.clone()),
        services: reports.map(|r| r.services.clone()).unwrap_or_default(),
        mev_boost: reports.and_then(|r| r.mev_boost.clone()),
    }
}

fn chain_view(
    name: &str,
    report: Option<&ChainReport>,
    presence: Presence,
    best_heads: &BTreeMap<String, u64>,
    policy: &FleetPolicy,
) -> AgentChainView {
    let head = report.and_then(|r| r.head);
    let lag = match (head, best_heads.get(name)) {
        (Some(head), Some(best)) => Some(best.saturating_sub(head)),
        _ => None,
    };
    let state = match (report, presence) {
        (Some(report), Presence::Connected) => {
            let lagging = lag.is_some_and(|lag| lag > policy.chain(name).lag_blocks);
            let state = if lagging {
                report.state.worst(HealthState::Lagging)
            } else {
                report.state
            };
            state.as_str().to_owned()
        }
        _ => "unknown".to_owned(),
    };
    AgentChainView {
        chain: name.to_owned(),
        state,
        head,
        lag,
        syncing: report.and_then(|r| r.syncing),
        peers: report.and_then(|r| r.peers),
        rpc_latency_ms: report.and_then(ChainReport::rpc_latency_ms),
        error: report.and_then(|r| r.error.clone()),
    }
}

fn chain_views(
    agents: &[AgentView],
    best_heads: &BTreeMap<String, u64>,
    policy: &FleetPolicy,
) -> Vec<ChainView> {
    let mut names: BTreeSet<&str> = policy.chains.keys().map(String::as_str).collect();
    for agent in agents {
        names.extend(agent.chains.iter().map(|c| c.chain.as_str()));
    }
    names
        .into_iter()
        .map(|name| {
            let mut nodes = 0u32;
            let mut healthy: Vec<(u64, u64, &str)> = Vec::new();
            for agent in agents {
                for chain in agent.chains.iter().filter(|c| c.chain == name) {
                    nodes += 1;
                    if chain.is_healthy() {
                        let latency_us = chain.rpc_latency_ms.map(|ms| (ms * 1000.0) as u64);
                        healthy.push((
                            chain.lag.unwrap_or(0),
                            latency_us.unwrap_or(u64::MAX),
                            agent.id.as_str(),
                        ));
                    }
                }
            }
            healthy.sort_unstable();
            ChainView {
                chain: name.to_owned(),
                executor: None,
                epoch: None,
                standbys: healthy.iter().map(|(_, _, id)| (*id).to_owned()).collect(),
                best_head: best_heads.get(name).copied(),
                healthy: healthy.len() as u32,
                nodes,
                min_healthy: policy.chain(name).min_healthy,
                guards: Default::default(),
            }
        })
        .collect()
}

fn reason(level: StatusLevel, text: String) -> Reason {
    Reason { level, text }
}

/// GREEN, YELLOW or RED, with every finding behind it, worst first.
pub fn status(
    agents: &[AgentView],
    chains: &[ChainView],
    cluster: &ClusterStatus,
    policy: &FleetPolicy,
    now_ms: u64,
) -> StatusReport {
    let mut reasons = Vec::new();
    match cluster.leader {
        None => reasons.push(reason(
            StatusLevel::Red,
            "the coordinator cluster has no leader".into(),
        )),
        Some(_) => {
            for member in cluster.members.iter().filter(|m| !m.healthy) {
                reasons.push(reason(
                    StatusLevel::Yellow,
                    format!(
                        "coordinator {} ({}) is {}",
                        member.id, member.addr, member.role
                    ),
                ));
            }
        }
    }
    for chain in chains.iter().filter(|c| c.nodes > 0) {
        if chain.healthy == 0 {
            reasons.push(reason(
                StatusLevel::Red,
                format!("{}: no healthy node of {}", chain.chain, chain.nodes),
            ));
        } else if chain.healthy < chain.min_healthy {
            reasons.push(reason(
                StatusLevel::Yellow,
                format!(
                    "{}: {} healthy nodes, the policy wants at least {}",
                    chain.chain, chain.healthy, chain.min_healthy
                ),
            ));
        }
    }
    for agent in agents {
        match agent.presence {
            Presence::Connected => {}
            Presence::Reconnecting => reasons.push(reason(
                StatusLevel::Yellow,
                format!("agent {} is reconnecting", agent.id),
            )),
            Presence::Lost => reasons.push(reason(
                StatusLevel::Yellow,
                match agent.last_seen_ms {
                    Some(at) => format!(
                        "agent {} is lost: last heard from {} s ago",
                        agent.id,
                        now_ms.saturating_sub(at) / 1000
                    ),
                    None => format!(
                        "agent {} is lost: not heard from since this leader took office",
                        agent.id
                    ),
                },
            )),
        }
        if !agent.connected {
            continue;
        }
        for chain in agent.chains.iter().filter(|c| !c.is_healthy()) {
            let why = chain
                .error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            reasons.push(reason(
                StatusLevel::Yellow,
                format!("{}/{} is {}{why}", agent.id, chain.chain, chain.state),
            ));
        }
        for finding in host_findings(agent, policy) {
            reasons.push(reason(StatusLevel::Yellow, finding));
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.level));
    StatusReport {
        level: reasons
            .iter()
            .map(|r| r.level)
            .max()
            .unwrap_or(StatusLevel::Green),
        reasons,
    }
}

fn host_findings(agent: &AgentView, policy: &FleetPolicy) -> Vec<String> {
    let mut findings = Vec::new();
    if let Some(host) = &agent.host {
        for disk in &host.disks {
            if disk.used_percent > policy.alerts.disk_percent {
                findings.push(format!(
                    "{}: disk {} is {} % full (limit {} %)",
                    agent.id, disk.path, disk.used_percent, policy.alerts.disk_percent
                ));
            }
        }
    }
    for unit in agent.services.iter().filter(|s| s.is_failed()) {
        findings.push(format!("{}: {} is {}", agent.id, unit.unit, unit.active));
    }
    if let Some(boost) = &agent.mev_boost {
        if !boost.ok {
            findings.push(format!(
                "{}: mev-boost at {} does not answer: {}",
                agent.id,
                boost.url,
                boost.error.as_deref().unwrap_or("not ok")
            ));
        }
        for relay in boost.relays.iter().filter(|r| !r.ok) {
            findings.push(format!("{}: relay {} is down", agent.id, relay.url));
        }
    }
    findings
}

fn item(section: &str, subject: String, result: CheckResult, detail: String) -> CheckItem {
    CheckItem {
        section: section.into(),
        subject,
        result,
        detail,
    }
}

/// The runbook's morning checklist: cluster, node sync, MEV system,
/// services, disk and overnight alerts.
pub fn checks(
    agents: &[AgentView],
    events: &[EventView],
    cluster: &ClusterStatus,
    policy: &FleetPolicy,
) -> Vec<CheckItem> {
    let mut items = Vec::new();
    let unhealthy: Vec<String> = cluster
        .members
        .iter()
        .filter(|m| !m.healthy)
        .map(|m| format!("{} {}", m.id, m.role))
        .collect();
    items.push(match (cluster.leader, unhealthy.is_empty()) {
        (None, _) => item(
            "cluster",
            "coordinators".into(),
            CheckResult::Fail,
            "no leader".into(),
        ),
        (Some(leader), true) => item(
            "cluster",
            "coordinators".into(),
            CheckResult::Pass,
            format!("leader {leader}, {} members healthy", cluster.members.len()),
        ),
        (Some(leader), false) => item(
            "cluster",
            "coordinators".into(),
            CheckResult::Warn,
            format!("leader {leader}; not healthy: {}", unhealthy.join(", ")),
        ),
    });
    for agent in agents {
        for chain in &agent.chains {
            let result = match chain.state.as_str() {
                "healthy" => CheckResult::Pass,
                "degraded" | "lagging" => CheckResult::Warn,
                _ => CheckResult::Fail,
            };
            let latency = chain
                .rpc_latency_ms
                .map(|ms| format!("{ms:.1} ms"))
                .unwrap_or_else(|| "-".into());
            let mut detail = format!(
                "{}, head {}, lag {}, latency {latency}",
                chain.state,
                opt(chain.head),
                opt(chain.lag)
            );
            if let Some(error) = &chain.error {
                detail.push_str(&format!(", last error: {error}"));
            }
            items.push(item(
                "node sync",
                format!("{}/{}", agent.id, chain.chain),
                result,
                detail,
            ));
        }
    }
    let boosts: Vec<_> = agents
        .iter()
        .filter_map(|a| a.mev_boost.as_ref().map(|b| (a, b)))
        .collect();
    if boosts.is_empty() {
        items.push(item(
            "mev system",
            "mev-boost".into(),
            CheckResult::Warn,
            "no agent reports a mev-boost ([mev_boost] url in the agent config)".into(),
        ));
    }
    for (agent, boost) in boosts {
        let relays_ok = boost.relays.iter().filter(|r| r.ok).count();
        let result = if !boost.ok || relays_ok < boost.relays.len() {
            CheckResult::Fail
        } else {
            CheckResult::Pass
        };
        items.push(item(
            "mev system",
            format!("{}/mev-boost", agent.id),
            result,
            format!(
                "{} at {}, relays up {relays_ok}/{}",
                if boost.ok {
                    "answers"
                } else {
                    "does not answer"
                },
                boost.url,
                boost.relays.len()
            ),
        ));
    }
    for agent in agents {
        for unit in &agent.services {
            let result = match unit.active.as_str() {
                "active" | "reloading" | "activating" => CheckResult::Pass,
                "unknown" => CheckResult::Warn,
                _ => CheckResult::Fail,
            };
            items.push(item(
                "services",
                format!("{}/{}", agent.id, unit.unit),
                result,
                format!(
                    "{}{}, restarts {}",
                    unit.active,
                    unit.sub
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default(),
                    opt(unit.restarts)
                ),
            ));
        }
        if let Some(host) = &agent.host {
            for disk in &host.disks {
                let result = if disk.error.is_some() {
                    CheckResult::Warn
                } else if disk.used_percent > policy.alerts.disk_percent {
                    CheckResult::Fail
                } else {
                    CheckResult::Pass
                };
                items.push(item(
                    "disk",
                    format!("{}:{}", agent.id, disk.path),
                    result,
                    match &disk.error {
                        Some(error) => error.clone(),
                        None => format!(
                            "{} % used, {} GiB free (limit {} %)",
                            disk.used_percent,
                            disk.available_bytes >> 30,
                            policy.alerts.disk_percent
                        ),
                    },
                ));
            }
        }
    }
    let mut incidents: BTreeMap<(String, String), Vec<&EventView>> = BTreeMap::new();
    for event in events.iter().filter(|e| e.to != HealthState::Healthy) {
        incidents
            .entry((event.agent.clone(), event.chain.clone()))
            .or_default()
            .push(event);
    }
    if incidents.is_empty() {
        items.push(item(
            "overnight alerts",
            "chain nodes".into(),
            CheckResult::Pass,
            format!(
                "no node went unhealthy in the last {} h",
                OVERNIGHT.as_secs() / 3600
            ),
        ));
    }
    for ((agent, chain), list) in incidents {
        let states: BTreeSet<&str> = list.iter().map(|e| e.to.as_str()).collect();
        items.push(item(
            "overnight alerts",
            format!("{agent}/{chain}"),
            CheckResult::Warn,
            format!(
                "{} time(s) not healthy in the last {} h ({})",
                list.len(),
                OVERNIGHT.as_secs() / 3600,
                states.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    items
}

fn opt<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

#[cfg(test)]
#[path = "assess_tests.rs"]
mod tests;
