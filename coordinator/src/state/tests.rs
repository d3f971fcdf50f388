//! `FleetState::apply` as a table of cases: each proposal's outcome, the
//! resulting state, and the audit entry it leaves.

use super::*;

fn proposal(command: Command) -> Proposal {
    Proposal {
        actor: Actor::new("operator", "alice"),
        at_ms: 1_000,
        command,
    }
}

fn set(key: &str, value: &str) -> Command {
    Command::SetSetting {
        key: key.into(),
        value: value.into(),
    }
}

#[test]
fn settings_are_set_overwritten_and_deleted() {
    let mut state = FleetState::default();
    let cases = [
        (set("region", "eu"), Outcome::Done, Some("eu")),
        (set("region", "us"), Outcome::Done, Some("us")),
        (
            Command::DeleteSetting {
                key: "region".into(),
            },
            Outcome::Done,
            None,
        ),
        (
            Command::DeleteSetting {
                key: "region".into(),
            },
            Outcome::Refused("no setting `region`".into()),
            None,
        ),
        (
            set("", "x"),
            Outcome::Refused("a setting needs a non-empty key".into()),
            None,
        ),
    ];
    for (index, (command, outcome, value)) in cases.into_iter().enumerate() {
        let got = state.apply(index as u64 + 1, &proposal(command.clone()));
        assert_eq!(got, outcome, "{command:?}");
        assert_eq!(
            state.settings.get("region").map(String::as_str),
            value,
            "{command:?}"
        );
    }
    let applied: Vec<bool> = state.audit.iter().map(|a| a.applied).collect();
    assert_eq!(applied, vec![true, true, true, false, false]);
    assert_eq!(state.audit[0].what, "set region = eu");
    assert_eq!(state.audit[0].actor.to_string(), "operator alice");
    assert_eq!(state.audit[4].index, 5);
}

#[test]
fn an_agent_registers_once_and_updates_in_place() {
    let mut state = FleetState::default();
    let register = |version: &str| Command::RegisterAgent {
        id: "host-a".into(),
        labels: [("region".to_owned(), "eu".to_owned())].into(),
        chains: vec!["ethereum".into()],
        executes: vec!["ethereum".into()],
        version: version.into(),
    };
    state.apply(1, &proposal(register("0.1.0")));
    let mut later = proposal(register("0.2.0"));
    later.at_ms = 5_000;
    state.apply(2, &later);
    let agent = &state.agents["host-a"];
    assert_eq!((agent.registered_ms, agent.updated_ms), (1_000, 5_000));
    assert_eq!(agent.version, "0.2.0");
    assert_eq!(
        state.apply(
            3,
            &proposal(Command::ForgetAgent {
                id: "host-b".into()
            })
        ),
        Outcome::Refused("no agent `host-b`".into())
    );
    assert_eq!(
        state.apply(
            4,
            &proposal(Command::ForgetAgent {
                id: "host-a".into()
            })
        ),
        Outcome::Done
    );
    assert!(state.agents.is_empty());
}

#[test]
fn the_same_log_gives_the_same_state_on_every_member() {
    let log: Vec<Proposal> = (0..50)
        .map(|i| proposal(set(&format!("k{}", i % 7), &i.to_string())))
        .collect();
    let replay = || {
        let mut state = FleetState::default();
        for (i, p) in log.iter().enumerate() {
            state.apply(i as u64 + 1, p);
        }
        state
    };
    assert_eq!(replay(), replay());
}

#[test]
fn the_audit_log_is_bounded_and_counts_what_it_dropped() {
    let mut state = FleetState::default();
    for i in 0..(AUDIT_RETAINED as u64 + 10) {
        state.apply(i + 1, &proposal(set("k", "v")));
    }
    assert_eq!(state.audit.len(), AUDIT_RETAINED);
    assert_eq!(state.audit_dropped, 10);
    assert_eq!(state.audit[0].index, 11);
}

