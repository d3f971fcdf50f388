//! The leader's live view: which agents send heartbeats, when each was last
//! heard from, and its latest reports, merged from the deltas heartbeats
//! carry, with their usable heads indexed by chain (see
//! [`super::live_heads`]). Telemetry, not decisions: it lives in memory on
//! the leader only and starts empty when a member takes office. An agent's
//! age is the time since it was last heard from less the leader's own
//! stalls in between (see [`super::stalls`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mevfleet_common::report::{AgentReports, ReportDelta};

use super::assess;
use super::live_heads::HeadIndex;
use super::stalls::Stalls;

/// An agent as last heard from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveAgent {
    /// When (monotonic).
    pub last_seen: Instant,
    /// When (ms since the Unix epoch).
    pub last_seen_unix_ms: u64,
    /// Its reports, shared with the snapshots taken since they last
    /// changed: a snapshot of the whole fleet copies a pointer per agent,
    /// not every agent's reports, under the lock every heartbeat waits on
    /// (a deep copy of 10,000 agents' reports held heartbeats up for long
    /// enough to overflow the leader's UDP buffer). A heartbeat that finds
    /// its agent's reports shared copies them once (`Arc::make_mut`).
    pub reports: Arc<AgentReports>,
    /// Heartbeats received since it said hello to this leader.
    pub heartbeats: u64,
}

impl LiveAgent {
    /// An agent first heard from at `now`, with no reports yet.
    fn heard(now: Instant, unix_ms: u64) -> Self {
        Self {
            last_seen: now,
            last_seen_unix_ms: unix_ms,
            reports: Arc::default(),
            heartbeats: 0,
        }
    }

    /// A heartbeat carrying `delta` arrived at `now`.
    fn beat(&mut self, delta: ReportDelta, now: Instant, unix_ms: u64) {
        self.last_seen = now;
        self.last_seen_unix_ms = unix_ms;
        self.heartbeats += 1;
        Arc::make_mut(&mut self.reports).merge(delta);
    }
}

/// A copy of the view for building answers, with ages instead of instants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveSnapshot {
    /// How long this member has led (None: it does not lead).
    pub in_office: Option<Duration>,
    /// Agents heard from, by id, with the time since they were last heard.
    pub agents: BTreeMap<String, (Duration, LiveAgent)>,
}

#[derive(Debug, Default)]
struct Inner {
    took_office: Option<Instant>,
    agents: BTreeMap<String, LiveAgent>,
    /// The agents' usable heads, kept in step with `agents`.
    heads: HeadIndex,
    stalls: Stalls,
}

impl Inner {
    fn in_office(&self, now: Instant) -> Option<Duration> {
        self.took_office
            .map(|since| now.saturating_duration_since(since))
    }

    /// How long `agent` has been silent as of `now`, the leader's stalls
    /// left out.
    fn age(&self, agent: &LiveAgent, now: Instant) -> Duration {
        self.stalls.listened(agent.last_seen, now)
    }
}

/// The live view, shared by the agent service, the HTTP API and reads.
#[derive(Debug, Default)]
pub struct LiveView {
    inner: Mutex<Inner>,
}

impl LiveView {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The stall clock ticked at `now` (see [`super::stalls`]).
    pub fn clock_tick(&self, now: Instant) {
        self.lock().stalls.tick(now);
    }

    /// The time this member's service threads have been stalled in all.
    pub fn stalled_total(&self) -> Duration {
        self.lock().stalls.total()
    }

    /// This member became leader at `now`: start from an empty view.
    pub fn took_office(&self, now: Instant) {
        let mut inner = self.lock();
        inner.took_office = Some(now);
        inner.agents.clear();
        inner.heads.clear();
    }

    /// This member no longer leads: forget everything.
    pub fn stepped_down(&self) {
        let mut inner = self.lock();
        inner.took_office = None;
        inner.agents.clear();
        inner.heads.clear();
    }

