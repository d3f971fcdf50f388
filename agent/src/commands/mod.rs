//! Fleet commands on the agent: orders arrive from the leader (see the
//! uplink's order feed), each id is taken at most once (the journal), checked
//! against the configured actions, run, and reported: `running` as soon as
//! it starts, then its end (`ok`, `failed`, `rejected`, `timeout`), both
//! through the spool so nothing is lost while the coordinators are away.

pub mod action;
pub mod journal;

use mevfleet_common::command::{CommandOrder, CommandResult, CommandStatus};
use mevfleet_common::report::SpoolRecord;
use mevfleet_common::shutdown::Shutdown;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::{error, info, info_span, warn, Instrument};

use crate::resources::ResourceHandle;
use crate::spool::Spool;
use action::{Actions, Builtin, Plan};
use journal::Journal;

/// Where the uplink hands orders, and what it tells the leader it has.
#[derive(Clone, Debug)]
pub struct Inbox {
    orders: mpsc::UnboundedSender<CommandOrder>,
    journal: Journal,
}

impl Inbox {
    /// Command ids this agent has taken (not to be sent again).
    pub fn known(&self) -> Vec<u64> {
        self.journal.known()
    }

    /// Hands an order to the runner; false once the runner has stopped.
    pub fn deliver(&self, order: CommandOrder) -> bool {
        self.orders.send(order).is_ok()
    }
}

use mevfleet_common::utc::now_ms as unix_ms;

/// Spools a record; errors are logged (the spool is the agent's disk: if
/// it fails, nothing else can be kept either).
async fn push(spool: &Spool, record: SpoolRecord) {
    let spool = spool.clone();
    match tokio::task::spawn_blocking(move || spool.push(record)).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => error!(error = %err, "cannot spool a command record"),
        Err(err) => error!(error = %err, "the spool writer failed"),
    }
}

/// Spools a command's result.
async fn report(spool: &Spool, result: CommandResult) {
    push(spool, SpoolRecord::Command(result)).await;
}

async fn finish(journal: &Journal, id: u64) {
    let journal = journal.clone();
    match tokio::task::spawn_blocking(move || journal.finish(id)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => error!(command = id, error = %err, "cannot mark a command finished"),
        Err(err) => error!(command = id, error = %err, "the journal writer failed"),
    }
}

fn result(id: u64, status: CommandStatus, output: String) -> CommandResult {
    CommandResult {
        id,
        status,
        exit_code: None,
        output,
        duration_ms: 0,
        at_ms: unix_ms(),
    }
}

/// Carries out a built-in: its status and output. Safe mode and drain are
/// requests about this agent to the fleet state, spooled before the result
/// so that when the result is committed, so is the request.
async fn run_builtin(
    builtin: Builtin,
    spool: &Spool,
    resources: &ResourceHandle,
) -> (CommandStatus, String) {
    let (record, done) = match builtin {
        Builtin::SetResources(weights) => {
            return match resources.apply(weights).await {
                Ok(done) => (CommandStatus::Ok, done),
                Err(why) => (CommandStatus::Failed, why),
            }
        }
        Builtin::SafeMode(on) => (
            SpoolRecord::SafeMode { on },
            format!(
                "safe mode {}",
                if on { "on: every write refused" } else { "off" }
            ),
        ),
        Builtin::Drain(on) => (
            SpoolRecord::Drain { on },
            if on {
                "drained: executor roles move away and none is taken".to_owned()
            } else {
                "undrained: may execute again".to_owned()
            },
        ),
    };
    push(spool, record).await;
    (CommandStatus::Ok, done)
}

/// Starts the command runner; the returned inbox feeds it.
pub fn spawn(
    journal: Journal,
    actions: Actions,
    spool: Spool,
    resources: ResourceHandle,
    shutdown: &Shutdown,
) -> Inbox {
    let (orders_tx, mut orders) = mpsc::unbounded_channel::<CommandOrder>();
    let inbox = Inbox {
        orders: orders_tx,
        journal: journal.clone(),
    };
    let token = shutdown.token().clone();
    shutdown.spawn(
        "command-runner",
        async move {
            for id in journal.unfinished() {
                warn!(command = id, "a command was cut short by a restart");
                let why = "interrupted: the agent stopped while it ran".to_owned();
                report(&spool, result(id, CommandStatus::Failed, why)).await;
                finish(&journal, id).await;
            }
            let mut running = JoinSet::new();
            loop {
                let order = tokio::select! {
                    _ = token.cancelled() => break,
                    Some(_) = running.join_next(), if !running.is_empty() => continue,
                    order = orders.recv() => match order {
                        Some(order) => order,
                        None => break,
                    },
                };
                if order.expires_at_ms <= unix_ms() {
                    info!(command = order.id, "a command arrived after it expired: not run");
                    continue;
                }
                let taken = {
                    let journal = journal.clone();
                    let (id, expires) = (order.id, order.expires_at_ms);
                    tokio::task::spawn_blocking(move || journal.take(id, expires)).await
                };
                match taken {
                    Ok(Ok(true)) => {}
                    Ok(Ok(false)) => continue,
                    Ok(Err(err)) => {
                        error!(command = order.id, error = %err, "cannot journal a command: not run");
                        continue;
                    }
                    Err(err) => {
                        error!(command = order.id, error = %err, "the journal writer failed");
                        continue;
                    }
                }
                let invocation = match actions.plan(&order) {
                    Ok(Plan::Run(invocation)) => invocation,
                    Ok(Plan::Builtin(builtin)) => {
                        info!(command = order.id, action = %order.action, issued_by = %order.issued_by, "running a built-in");
                        let (status, output) = run_builtin(builtin, &spool, &resources).await;
                        report(&spool, result(order.id, status, output)).await;
                        finish(&journal, order.id).await;
                        continue;
                    }
                    Err(why) => {
                        warn!(command = order.id, action = %order.action, reason = %why, "rejected a command");
                        report(&spool, result(order.id, CommandStatus::Rejected, why)).await;
                        finish(&journal, order.id).await;
                        continue;
                    }
                };
                info!(command = order.id, action = %order.action, issued_by = %order.issued_by, "running a command");
                report(&spool, result(order.id, CommandStatus::Running, String::new())).await;
                let (spool, journal) = (spool.clone(), journal.clone());
                let span = info_span!("command", id = order.id, action = %order.action);
                running.spawn(
                    async move {
                        let ran = action::run(&invocation).await;
                        info!(status = ran.status.as_str(), exit_code = ran.exit_code, duration_ms = ran.duration.as_millis() as u64, "command finished");
                        let done = CommandResult {
                            id: order.id,
                            status: ran.status,
                            exit_code: ran.exit_code,
                            output: ran.output,
                            duration_ms: ran.duration.as_millis() as u64,
                            at_ms: unix_ms(),
                        };
                        report(&spool, done).await;
                        finish(&journal, order.id).await;
                    }
                    .instrument(span),
                );
            }
            // Shutting down: running actions are killed with their tasks,
            // and reported as interrupted at the next start.
            running.shutdown().await;
        }
        .instrument(info_span!("command-runner")),
    );
    inbox
}
