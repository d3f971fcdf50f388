//! Rolling maintenance in the replicated state: the plan, each host's phase
//! and the moves between phases. A move is fenced on the phase it starts
//! from and carries its side effects in the same entry (draining a host,
//! issuing its command, undraining it), so a new leader resumes exactly
//! where the old one stopped and nothing is done twice.

use mevfleet_common::command::{CommandSpec, Target};
use mevfleet_common::maintenance::{HostView, MaintenanceSpec, MaintenanceView, Phase, PlanState};
use serde::{Deserialize, Serialize};

use super::{FleetState, Outcome};

/// How many finished plans the state keeps.
pub const PLANS_RETAINED: usize = 100;

/// How long a maintenance command may wait for an offline host.
const COMMAND_EXPIRY_MS: u64 = 3_600_000;

/// One host of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStep {
    /// The host (agent id).
    pub host: String,
    /// Where it stands.
    pub phase: Phase,
    /// Since when (ms since the Unix epoch, proposer's clock).
    pub since_ms: u64,
    /// The command its action runs as.
    pub command_id: Option<u64>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// A rolling maintenance plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenancePlan {
    /// The id.
    pub id: u64,
    /// Who started it.
    pub issued_by: String,
    /// When.
    pub issued_at_ms: u64,
    /// What was asked.
    pub spec: MaintenanceSpec,
    /// Where it stands.
    pub state: PlanState,
    /// Every host, in order.
    pub hosts: Vec<HostStep>,
}

impl MaintenancePlan {
    /// The plan as the CLI shows it.
    pub fn view(&self) -> MaintenanceView {
        MaintenanceView {
            id: self.id,
            issued_by: self.issued_by.clone(),
            issued_at_ms: self.issued_at_ms,
            state: self.state.as_str().to_owned(),
            action: self.spec.action.clone(),
            args: self.spec.args.clone(),
            max_parallel: self.spec.max_parallel,
            min_healthy: self.spec.min_healthy,
            hosts: self
                .hosts
                .iter()
                .map(|h| HostView {
                    host: h.host.clone(),
                    phase: h.phase.as_str().to_owned(),
                    since_ms: h.since_ms,
                    command_id: h.command_id,
                    reason: h.reason.clone(),
                })
                .collect(),
        }
    }
}

impl FleetState {
    /// The plan being carried out, if any.
    pub fn active_maintenance(&self) -> Option<&MaintenancePlan> {
        self.maintenance
            .last()
            .filter(|p| p.state == PlanState::Running)
    }

    /// Starts a plan over the agents `spec.target` selects, in id order.
    pub(super) fn start_maintenance(
        &mut self,
        spec: &MaintenanceSpec,
        issued_by: &str,
        at_ms: u64,
    ) -> Outcome {
        if let Some(active) = self.active_maintenance() {
            return Outcome::Refused(format!(
                "maintenance {} is still running: cancel it first",
                active.id
            ));
        }
        if spec.action.trim().is_empty() || spec.max_parallel == 0 {
            return Outcome::Refused(
                "maintenance needs an action and a max_parallel of at least 1".into(),
            );
        }
        if let Target::Agents(ids) = &spec.target {
            if let Some(unknown) = ids.iter().find(|id| !self.agents.contains_key(*id)) {
                return Outcome::Refused(format!("no agent `{unknown}` is registered"));
            }
        }
        let hosts: Vec<HostStep> = self
            .agents
            .values()
            .filter(|a| spec.target.matches(&a.id, &a.labels, &a.chains))
            .map(|a| HostStep {
                host: a.id.clone(),
                phase: Phase::Waiting,
                since_ms: at_ms,
                command_id: None,
                reason: None,
            })
            .collect();
        if hosts.is_empty() {
            return Outcome::Refused(format!(
                "the target `{}` matches no registered agent",
                spec.target
            ));
        }
        self.next_maintenance_id += 1;
        let id = self.next_maintenance_id;
        self.maintenance.push(MaintenancePlan {
            id,
            issued_by: issued_by.to_owned(),
            issued_at_ms: at_ms,
            spec: spec.clone(),
            state: PlanState::Running,
            hosts,
        });
        if self.maintenance.len() > PLANS_RETAINED {
            self.maintenance.remove(0);
        }
        Outcome::PlanStarted { id }
    }