    /// An agent said hello: its reports start over (a full heartbeat follows).
    pub fn hello(&self, agent: &str, now: Instant, unix_ms: u64) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(before) = inner
            .agents
            .insert(agent.to_owned(), LiveAgent::heard(now, unix_ms))
        {
            inner.heads.forget(agent, &before.reports);
        }
    }

    /// Takes a heartbeat in. Returns false when the agent is not in the view
    /// (it never said hello to this leader): it is added, and must send
    /// everything next time.
    pub fn heartbeat(&self, agent: &str, delta: ReportDelta, now: Instant, unix_ms: u64) -> bool {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(entry) = inner.agents.get_mut(agent) {
            index_heads(&mut inner.heads, agent, &entry.reports, &delta);
            entry.beat(delta, now, unix_ms);
            return true;
        }
        let mut entry = LiveAgent::heard(now, unix_ms);
        index_heads(&mut inner.heads, agent, &entry.reports, &delta);
        entry.beat(delta, now, unix_ms);
        inner.agents.insert(agent.to_owned(), entry);
        false
    }

    /// A copy of the view as of `now`.
    pub fn snapshot(&self, now: Instant) -> LiveSnapshot {
        let inner = self.lock();
        LiveSnapshot {
            in_office: inner.in_office(now),
            agents: inner
                .agents
                .iter()
                .map(|(id, agent)| (id.clone(), (inner.age(agent, now), agent.clone())))
                .collect(),
        }
    }

    /// A copy of the view as of `now`, of the agents in `only` alone.
    pub fn snapshot_of(&self, now: Instant, only: &BTreeSet<&str>) -> LiveSnapshot {
        let inner = self.lock();
        LiveSnapshot {
            in_office: inner.in_office(now),
            agents: only
                .iter()
                .filter_map(|id| {
                    let agent = inner.agents.get(*id)?;
                    Some(((*id).to_owned(), (inner.age(agent, now), agent.clone())))
                })
                .collect(),
        }
    }

    /// The corroborated head per chain among the agents heard from within
    /// `within` of `now` (see [`assess::corroborated_heads`]), read off the
    /// head index: only the agents at the top of each chain are looked at.
    pub fn corroborated_heads(&self, now: Instant, within: Duration) -> BTreeMap<String, u64> {
        let inner = self.lock();
        inner.heads.corroborated(|agent| {
            inner
                .agents
                .get(agent)
                .is_some_and(|live| inner.age(live, now) <= within)
        })
    }

    /// How long this member has led, as of `now` (None: it does not lead).
    pub fn in_office(&self, now: Instant) -> Option<Duration> {
        self.lock().in_office(now)
    }

    /// The time since each agent was last heard from, as of `now` (a
    /// snapshot without the reports).
    pub fn ages(&self, now: Instant) -> BTreeMap<String, Duration> {
        let inner = self.lock();
        inner
            .agents
            .iter()
            .map(|(id, agent)| (id.clone(), inner.age(agent, now)))
            .collect()
    }

    /// How many agents were heard from within `within` of `now`.
    pub fn connected(&self, now: Instant, within: Duration) -> usize {
        let inner = self.lock();
        inner
            .agents
            .values()
            .filter(|agent| inner.age(agent, now) <= within)
            .count()
    }
}

