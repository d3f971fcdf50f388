//! Fleet commands in the replicated state: issuing one (its targets are
//! fixed at issue, from the registry), the results agents report, what is
//! still to deliver to an agent, and the view the CLI shows.

use std::collections::BTreeMap;

use mevfleet_common::command::{
    AgentCommandResult, CommandOrder, CommandResult, CommandSpec, CommandView,
};
use serde::{Deserialize, Serialize};

use super::{FleetState, Outcome};

/// How many commands the state keeps; older ones are dropped.
pub const COMMANDS_RETAINED: usize = 10_000;

/// The longest an offline agent may still receive a command (7 days).
pub const MAX_EXPIRY_MS: u64 = 7 * 24 * 3_600_000;

/// A command and what each targeted agent made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// The id.
    pub id: u64,
    /// Who issued it (certificate name).
    pub issued_by: String,
    /// When (ms since the Unix epoch, the proposer's clock).
    pub issued_at_ms: u64,
    /// What was asked.
    pub spec: CommandSpec,
    /// After this it is not delivered.
    pub expires_at_ms: u64,
    /// The agents it is for, fixed when it was issued, in the registry's
    /// order (sorted by id), so [`Self::is_for`] can search them.
    pub targets: Vec<String>,
    /// The latest report of each agent that took it.
    pub results: BTreeMap<String, CommandResult>,
}

impl CommandRecord {
    /// Whether the command is aimed at `agent`. A binary search: every
    /// agent's poll and every result asks this, so a linear scan made a
    /// broadcast to n agents cost n² string compares on every member.
    pub fn is_for(&self, agent: &str) -> bool {
        self.targets
            .binary_search_by(|target| target.as_str().cmp(agent))
            .is_ok()
    }
}

impl FleetState {
    /// Issues a command: resolves its target against the registry and
    /// gives it the next id. A target that names an unknown agent, or
    /// matches none, is refused.
    pub(super) fn issue_command(
        &mut self,
        spec: &CommandSpec,
        issued_by: &str,
        at_ms: u64,
    ) -> Outcome {
        if spec.action.trim().is_empty() {
            return Outcome::Refused("a command needs an action".into());
        }
        if spec.expires_in_ms == 0 || spec.expires_in_ms > MAX_EXPIRY_MS {
            return Outcome::Refused(format!(
                "a command expires within 1 ms to 7 days, not {} ms",
                spec.expires_in_ms
            ));
        }
        if let mevfleet_common::command::Target::Agents(ids) = &spec.target {
            if let Some(unknown) = ids.iter().find(|id| !self.agents.contains_key(*id)) {
                return Outcome::Refused(format!("no agent `{unknown}` is registered"));
            }
        }
        // The registry is keyed by id, so these come sorted, as `is_for`
        // needs; sorting again costs one pass and does not rest on it.
        let mut targets: Vec<String> = self
            .agents
            .values()
            .filter(|a| spec.target.matches(&a.id, &a.labels, &a.chains))
            .map(|a| a.id.clone())
            .collect();
        targets.sort_unstable();
        if targets.is_empty() {
            return Outcome::Refused(format!(
                "the target `{}` matches no registered agent",
                spec.target
            ));
        }
        self.next_command_id += 1;
        let id = self.next_command_id;
        self.commands.insert(
            id,
            CommandRecord {
                id,
                issued_by: issued_by.to_owned(),
                issued_at_ms: at_ms,
                spec: spec.clone(),
                expires_at_ms: at_ms.saturating_add(spec.expires_in_ms),
                targets: targets.clone(),
                results: BTreeMap::new(),
            },
        );
        while self.commands.len() > COMMANDS_RETAINED {
            self.commands.pop_first();
        }
        Outcome::Issued { id, targets }
    }

    /// What `agent` has yet to take, oldest first: commands aimed at it
    /// that it has not reported on and that have not expired at `now_ms`.
    pub fn orders_for(&self, agent: &str, now_ms: u64) -> Vec<CommandOrder> {
        self.orders_after(agent, 0, now_ms)
    }

    /// Like [`Self::orders_for`], among the commands issued after command
    /// `after_id` only. A command's targets are fixed when it is issued, so
    /// an order feed that has looked at every command up to `after_id`
    /// finds anything new for its agent here, without walking the up to
    /// [`COMMANDS_RETAINED`] commands it has already looked at.
    pub fn orders_after(&self, agent: &str, after_id: u64, now_ms: u64) -> Vec<CommandOrder> {
        let mut orders: Vec<CommandOrder> = self
            .commands
            .range(after_id.saturating_add(1)..)
            .map(|(_, command)| command)
            .rev()
            .take_while(|c| c.issued_at_ms.saturating_add(MAX_EXPIRY_MS) >= now_ms)
            .filter(|c| {
                c.expires_at_ms > now_ms && !c.results.contains_key(agent) && c.is_for(agent)
            })
            .map(|c| CommandOrder {
                id: c.id,
                issued_by: c.issued_by.clone(),
                action: c.spec.action.clone(),
                args: c.spec.args.clone(),
                timeout_ms: c.spec.timeout_ms,
                expires_at_ms: c.expires_at_ms,
            })
            .collect();
        orders.reverse();
        orders
    }

    /// The id of the newest command issued (0 before the first).
    pub fn last_command_id(&self) -> u64 {
        self.next_command_id
    }

    /// Commands as the CLI shows them: one by id, or the latest `limit`,
    /// newest first.
    pub fn command_views(&self, id: Option<u64>, limit: usize, now_ms: u64) -> Vec<CommandView> {
        match id {
            Some(id) => self
                .commands
                .get(&id)
                .map(|c| vec![view(c, now_ms)])
                .unwrap_or_default(),
            None => self
                .commands
                .values()
                .rev()
                .take(limit)
                .map(|c| view(c, now_ms))
                .collect(),
        }
    }
}

/// An agent's report on a command. A final result is never replaced
/// (a report repeated after a restart changes nothing); reports on
/// commands not aimed at the agent are ignored.
pub(super) fn record_result(
    commands: &mut BTreeMap<u64, CommandRecord>,
    agent: &str,
    result: &CommandResult,
) {
    let Some(record) = commands.get_mut(&result.id) else {
        return;
    };
    if !record.is_for(agent) {
        return;
    }
    let settled = record
        .results
        .get(agent)
        .is_some_and(|r| r.status.is_final());
    if !settled {
        record.results.insert(agent.to_owned(), result.clone());
    }
}

fn view(record: &CommandRecord, now_ms: u64) -> CommandView {
    let expired = record.expires_at_ms <= now_ms;
    let results = record
        .targets
        .iter()
        .map(|agent| match record.results.get(agent) {
            Some(result) => AgentCommandResult::reported(agent, result),
            None if expired => AgentCommandResult::expired(agent),
            None => AgentCommandResult::pending(agent),
        })
        .collect();
    CommandView {
        command_id: record.id,
        issued_by: record.issued_by.clone(),
        issued_at_ms: record.issued_at_ms,
        target: record.spec.target.to_string(),
        action: record.spec.action.clone(),
        args: record.spec.args.clone(),
        timeout_ms: record.spec.timeout_ms,
        expires_at_ms: record.expires_at_ms,
        results,
    }
}
