//! The leader's live view: which agents send heartbeats, when each was last
//! heard from, and its latest reports, merged from the deltas heartbeats
//! carry. Telemetry, not decisions: it lives in memory on the leader only
//! and starts empty when a member takes office. An agent's age is the time
//! since it was last heard from less the leader's own stalls in between
//! (see [`super::stalls`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mevfleet_common::report::{AgentReports, ReportDelta};

use super::assess;
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
    }

    /// This member no longer leads: forget everything.
    pub fn stepped_down(&self) {
        let mut inner = self.lock();
        inner.took_office = None;
        inner.agents.clear();
    }

    /// An agent said hello: its reports start over (a full heartbeat follows).
    pub fn hello(&self, agent: &str, now: Instant, unix_ms: u64) {
        self.lock()
            .agents
            .insert(agent.to_owned(), LiveAgent::heard(now, unix_ms));
    }

    /// Takes a heartbeat in. Returns false when the agent is not in the view
    /// (it never said hello to this leader): it is added, and must send
    /// everything next time.
    pub fn heartbeat(&self, agent: &str, delta: ReportDelta, now: Instant, unix_ms: u64) -> bool {
        let mut inner = self.lock();
        if let Some(entry) = inner.agents.get_mut(agent) {
            entry.beat(delta, now, unix_ms);
            return true;
        }
        let mut entry = LiveAgent::heard(now, unix_ms);
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
    /// `within` of `now` (see [`assess::corroborated_heads`]), read in
    /// place: nothing is copied but the heads.
    pub fn corroborated_heads(&self, now: Instant, within: Duration) -> BTreeMap<String, u64> {
        let inner = self.lock();
        assess::corroborated_heads(
            inner
                .agents
                .values()
                .filter(|agent| inner.age(agent, now) <= within),
        )
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