/// Moves `agent`'s entries in the head index for the chains `delta`
/// changes, from what `reports` (before the merge) says; a chain the delta
/// names twice moves from its earlier report (the merge keeps the last).
fn index_heads(heads: &mut HeadIndex, agent: &str, reports: &AgentReports, delta: &ReportDelta) {
    for (i, report) in delta.chains.iter().enumerate() {
        let before = match delta.chains[..i]
            .iter()
            .rfind(|earlier| earlier.chain == report.chain)
        {
            Some(earlier) => assess::usable_head(earlier),
            None => reports
                .chains
                .get(&report.chain)
                .and_then(assess::usable_head),
        };
        heads.moved(&report.chain, agent, before, assess::usable_head(report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mevfleet_common::chain::HealthState;
    use mevfleet_common::report::{ChainReport, HostReport};

    fn chain(name: &str, head: u64) -> ChainReport {
        ChainReport {
            chain: name.into(),
            state: HealthState::Healthy,
            head: Some(head),
            head_timestamp: None,
            syncing: Some(false),
            peers: None,
            rpc_latency_us: Some(900),
            chain_id: Some(1),
            error: None,
        }
    }

    #[test]
    fn heartbeats_merge_deltas_and_unknown_agents_ask_for_everything() {
        let view = LiveView::default();
        let now = Instant::now();
        view.took_office(now);
        assert!(!view.heartbeat("a", ReportDelta::default(), now, 1));
        view.hello("b", now, 1);
        let full = ReportDelta {
            chains: vec![chain("ethereum", 10), chain("base", 20)],
            host: Some(HostReport::default()),
            ..ReportDelta::default()
        };
        assert!(view.heartbeat("b", full, now, 2));
        let delta = ReportDelta {
            chains: vec![chain("base", 21)],
            ..ReportDelta::default()
        };
        assert!(view.heartbeat("b", delta, now, 3));
        let snapshot = view.snapshot(now);
        let (_, b) = &snapshot.agents["b"];
        assert_eq!(b.reports.chains["ethereum"].head, Some(10));
        assert_eq!(b.reports.chains["base"].head, Some(21));
        assert!(b.reports.host.is_some());
        assert_eq!((b.heartbeats, b.last_seen_unix_ms), (2, 3));
    }

    #[test]
    fn snapshots_share_reports_and_keep_them_as_they_were() {
        let view = LiveView::default();
        let now = Instant::now();
        view.took_office(now);
        view.hello("a", now, 1);
        let beat = |head| ReportDelta {
            chains: vec![chain("ethereum", head)],
            ..ReportDelta::default()
        };
        view.heartbeat("a", beat(10), now, 2);
        let before = view.snapshot(now);
        let again = view.snapshot(now);
        // Nothing changed in between: both hold the same reports, not copies.
        assert!(Arc::ptr_eq(
            &before.agents["a"].1.reports,
            &again.agents["a"].1.reports
        ));
        view.heartbeat("a", beat(11), now, 3);
        let after = view.snapshot(now);
        assert_eq!(
            before.agents["a"].1.reports.chains["ethereum"].head,
            Some(10)
        );
        assert_eq!(
            after.agents["a"].1.reports.chains["ethereum"].head,
            Some(11)
        );
    }

    #[test]
    fn the_head_index_agrees_with_reading_every_agent() {
        // Agents say hello, heartbeat with heads that move, nodes that go
        // down or onto the wrong chain, chains named twice in one delta,
        // and fall silent; after every step the index's answer is the one
        // read from every agent's reports.
        let view = LiveView::default();
        let t0 = Instant::now();
        view.took_office(t0);
        let within = Duration::from_secs(3);
        let states = [
            HealthState::Healthy,
            HealthState::Lagging,
            HealthState::Down,
            HealthState::WrongChain,
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        let mut now = t0;
        for step in 0..4000 {
            now += Duration::from_millis(next(40));
            let agent = format!("agent-{}", next(30));
            if next(25) == 0 {
                view.hello(&agent, now, step);
            } else {
                let chains = (0..next(4))
                    .map(|_| {
                        let name = ["ethereum", "base", "arbitrum"][next(3) as usize];
                        let mut report = chain(name, 1000 + next(20));
                        report.state = states[next(4) as usize];
                        if next(10) == 0 {
                            report.head = None;
                        }
                        report
                    })
                    .collect();
                let delta = ReportDelta {
                    chains,
                    ..ReportDelta::default()
                };
                view.heartbeat(&agent, delta, now, step);
            }
            let snapshot = view.snapshot(now);
            let read_from_every_agent = assess::corroborated_heads(
                snapshot
                    .agents
                    .values()
                    .filter(|(age, _)| *age <= within)
                    .map(|(_, agent)| agent),
            );
            assert_eq!(
                view.corroborated_heads(now, within),
                read_from_every_agent,
                "step {step}"
            );
        }
        view.stepped_down();
        assert!(view.corroborated_heads(now, within).is_empty());
    }

    #[test]
    fn taking_or_leaving_office_starts_over() {
        let view = LiveView::default();
        let now = Instant::now();
        view.took_office(now);
        view.hello("a", now, 1);
        assert_eq!(view.connected(now, Duration::from_secs(1)), 1);
        view.stepped_down();
        let snapshot = view.snapshot(now);
        assert!(snapshot.in_office.is_none() && snapshot.agents.is_empty());
        view.took_office(now);
        assert_eq!(view.snapshot(now).in_office, Some(Duration::ZERO));
    }

    #[test]
    fn the_leaders_own_stall_is_not_taken_for_an_agents_silence() {
        use crate::fleet::assess::presence;
        use crate::fleet::stalls::TICK;
        use crate::fleet::FleetPolicy;
        use mevfleet_common::wire::fleet::Presence;

        let policy = FleetPolicy::default();
        let t0 = Instant::now();
        let view = LiveView::default();
        view.took_office(t0);
        let presence_of = |agent: &str, now: Instant| {
            let in_office = view.in_office(now).unwrap_or_default() + policy.leader_grace;
            presence(view.ages(now).get(agent).copied(), in_office, &policy)
        };
        // On time for a second; both agents heartbeat at its end.
        let mut at = t0;
        while at < t0 + Duration::from_secs(1) {
            view.clock_tick(at);
            at += TICK;
        }
        view.clock_tick(at);
        for agent in ["steady", "gone"] {
            view.heartbeat(agent, ReportDelta::default(), at, 1);
        }
        // The leader's threads stall for five seconds ("gone" has died
        // meanwhile, "steady" has not), then the clock ticks first.
        let resumed = at + Duration::from_secs(5);
        view.clock_tick(resumed);
        assert_ne!(presence_of("steady", resumed), Presence::Lost);
        assert_ne!(presence_of("gone", resumed), Presence::Lost);
        // Back on time: "steady"'s heartbeats arrive, "gone" stays silent
        // and is lost once the loss limit has passed in listened time.
        let mut at = resumed;
        let mut beat = resumed;
        while at <= resumed + policy.agent_lost {
            view.clock_tick(at);
            if at >= beat {
                view.heartbeat("steady", ReportDelta::default(), at, 2);
                beat += Duration::from_secs(1);
            }
            at += TICK;
        }
        assert_eq!(presence_of("steady", at), Presence::Connected);
        assert_eq!(presence_of("gone", at), Presence::Lost);
    }
}