fn transition(seq: u64, to: HealthState) -> Spooled {
    Spooled {
        seq,
        record: SpoolRecord::ChainTransition {
            chain: "ethereum".into(),
            from: HealthState::Healthy,
            to,
            at_ms: 500 + seq,
            reason: None,
        },
    }
}

fn records(spool_id: u64, seqs: &[u64]) -> Command {
    Command::AgentRecords {
        agent: "host-a".into(),
        spool_id,
        records: seqs
            .iter()
            .map(|&seq| transition(seq, HealthState::Down))
            .collect(),
    }
}

fn registered() -> FleetState {
    let mut state = FleetState::default();
    state.apply(
        1,
        &proposal(Command::RegisterAgent {
            id: "host-a".into(),
            labels: BTreeMap::new(),
            chains: vec!["ethereum".into()],
            executes: vec!["ethereum".into()],
            version: "0".into(),
        }),
    );
    state
}

#[test]
fn spooled_records_apply_exactly_once_across_redelivery() {
    let mut state = registered();
    let cases: [(&[u64], u64, u64); 5] = [
        (&[1, 2, 3], 3, 3),
        // The same batch again (its acknowledgement was lost): nothing new.
        (&[1, 2, 3], 3, 0),
        // Overlapping: only the new tail applies.
        (&[2, 3, 4, 5], 5, 2),
        (&[], 5, 0),
        (&[6], 6, 1),
    ];
    for (i, (seqs, through, applied)) in cases.into_iter().enumerate() {
        let outcome = state.apply(10 + i as u64, &proposal(records(7, seqs)));
        assert_eq!(
            outcome,
            Outcome::RecordsThrough {
                through_seq: through,
                applied
            },
            "case {i}"
        );
    }
    let seqs: Vec<u64> = state.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_new_spool_identity_starts_a_new_mark() {
    let mut state = registered();
    state.apply(2, &proposal(records(7, &[1, 2])));
    let outcome = state.apply(3, &proposal(records(8, &[1])));
    assert_eq!(
        outcome,
        Outcome::RecordsThrough {
            through_seq: 1,
            applied: 1
        }
    );
    assert_eq!(state.events.len(), 3);
}

#[test]
fn records_from_an_unregistered_agent_are_refused() {
    let mut state = FleetState::default();
    let outcome = state.apply(1, &proposal(records(7, &[1])));
    assert!(matches!(outcome, Outcome::Refused(_)), "{outcome:?}");
    assert!(state.events.is_empty() && state.spools.is_empty());
}

fn assign(chain: &str, agent: Option<&str>, expected_epoch: u64) -> Command {
    Command::AssignExecutor {
        chain: chain.into(),
        agent: agent.map(str::to_owned),
        expected_epoch,
        reason: "test".into(),
    }
}

#[test]
fn executor_assignments_are_fenced_by_epoch() {
    let mut state = registered();
    let cases: Vec<(Command, bool, u64, bool)> = vec![
        // (command, applied, epoch after, active after)
        (assign("ethereum", Some("host-a"), 0), true, 1, true),
        (assign("ethereum", Some("host-a"), 1), false, 1, true),
        (assign("ethereum", Some("nobody-such"), 1), false, 1, true),
        (assign("base", Some("host-a"), 0), false, 1, true),
        (assign("ethereum", None, 0), false, 1, true),
        (assign("ethereum", None, 1), true, 2, false),
        (
            Command::ActivateExecutor {
                chain: "ethereum".into(),
                epoch: 1,
            },
            false,
            2,
            false,
        ),
        (
            Command::ActivateExecutor {
                chain: "ethereum".into(),
                epoch: 2,
            },
            true,
            2,
            true,
        ),
    ];
    for (i, (command, applied, epoch, active)) in cases.into_iter().enumerate() {
        let outcome = state.apply(10 + i as u64, &proposal(command));
        assert_eq!(
            !matches!(outcome, Outcome::Refused(_)),
            applied,
            "case {i}: {outcome:?}"
        );
        let current = state.executors.get("ethereum");
        assert_eq!(current.map_or(0, |a| a.epoch), epoch, "case {i}");
        assert_eq!(current.is_some_and(|a| a.active), active, "case {i}");
    }
}

#[test]
fn a_handover_from_a_holder_starts_inactive() {
    let mut state = registered();
    state.apply(
        2,
        &proposal(Command::RegisterAgent {
            id: "host-b".into(),
            labels: BTreeMap::new(),
            chains: vec!["ethereum".into()],
            executes: vec!["ethereum".into()],
            version: "0".into(),
        }),
    );
    state.apply(3, &proposal(assign("ethereum", Some("host-a"), 0)));
    state.apply(4, &proposal(assign("ethereum", Some("host-b"), 1)));
    let current = &state.executors["ethereum"];
    assert_eq!(
        (current.agent.as_deref(), current.epoch, current.active),
        (Some("host-b"), 2, false)
    );
    state.apply(5, &proposal(Command::EmergencyStop { halted: true }));
    state.apply(
        6,
        &proposal(Command::SafeMode {
            agent: "host-a".into(),
            on: true,
        }),
    );
    assert!(state.halted && state.safe_mode.contains("host-a"));
}

#[test]
fn an_inclusion_settles_the_matching_write_of_that_agent() {
    use mevfleet_common::report::{Execution, Inclusion};
    let mut state = registered();
    let execution = |hash: &str| {
        SpoolRecord::Execution(Execution {
            chain: "ethereum".into(),
            method: "eth_sendRawTransaction".into(),
            hash: Some(hash.into()),
            strategy: Some("arb".into()),
            expected_profit_wei: Some(1),
            epoch: 1,
            at_ms: 5,
            accepted: true,
            reason: None,
            refusal_code: None,
        })
    };
    let inclusion = |hash: &str| {
        SpoolRecord::Inclusion(Inclusion {
            chain: "ethereum".into(),
            hash: hash.into(),
            block: Some(9),
            success: true,
            at_ms: 6,
        })
    };
    let records = vec![
        Spooled {
            seq: 1,
            record: execution("0xaa"),
        },
        Spooled {
            seq: 2,
            record: execution("0xbb"),
        },
        Spooled {
            seq: 3,
            record: inclusion("0xbb"),
        },
        // Unknown hashes change nothing.
        Spooled {
            seq: 4,
            record: inclusion("0xcc"),
        },
    ];
    state.apply(
        2,
        &proposal(Command::AgentRecords {
            agent: "host-a".into(),
            spool_id: 1,
            records,
        }),
    );
    assert_eq!(state.executions.len(), 2);
    assert!(state.executions[0].inclusion.is_none());
    assert_eq!(
        state.executions[1].inclusion.as_ref().and_then(|i| i.block),
        Some(9)
    );
}

mod commands {
    use super::*;
    use mevfleet_common::command::{CommandResult, CommandSpec, CommandStatus, Target};
    use mevfleet_common::report::Spooled;

    fn fleet() -> FleetState {
        let mut state = FleetState::default();
        for (id, region, chain) in [
            ("host-a", "eu", "ethereum"),
            ("host-b", "us", "ethereum"),
            ("host-c", "eu", "base"),
        ] {
            state.apply(
                1,
                &proposal(Command::RegisterAgent {
                    id: id.into(),
                    labels: [("region".to_owned(), region.to_owned())].into(),
                    chains: vec![chain.into()],
                    executes: vec![],
                    version: "0".into(),
                }),
            );
        }
        state
    }

    fn issue(state: &mut FleetState, selector: &str, expires_in_ms: u64) -> Outcome {
        let target = Target::parse(selector).unwrap_or(Target::All);
        state.apply(
            2,
            &proposal(Command::IssueCommand {
                spec: CommandSpec {
                    target,
                    action: "restart".into(),
                    args: vec!["erigon".into()],
                    timeout_ms: None,
                    expires_in_ms,
                },
            }),
        )
    }

    fn report(state: &mut FleetState, agent: &str, seq: u64, id: u64, status: CommandStatus) {
        state.apply(
            3,
            &Proposal {
                actor: Actor::new("agent", agent),
                at_ms: 1_000,
                command: Command::AgentRecords {
                    agent: agent.into(),
                    spool_id: 9,
                    records: vec![Spooled {
                        seq,
                        record: SpoolRecord::Command(CommandResult {
                            id,
                            status,
                            exit_code: status.is_final().then_some(0),
                            output: String::new(),
                            duration_ms: 5,
                            at_ms: 1_000,
                        }),
                    }],
                },
            },
        );
    }

    #[test]
    fn a_command_is_issued_to_the_agents_its_target_selects() {
        let mut state = fleet();
        let cases = [
            ("all", Ok(vec!["host-a", "host-b", "host-c"])),
            ("region=eu", Ok(vec!["host-a", "host-c"])),
            ("chain=ethereum,region=us", Ok(vec!["host-b"])),
            ("host-c,host-a", Ok(vec!["host-a", "host-c"])),
            ("host-z", Err("no agent `host-z` is registered")),
            ("region=asia", Err("matches no registered agent")),
        ];
        let mut next_id = 1;
        for (selector, expected) in cases {
            let outcome = issue(&mut state, selector, 60_000);
            match (outcome, expected) {
                (Outcome::Issued { id, targets }, Ok(expected)) => {
                    assert_eq!(id, next_id, "{selector}");
                    assert_eq!(targets, expected, "{selector}");
                    next_id += 1;
                }
                (Outcome::Refused(reason), Err(why)) => {
                    assert!(reason.contains(why), "{selector}: {reason}")
                }
                (outcome, expected) => panic!("{selector}: {outcome:?} vs {expected:?}"),
            }
        }
        assert!(matches!(issue(&mut state, "all", 0), Outcome::Refused(_)));
        assert!(matches!(
            issue(&mut state, "all", MAX_EXPIRY_MS + 1),
            Outcome::Refused(_)
        ));
    }

    #[test]
    fn a_command_knows_its_targets_whatever_order_agents_registered_in() {
        let mut state = FleetState::default();
        // Registered out of order, with ids whose text order differs from
        // their numbers' (host-10 sorts before host-9).
        let ids: Vec<String> = [9, 10, 1, 100, 42, 7, 0, 55]
            .iter()
            .map(|n| format!("host-{n}"))
            .collect();
        for (i, id) in ids.iter().enumerate() {
            let region = if i % 2 == 0 { "eu" } else { "us" };
            state.apply(
                1,
                &proposal(Command::RegisterAgent {
                    id: id.clone(),
                    labels: [("region".to_owned(), region.to_owned())].into(),
                    chains: vec!["ethereum".into()],
                    executes: vec![],
                    version: "0".into(),
                }),
            );
        }
        let Outcome::Issued { id, targets } = issue(&mut state, "region=eu", 60_000) else {
            panic!("not issued");
        };
        let mut sorted = targets.clone();
        sorted.sort();
        assert_eq!(targets, sorted, "targets are kept sorted");
        let record = &state.commands[&id];
        for (i, agent) in ids.iter().enumerate() {
            let aimed = i % 2 == 0;
            assert_eq!(record.is_for(agent), aimed, "{agent}");
            assert_eq!(!state.orders_for(agent, 1_000).is_empty(), aimed, "{agent}");
        }
        assert!(!record.is_for("host-"), "a prefix is not a target");
        assert!(
            !record.is_for("host-90"),
            "an unknown agent is not a target"
        );
    }

    #[test]
    fn orders_stop_once_reported_or_expired_and_a_final_result_stays() {
        let mut state = fleet();
        issue(&mut state, "all", 60_000); // id 1, expires at 61_000
        issue(&mut state, "host-a", 500); // id 2, expires at 1_500
        let ids = |state: &FleetState, agent: &str, now: u64| -> Vec<u64> {
            state.orders_for(agent, now).iter().map(|o| o.id).collect()
        };
        assert_eq!(ids(&state, "host-a", 1_200), vec![1, 2]);
        assert_eq!(ids(&state, "host-a", 2_000), vec![1], "2 expired");
        assert_eq!(ids(&state, "host-b", 1_200), vec![1]);
        // A feed that has looked through command 1 is shown only what came after.
        assert_eq!(state.last_command_id(), 2);
        let after = |agent: &str, id: u64| -> Vec<u64> {
            state
                .orders_after(agent, id, 1_200)
                .iter()
                .map(|o| o.id)
                .collect()
        };
        assert_eq!(after("host-a", 0), vec![1, 2]);
        assert_eq!(after("host-a", 1), vec![2]);
        assert_eq!(after("host-b", 1), Vec::<u64>::new());
        assert_eq!(after("host-a", 2), Vec::<u64>::new());

        report(&mut state, "host-a", 1, 1, CommandStatus::Running);
        assert_eq!(ids(&state, "host-a", 1_200), vec![2], "taken");
        report(&mut state, "host-a", 2, 1, CommandStatus::Ok);
        report(&mut state, "host-a", 3, 1, CommandStatus::Failed);
        // A report on a command not aimed at the agent changes nothing.
        report(&mut state, "host-b", 1, 2, CommandStatus::Ok);

        let views = state.command_views(None, 10, 2_000);
        assert_eq!(
            views.iter().map(|v| v.command_id).collect::<Vec<_>>(),
            [2, 1]
        );
        let statuses = |view: &mevfleet_common::command::CommandView| -> Vec<(String, String)> {
            view.results
                .iter()
                .map(|r| (r.agent.clone(), r.status.clone()))
                .collect()
        };
        assert_eq!(
            statuses(&views[1]),
            [
                ("host-a".to_owned(), "ok".to_owned()),
                ("host-b".to_owned(), "pending".to_owned()),
                ("host-c".to_owned(), "pending".to_owned())
            ],
            "the first final result stays"
        );
        assert_eq!(
            statuses(&views[0]),
            [("host-a".to_owned(), "failed".to_owned())],
            "expired before it was taken"
        );
        assert!(views[0].results[0].expired);
    }
}

mod maintenance {
    use super::*;
    use mevfleet_common::command::Target;
    use mevfleet_common::maintenance::{MaintenanceSpec, Phase, PlanState};

    fn two_hosts() -> FleetState {
        let mut state = FleetState::default();
        for id in ["host-a", "host-b"] {
            state.apply(
                1,
                &proposal(Command::RegisterAgent {
                    id: id.into(),
                    labels: BTreeMap::new(),
                    chains: vec!["ethereum".into()],
                    executes: vec!["ethereum".into()],
                    version: "0".into(),
                }),
            );
        }
        state
    }

    fn start(state: &mut FleetState) -> Outcome {
        state.apply(
            2,
            &proposal(Command::StartMaintenance {
                spec: MaintenanceSpec {
                    target: Target::All,
                    action: "restart".into(),
                    args: vec!["erigon".into()],
                    timeout_ms: None,
                    max_parallel: 1,
                    min_healthy: 1,
                    step_timeout_ms: 60_000,
                },
            }),
        )
    }

    fn advance(state: &mut FleetState, host: &str, from: Phase, to: Phase) -> Outcome {
        state.apply(
            3,
            &proposal(Command::AdvanceMaintenance {
                plan: 1,
                host: host.into(),
                from,
                to,
                reason: (to == Phase::Failed).then(|| "it broke".into()),
            }),
        )
    }

    #[test]
    fn a_plan_moves_host_by_host_with_its_side_effects_and_fenced_moves() {
        use Phase::*;
        let mut state = two_hosts();
        assert_eq!(start(&mut state), Outcome::PlanStarted { id: 1 });
        assert!(matches!(start(&mut state), Outcome::Refused(r) if r.contains("still running")));

        assert_eq!(
            advance(&mut state, "host-a", Waiting, Draining),
            Outcome::Done
        );
        assert!(state.drained.contains("host-a"));
        // A stale leader repeating the move is refused: nothing twice.
        assert!(matches!(
            advance(&mut state, "host-a", Waiting, Draining),
            Outcome::Refused(_)
        ));
        assert_eq!(
            advance(&mut state, "host-a", Draining, Running),
            Outcome::Done
        );
        let issued = state
            .commands
            .values()
            .last()
            .map(|c| (c.targets.clone(), c.spec.action.clone()));
        assert_eq!(
            issued,
            Some((vec!["host-a".to_owned()], "restart".to_owned()))
        );
        assert!(matches!(
            advance(&mut state, "host-a", Draining, Running),
            Outcome::Refused(_)
        ));
        assert_eq!(state.commands.len(), 1, "the command is issued once");
        assert_eq!(
            state
                .active_maintenance()
                .and_then(|p| p.hosts[0].command_id),
            Some(1)
        );
        assert_eq!(
            advance(&mut state, "host-a", Running, Recovering),
            Outcome::Done
        );
        assert!(!state.drained.contains("host-a"));
        assert!(matches!(
            advance(&mut state, "host-a", Running, Done),
            Outcome::Refused(_)
        ));
        assert_eq!(
            advance(&mut state, "host-a", Recovering, Done),
            Outcome::Done
        );
        for (from, to) in [
            (Waiting, Draining),
            (Draining, Running),
            (Running, Recovering),
            (Recovering, Done),
        ] {
            assert_eq!(advance(&mut state, "host-b", from, to), Outcome::Done);
        }
        assert_eq!(state.maintenance[0].state, PlanState::Done);
        assert!(state.active_maintenance().is_none());
    }

    #[test]
    fn a_failure_stops_the_plan_and_undrains_and_cancel_does_too() {
        use Phase::*;
        let mut state = two_hosts();
        start(&mut state);
        advance(&mut state, "host-a", Waiting, Draining);
        assert_eq!(
            advance(&mut state, "host-a", Draining, Failed),
            Outcome::Done
        );
        let plan = &state.maintenance[0];
        assert_eq!(plan.state, PlanState::Failed);
        assert_eq!(plan.hosts[0].reason.as_deref(), Some("it broke"));
        assert!(state.drained.is_empty());
        assert!(matches!(
            advance(&mut state, "host-b", Waiting, Draining),
            Outcome::Refused(_)
        ));

        assert_eq!(start(&mut state), Outcome::PlanStarted { id: 2 });
        state.apply(
            4,
            &proposal(Command::AdvanceMaintenance {
                plan: 2,
                host: "host-a".into(),
                from: Waiting,
                to: Draining,
                reason: None,
            }),
        );
        assert_eq!(
            state.apply(5, &proposal(Command::CancelMaintenance { plan: 2 })),
            Outcome::Done
        );
        assert_eq!(state.maintenance[1].state, PlanState::Cancelled);
        assert!(state.drained.is_empty(), "cancel undrains");
    }
}

#[test]
fn a_batch_applies_its_proposals_in_order_each_with_its_outcome_and_audit_entry() {
    let mut state = FleetState::default();
    let batch = Proposal {
        actor: Actor::new("coordinator", "node-1"),
        at_ms: 2_000,
        command: Command::Batch(vec![
            proposal(set("region", "eu")),
            proposal(Command::DeleteSetting {
                key: "missing".into(),
            }),
            proposal(set("region", "us")),
        ]),
    };
    assert_eq!(
        state.apply(7, &batch),
        Outcome::Batch(vec![
            Outcome::Done,
            Outcome::Refused("no setting `missing`".into()),
            Outcome::Done,
        ])
    );
    assert_eq!(state.settings.get("region").map(String::as_str), Some("us"));
    // One audit entry per proposal, by its own actor; none for the wrapper.
    let audit: Vec<(u64, String, bool)> = state
        .audit
        .iter()
        .map(|a| (a.index, a.actor.to_string(), a.applied))
        .collect();
    assert_eq!(
        audit,
        vec![
            (7, "operator alice".into(), true),
            (7, "operator alice".into(), false),
            (7, "operator alice".into(), true),
        ]
    );
}
