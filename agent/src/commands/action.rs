//! The actions an agent will run for fleet commands: the built-ins
//! (`safe-mode on|off`, `drain [on|off]`, which the agent asks the fleet
//! state for about itself) and the ones named in its config, each a program
//! with fixed arguments, a timeout and patterns for the arguments an
//! operator may add. An order is checked against them
//! (unknown action, too many arguments, an argument that fails its pattern:
//! rejected) and then run without a shell, killed at its timeout, with the
//! tail of its output kept.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mevfleet_common::command::{tail, CommandOrder, CommandStatus, OUTPUT_TAIL_BYTES};
use regex::Regex;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::config::ActionConfig;

/// An action ready to run.
#[derive(Clone, Debug)]
struct Action {
    command: Vec<String>,
    timeout: Duration,
    patterns: Vec<Regex>,
}

/// The agent's actions, their patterns compiled.
#[derive(Clone, Debug, Default)]
pub struct Actions {
    actions: BTreeMap<String, Action>,
}

/// A pattern in the config that is not a regular expression.
#[derive(Debug, thiserror::Error)]
#[error("actions.{action}.args[{index}]: not a valid pattern: {source}")]
pub struct PatternError {
    action: String,
    index: usize,
    source: regex::Error,
}

/// A built-in action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// Apply these cgroup weights (by chain) to this host's services now.
    SetResources(BTreeMap<String, u32>),
    /// This agent's gateways refuse every write (on) or not (off).
    SafeMode(bool),
    /// This agent gives its executor roles up and takes none (on), or may
    /// again (off).
    Drain(bool),
}

/// What an order asks for, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// A built-in.
    Builtin(Builtin),
    /// A configured action.
    Run(Invocation),
}

/// `set-resources ethereum=400 arbitrum=200`.
fn set_resources(args: &[String]) -> Result<BTreeMap<String, u32>, String> {
    let (low, high) = mevfleet_common::alloc::WEIGHT_RANGE;
    let mut weights = BTreeMap::new();
    for arg in args {
        let parsed = arg
            .split_once('=')
            .and_then(|(chain, w)| Some((chain, w.parse::<u32>().ok()?)))
            .filter(|(chain, w)| !chain.is_empty() && (low..=high).contains(w));
        let Some((chain, weight)) = parsed else {
            return Err(format!(
                "`set-resources` takes chain=weight ({low} to {high}), got `{arg}`"
            ));
        };
        weights.insert(chain.to_owned(), weight);
    }
    if weights.is_empty() {
        return Err("`set-resources` needs at least one chain=weight".into());
    }
    Ok(weights)
}

fn on_off(action: &str, args: &[String], default: Option<bool>) -> Result<bool, String> {
    match (args, default) {
        ([], Some(default)) => Ok(default),
        ([word], _) if word == "on" => Ok(true),
        ([word], _) if word == "off" => Ok(false),
        _ => Err(format!(
            "`{action}` takes `on` or `off`{}, got {:?}",
            if default.is_some() {
                " (or nothing)"
            } else {
                ""
            },
            args
        )),
    }
}

/// An order checked against the actions: what to run, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    /// The program.
    pub program: String,
    /// Its arguments: the action's, then the operator's.
    pub args: Vec<String>,
    /// When it is killed.
    pub timeout: Duration,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ran {
    /// `Ok`, `Failed` or `Timeout`.
    pub status: CommandStatus,
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The tail of stdout and stderr (or why it did not start).
    pub output: String,
    /// How long it ran.
    pub duration: Duration,
}

