//! The live view's usable heads, by chain and ordered by height, so the
//! corroborated head of each chain (see [`super::assess::corroborated_heads`])
//! is read off the top few agents instead of every agent in the fleet. The
//! leader asks for it every failover round, under the lock every heartbeat
//! waits on; walking 10,000 agents' reports for it took about 4 % of the
//! leader's CPU. The live view keeps the index in step: a heartbeat that
//! changes a head moves that one entry, and an agent whose reports start
//! over is taken out.

use std::collections::{BTreeMap, BTreeSet};

use mevfleet_common::report::AgentReports;

use super::assess::usable_head;

/// Agents by usable head, by chain.
#[derive(Debug, Default)]
pub(super) struct HeadIndex {
    by_chain: BTreeMap<String, BTreeMap<u64, BTreeSet<String>>>,
}

impl HeadIndex {
    /// `agent`'s usable head on `chain` went from `before` to `after`
    /// (None: it had or has none).
    pub(super) fn moved(
        &mut self,
        chain: &str,
        agent: &str,
        before: Option<u64>,
        after: Option<u64>,
    ) {
        if before == after {
            return;
        }
        if let Some(head) = before {
            self.remove(chain, agent, head);
        }
        if let Some(head) = after {
            let by_height = match self.by_chain.get_mut(chain) {
                Some(by_height) => by_height,
                None => self.by_chain.entry(chain.to_owned()).or_default(),
            };
            by_height.entry(head).or_default().insert(agent.to_owned());
        }
    }

    /// `agent`'s `reports` no longer count (its reports start over).
    pub(super) fn forget(&mut self, agent: &str, reports: &AgentReports) {
        for report in reports.chains.values() {
            if let Some(head) = usable_head(report) {
                self.remove(&report.chain, agent, head);
            }
        }
    }

    /// Nobody's heads count any more.
    pub(super) fn clear(&mut self) {
        self.by_chain.clear();
    }

    /// The corroborated head per chain among the agents `counts` accepts:
    /// the second-highest usable head (equal heads count twice), or the
    /// highest when it is alone. Agents `counts` refuses are passed over,
    /// so a chain costs the agents above its second counted head.
    pub(super) fn corroborated(
        &self,
        mut counts: impl FnMut(&str) -> bool,
    ) -> BTreeMap<String, u64> {
        let mut heads = BTreeMap::new();
        for (chain, by_height) in &self.by_chain {
            let mut counted = by_height
                .iter()
                .rev()
                .flat_map(|(head, agents)| agents.iter().map(move |agent| (*head, agent)))
                .filter(|(_, agent)| counts(agent))
                .map(|(head, _)| head);
            if let Some(highest) = counted.next() {
                heads.insert(chain.clone(), counted.next().unwrap_or(highest));
            }
        }
        heads
    }

    fn remove(&mut self, chain: &str, agent: &str, head: u64) {
        let Some(by_height) = self.by_chain.get_mut(chain) else {
            return;
        };
        if let Some(agents) = by_height.get_mut(&head) {
            agents.remove(agent);
            if agents.is_empty() {
                by_height.remove(&head);
            }
        }
        if by_height.is_empty() {
            self.by_chain.remove(chain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(entries: &[(&str, &str, u64)]) -> HeadIndex {
        let mut index = HeadIndex::default();
        for (chain, agent, head) in entries {
            index.moved(chain, agent, None, Some(*head));
        }
        index
    }

    #[test]
    fn the_second_highest_counted_head_wins_and_equal_heads_count_twice() {
        let index = index(&[
            ("ethereum", "a", 100),
            ("ethereum", "b", 99),
            ("ethereum", "c", 98),
            ("base", "a", 7),
            ("base", "b", 7),
            ("arbitrum", "c", 5),
        ]);
        let heads = index.corroborated(|_| true);
        assert_eq!(heads["ethereum"], 99);
        assert_eq!(heads["base"], 7);
        assert_eq!(heads["arbitrum"], 5, "alone, the highest counts");
    }

    #[test]
    fn agents_that_do_not_count_are_passed_over_and_chains_without_any_left_out() {
        let index = index(&[
            ("ethereum", "silent", 500),
            ("ethereum", "a", 100),
            ("ethereum", "b", 90),
            ("base", "silent", 3),
        ]);
        let heads = index.corroborated(|agent| agent != "silent");
        assert_eq!(heads["ethereum"], 90);
        assert!(!heads.contains_key("base"));
    }

    #[test]
    fn a_moved_head_leaves_its_old_place_and_a_forgotten_agent_leaves_every_chain() {
        let mut index = index(&[("ethereum", "a", 100), ("ethereum", "b", 90)]);
        index.moved("ethereum", "a", Some(100), Some(80));
        assert_eq!(index.corroborated(|_| true)["ethereum"], 80);
        index.moved("ethereum", "b", Some(90), None);
        assert_eq!(index.corroborated(|_| true)["ethereum"], 80);
        let mut reports = AgentReports::default();
        let report = mevfleet_common::report::ChainReport {
            chain: "ethereum".into(),
            state: mevfleet_common::chain::HealthState::Healthy,
            head: Some(80),
            head_timestamp: None,
            syncing: Some(false),
            peers: None,
            rpc_latency_us: None,
            chain_id: Some(1),
            error: None,
        };
        reports.chains.insert("ethereum".into(), report);
        index.forget("a", &reports);
        assert!(index.corroborated(|_| true).is_empty());
        assert!(index.by_chain.is_empty(), "empty chains are not kept");
    }
}