    /// Moves `host` of plan `id` from `from` to `to`, with the move's side
    /// effects; refused unless the plan runs and the host is at `from`.
    pub(super) fn advance_maintenance(
        &mut self,
        id: u64,
        host: &str,
        (from, to): (Phase, Phase),
        reason: Option<&str>,
        at_ms: u64,
    ) -> Outcome {
        let Some(index) = self
            .maintenance
            .iter()
            .position(|p| p.id == id && p.state == PlanState::Running)
        else {
            return Outcome::Refused(format!("maintenance {id} is not running"));
        };
        let Some(step) = self.maintenance[index]
            .hosts
            .iter()
            .position(|h| h.host == host && h.phase == from)
        else {
            return Outcome::Refused(format!(
                "{host} is not {} in maintenance {id}",
                from.as_str()
            ));
        };
        let mut command_id = None;
        match (from, to) {
            (Phase::Waiting, Phase::Draining) => {
                self.drained.insert(host.to_owned());
            }
            (Phase::Draining, Phase::Running) => {
                let plan = &self.maintenance[index];
                let command = CommandSpec {
                    target: Target::Agents(vec![host.to_owned()]),
                    action: plan.spec.action.clone(),
                    args: plan.spec.args.clone(),
                    timeout_ms: plan.spec.timeout_ms,
                    expires_in_ms: COMMAND_EXPIRY_MS,
                };
                let issued_by = format!("{} (maintenance {id})", plan.issued_by);
                match self.issue_command(&command, &issued_by, at_ms) {
                    Outcome::Issued { id, .. } => command_id = Some(id),
                    Outcome::Refused(why) => {
                        return self.fail_maintenance(index, step, &why, at_ms);
                    }
                    _ => {}
                }
            }
            (Phase::Running, Phase::Recovering) => {
                self.drained.remove(host);
            }
            (Phase::Recovering, Phase::Done) => {}
            (_, Phase::Failed) => {
                let why = reason.unwrap_or("failed");
                return self.fail_maintenance(index, step, why, at_ms);
            }
            (from, to) => {
                return Outcome::Refused(format!(
                    "maintenance moves no host from {} to {}",
                    from.as_str(),
                    to.as_str()
                ))
            }
        }
        let plan = &mut self.maintenance[index];
        let entry = &mut plan.hosts[step];
        entry.phase = to;
        entry.since_ms = at_ms;
        if command_id.is_some() {
            entry.command_id = command_id;
        }
        if plan.hosts.iter().all(|h| h.phase == Phase::Done) {
            plan.state = PlanState::Done;
        }
        Outcome::Done
    }

    /// Stops plan `index` at host `step`, undraining every host in progress.
    fn fail_maintenance(&mut self, index: usize, step: usize, why: &str, at_ms: u64) -> Outcome {
        let plan = &mut self.maintenance[index];
        plan.state = PlanState::Failed;
        let entry = &mut plan.hosts[step];
        entry.phase = Phase::Failed;
        entry.since_ms = at_ms;
        entry.reason = Some(why.to_owned());
        self.undrain_in_progress(index);
        Outcome::Done
    }

    /// Cancels the running plan `id`.
    pub(super) fn cancel_maintenance(&mut self, id: u64) -> Outcome {
        let Some(index) = self
            .maintenance
            .iter()
            .position(|p| p.id == id && p.state == PlanState::Running)
        else {
            return Outcome::Refused(format!("maintenance {id} is not running"));
        };
        self.maintenance[index].state = PlanState::Cancelled;
        self.undrain_in_progress(index);
        Outcome::Done
    }

    fn undrain_in_progress(&mut self, index: usize) {
        let hosts: Vec<String> = self.maintenance[index]
            .hosts
            .iter()
            .filter(|h| matches!(h.phase, Phase::Draining | Phase::Running | Phase::Failed))
            .map(|h| h.host.clone())
            .collect();
        for host in hosts {
            self.drained.remove(&host);
        }
    }

    /// Plans as the CLI shows them, newest first.
    pub fn maintenance_views(&self, limit: usize) -> Vec<MaintenanceView> {
        self.maintenance
            .iter()
            .rev()
            .take(limit)
            .map(MaintenancePlan::view)
            .collect()
    }
}