impl Actions {
    /// Compiles the config's actions. Each pattern must match a whole
    /// argument.
    pub fn new(config: &BTreeMap<String, ActionConfig>) -> Result<Self, PatternError> {
        let mut actions = BTreeMap::new();
        for (name, action) in config {
            let patterns = action
                .args
                .iter()
                .enumerate()
                .map(|(index, pattern)| {
                    Regex::new(&format!("^(?:{pattern})$")).map_err(|source| PatternError {
                        action: name.clone(),
                        index,
                        source,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            actions.insert(
                name.clone(),
                Action {
                    command: action.command.clone(),
                    timeout: Duration::from_secs(action.timeout_s),
                    patterns,
                },
            );
        }
        Ok(Self { actions })
    }

    /// What `order` asks for, or why it is rejected.
    pub fn plan(&self, order: &CommandOrder) -> Result<Plan, String> {
        match order.action.as_str() {
            "safe-mode" => Ok(Plan::Builtin(Builtin::SafeMode(on_off(
                &order.action,
                &order.args,
                None,
            )?))),
            "drain" => Ok(Plan::Builtin(Builtin::Drain(on_off(
                &order.action,
                &order.args,
                Some(true),
            )?))),
            "set-resources" => {
                set_resources(&order.args).map(|w| Plan::Builtin(Builtin::SetResources(w)))
            }
            _ => self.check(order).map(Plan::Run),
        }
    }

    /// What a configured action would run, or why it is rejected.
    pub fn check(&self, order: &CommandOrder) -> Result<Invocation, String> {
        let Some(action) = self.actions.get(&order.action) else {
            let known: Vec<&str> = self.actions.keys().map(String::as_str).collect();
            return Err(format!(
                "unknown action `{}`: this agent has {}",
                order.action,
                if known.is_empty() {
                    "no actions configured".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        if order.args.len() > action.patterns.len() {
            return Err(format!(
                "`{}` takes at most {} argument(s), got {}",
                order.action,
                action.patterns.len(),
                order.args.len()
            ));
        }
        for (index, (arg, pattern)) in order.args.iter().zip(&action.patterns).enumerate() {
            if !pattern.is_match(arg) {
                return Err(format!(
                    "argument {} of `{}` (`{arg}`) does not match {}",
                    index + 1,
                    order.action,
                    pattern.as_str()
                ));
            }
        }
        let (program, fixed) = action
            .command
            .split_first()
            .ok_or_else(|| format!("action `{}` has no command", order.action))?;
        let timeout = order
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(action.timeout);
        Ok(Invocation {
            program: program.clone(),
            args: fixed.iter().chain(&order.args).cloned().collect(),
            timeout,
        })
    }
}

/// Reads a pipe to its end, keeping the last [`OUTPUT_TAIL_BYTES`].
async fn read_tail(mut pipe: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut kept: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        kept.extend_from_slice(&buf[..n]);
        if kept.len() > 2 * OUTPUT_TAIL_BYTES {
            kept.drain(..kept.len() - OUTPUT_TAIL_BYTES);
        }
    }
    kept
}

/// Runs `invocation` without a shell; kills it (and its process group) at
/// its timeout.
pub async fn run(invocation: &Invocation) -> Ran {
    let started = Instant::now();
    let mut command = tokio::process::Command::new(&invocation.program);
    command
        .args(&invocation.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            return Ran {
                status: CommandStatus::Failed,
                exit_code: None,
                output: format!("cannot start `{}`: {err}", invocation.program),
                duration: started.elapsed(),
            }
        }
    };
    let stdout = child.stdout.take().map(|p| tokio::spawn(read_tail(p)));
    let stderr = child.stderr.take().map(|p| tokio::spawn(read_tail(p)));
    let waited = tokio::time::timeout(invocation.timeout, child.wait()).await;
    let (status, exit_code, note) = match waited {
        Ok(Ok(exit)) => match exit.code() {
            Some(0) => (CommandStatus::Ok, Some(0), None),
            Some(code) => (CommandStatus::Failed, Some(code), None),
            None => (
                CommandStatus::Failed,
                None,
                Some(format!("killed by a signal ({exit})")),
            ),
        },
        Ok(Err(err)) => (
            CommandStatus::Failed,
            None,
            Some(format!("lost the process: {err}")),
        ),
        Err(_) => {
            if let Some(pid) = child
                .id()
                .and_then(|pid| rustix::process::Pid::from_raw(pid as i32))
            {
                let _gone = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _gone = child.kill().await;
            (
                CommandStatus::Timeout,
                None,
                Some(format!(
                    "killed after {} ms",
                    invocation.timeout.as_millis()
                )),
            )
        }
    };
    let mut output = Vec::new();
    for pipe in [stdout, stderr].into_iter().flatten() {
        if let Ok(Ok(bytes)) = tokio::time::timeout(Duration::from_secs(1), pipe).await {
            output.extend_from_slice(&bytes);
        }
    }
    let mut output = String::from_utf8_lossy(&output).into_owned();
    if let Some(note) = note {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(&note);
    }
    Ran {
        status,
        exit_code,
        output: tail(&output, OUTPUT_TAIL_BYTES),
        duration: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions() -> Actions {
        let config: BTreeMap<String, ActionConfig> = [
            (
                "restart".to_owned(),
                ActionConfig {
                    command: vec!["systemctl".into(), "restart".into()],
                    timeout_s: 60,
                    args: vec!["[a-z0-9@.-]+".into()],
                },
            ),
            (
                "echo".to_owned(),
                ActionConfig {
                    command: vec!["echo".into(), "said:".into()],
                    timeout_s: 5,
                    args: vec![".*".into(), ".*".into()],
                },
            ),
        ]
        .into();
        Actions::new(&config).unwrap_or_default()
    }

    fn order(action: &str, args: &[&str]) -> CommandOrder {
        CommandOrder {
            id: 1,
            issued_by: "ops".into(),
            action: action.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            timeout_ms: None,
            expires_at_ms: u64::MAX,
        }
    }

    #[test]
    fn orders_are_checked_against_the_actions_and_their_patterns() {
        let actions = actions();
        let ok = actions.check(&order("restart", &["erigon-mev"]));
        assert_eq!(
            ok.map(|i| (i.program, i.args, i.timeout.as_secs())),
            Ok((
                "systemctl".into(),
                vec!["restart".into(), "erigon-mev".into()],
                60
            ))
        );
        for (action, args, why) in [
            (
                "reboot",
                vec![],
                "unknown action `reboot`: this agent has echo, restart",
            ),
            ("restart", vec!["erigon; rm -rf /"], "does not match"),
            ("restart", vec!["a", "b"], "at most 1 argument(s), got 2"),
        ] {
            let err = match actions.check(&order(action, &args)) {
                Ok(invocation) => format!("accepted as {invocation:?}"),
                Err(err) => err,
            };
            assert!(err.contains(why), "{action} {args:?}: {err}");
        }
        let mut timed = order("restart", &[]);
        timed.timeout_ms = Some(1500);
        assert_eq!(
            actions.check(&timed).map(|i| i.timeout.as_millis()),
            Ok(1500)
        );
    }

    #[test]
    fn built_ins_take_on_or_off() {
        let actions = actions();
        let plan = |action: &str, args: &[&str]| actions.plan(&order(action, args));
        assert_eq!(
            plan("safe-mode", &["on"]),
            Ok(Plan::Builtin(Builtin::SafeMode(true)))
        );
        assert_eq!(
            plan("safe-mode", &["off"]),
            Ok(Plan::Builtin(Builtin::SafeMode(false)))
        );
        assert_eq!(plan("drain", &[]), Ok(Plan::Builtin(Builtin::Drain(true))));
        assert_eq!(
            plan("drain", &["off"]),
            Ok(Plan::Builtin(Builtin::Drain(false)))
        );
        for (action, args) in [
            ("safe-mode", vec![]),
            ("safe-mode", vec!["yes"]),
            ("drain", vec!["on", "now"]),
        ] {
            let err = match plan(action, &args) {
                Ok(plan) => format!("accepted as {plan:?}"),
                Err(err) => err,
            };
            assert!(
                err.contains("takes `on` or `off`"),
                "{action} {args:?}: {err}"
            );
        }
        assert!(matches!(plan("echo", &["x"]), Ok(Plan::Run(_))));
        assert_eq!(
            plan("set-resources", &["ethereum=400", "base=100"]),
            Ok(Plan::Builtin(Builtin::SetResources(
                [("base".to_owned(), 100), ("ethereum".to_owned(), 400)].into()
            )))
        );
        for args in [
            vec![],
            vec!["ethereum"],
            vec!["ethereum=0"],
            vec!["ethereum=high"],
            vec!["=5"],
        ] {
            let err = plan("set-resources", &args).map(|p| format!("{p:?}"));
            assert!(
                err.as_ref().is_err_and(|e| e.contains("set-resources")),
                "{args:?}: {err:?}"
            );
        }
    }

    #[test]
    fn a_bad_pattern_names_its_key() {
        let config: BTreeMap<String, ActionConfig> = [(
            "x".to_owned(),
            ActionConfig {
                command: vec!["true".into()],
                timeout_s: 1,
                args: vec!["ok".into(), "(".into()],
            },
        )]
        .into();
        let err = match Actions::new(&config) {
            Ok(_) => "accepted".to_owned(),
            Err(err) => err.to_string(),
        };
        assert!(
            err.starts_with("actions.x.args[1]: not a valid pattern"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_run_reports_exit_output_and_timeout() {
        let actions = actions();
        let Ok(echo) = actions.check(&order("echo", &["hello", "$(whoami)"])) else {
            panic!("echo is an action");
        };
        let ran = run(&echo).await;
        assert_eq!((ran.status, ran.exit_code), (CommandStatus::Ok, Some(0)));
        assert_eq!(ran.output, "said: hello $(whoami)\n", "no shell expands it");

        let fails = Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), "echo oops >&2; exit 3".into()],
            timeout: Duration::from_secs(5),
        };
        let ran = run(&fails).await;
        assert_eq!(
            (ran.status, ran.exit_code),
            (CommandStatus::Failed, Some(3))
        );
        assert_eq!(ran.output, "oops\n");

        let hangs = Invocation {
            program: "sleep".into(),
            args: vec!["30".into()],
            timeout: Duration::from_millis(200),
        };
        let ran = run(&hangs).await;
        assert_eq!(ran.status, CommandStatus::Timeout);
        assert!(ran.output.contains("killed after 200 ms"), "{}", ran.output);

        let missing = Invocation {
            program: "/nonexistent/program".into(),
            args: vec![],
            timeout: Duration::from_secs(1),
        };
        let ran = run(&missing).await;
        assert_eq!(ran.status, CommandStatus::Failed);
        assert!(ran.output.contains("cannot start"), "{}", ran.output);
    }

    #[tokio::test]
    async fn only_the_tail_of_a_long_output_is_kept() {
        let chatty = Invocation {
            program: "sh".into(),
            args: vec!["-c".into(), "seq 1 20000".into()],
            timeout: Duration::from_secs(5),
        };
        let ran = run(&chatty).await;
        assert!(ran.output.len() <= OUTPUT_TAIL_BYTES);
        assert!(
            ran.output.ends_with("19999\n20000\n"),
            "{}",
            &ran.output[..40]
        );
    }
}
