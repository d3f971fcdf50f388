//! Fleet-wide commands: what an operator asks agents to run, the order an
//! agent receives, and the result it reports. The selector language of
//! `--target` lives here so that the CLI, the coordinator and the tests
//! agree on what it means.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The most output an agent reports per command (its tail), in bytes.
pub const OUTPUT_TAIL_BYTES: usize = 4096;

/// Which agents a command is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// Every registered agent.
    All,
    /// These agents, by id.
    Agents(Vec<String>),
    /// Agents carrying every one of these labels (`chain` also matches a
    /// chain the agent serves).
    Labels(BTreeMap<String, String>),
}

/// A `--target` that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad target `{selector}`: {why} (expected `all`, agent ids `host-a,host-b`, or labels `chain=ethereum,region=eu`)")]
pub struct TargetError {
    selector: String,
    why: String,
}

impl Target {
    /// Reads a selector: `all`, a comma-separated list of agent ids, or a
    /// comma-separated list of `key=value` labels (not both kinds at once).
    pub fn parse(selector: &str) -> Result<Self, TargetError> {
        let fail = |why: &str| TargetError {
            selector: selector.to_owned(),
            why: why.to_owned(),
        };
        let selector = selector.trim();
        if selector == "all" {
            return Ok(Self::All);
        }
        let parts: Vec<&str> = selector.split(',').map(str::trim).collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(fail("an empty item"));
        }
        let labelled = parts.iter().filter(|p| p.contains('=')).count();
        if labelled == 0 {
            return Ok(Self::Agents(
                parts.iter().map(|p| (*p).to_owned()).collect(),
            ));
        }
        if labelled != parts.len() {
            return Err(fail("agent ids and labels mixed"));
        }
        let mut labels = BTreeMap::new();
        for part in parts {
            let (key, value) = part.split_once('=').ok_or_else(|| fail("no `=`"))?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || value.is_empty() {
                return Err(fail("a label with an empty key or value"));
            }
            if labels.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(fail("a label given twice"));
            }
        }
        Ok(Self::Labels(labels))
    }

    /// Whether the agent `id`, with `labels` and serving `chains`, is
    /// targeted.
    pub fn matches(&self, id: &str, labels: &BTreeMap<String, String>, chains: &[String]) -> bool {
        match self {
            Self::All => true,
            Self::Agents(ids) => ids.iter().any(|i| i == id),
            Self::Labels(wanted) => wanted.iter().all(|(key, value)| {
                labels.get(key) == Some(value)
                    || (key == "chain" && chains.iter().any(|c| c == value))
            }),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("all"),
            Self::Agents(ids) => f.write_str(&ids.join(",")),
            Self::Labels(labels) => {
                let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&pairs.join(","))
            }
        }
    }
}

/// What an operator asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSpec {
    /// Which agents.
    pub target: Target,
    /// The action's name (from the agents' configs, or a built-in).
    pub action: String,
    /// Its arguments, each checked by the agent against the action's
    /// patterns.
    pub args: Vec<String>,
    /// The agent kills the action after this long (ms); `None` uses the
    /// action's own timeout.
    pub timeout_ms: Option<u64>,
    /// How long (ms from issue) an offline agent may still receive it.
    pub expires_in_ms: u64,
}

/// A command as an agent receives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOrder {
    /// The command id (increasing, fleet-wide).
    pub id: u64,
    /// Who issued it (certificate name).
    pub issued_by: String,
    /// The action.
    pub action: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The timeout (ms), if the operator gave one.
    pub timeout_ms: Option<u64>,
    /// After this (ms since the Unix epoch, leader's clock) it is not run.
    pub expires_at_ms: u64,
}

/// Where a command stands on one agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandStatus {
    /// The agent took it and is running it.
    Running,
    /// It ran and exited 0.
    Ok,
    /// It ran and failed (non-zero exit, could not start, interrupted).
    Failed,
    /// The agent refused it: unknown action or an argument that fails its
    /// pattern.
    Rejected,
    /// It was killed at its timeout.
    Timeout,
}

impl CommandStatus {
    /// Whether this is the end (anything but running).
    pub fn is_final(self) -> bool {
        self != Self::Running
    }

    /// The contract's name: `ok`, `failed`, `rejected`, `timeout` (and
    /// `running`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Timeout => "timeout",
        }
    }
}

/// An agent's report on a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The command.
    pub id: u64,
    /// Where it stands.
    pub status: CommandStatus,
    /// The exit code, when it ran to its end.
    pub exit_code: Option<i32>,
    /// The last [`OUTPUT_TAIL_BYTES`] of stdout and stderr, or why it was
    /// rejected or failed to start.
    pub output: String,
    /// How long it ran (ms).
    pub duration_ms: u64,
    /// When this was reported (ms since the Unix epoch, agent's clock).
    pub at_ms: u64,
}

/// A command as the CLI shows it (the contract's `broadcast` JSON:
/// `command_id` and `results`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandView {
    /// The id.
    pub command_id: u64,
    /// Who issued it.
    pub issued_by: String,
    /// When (ms since the Unix epoch).
    pub issued_at_ms: u64,
    /// The target as written.
    pub target: String,
    /// The action.
    pub action: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// The operator's timeout (ms), if any.
    pub timeout_ms: Option<u64>,
    /// When it stops being delivered (ms since the Unix epoch).
    pub expires_at_ms: u64,
    /// One entry per targeted agent.
    pub results: Vec<AgentCommandResult>,
}

impl CommandView {
    /// Whether every targeted agent has a final status.
    pub fn settled(&self) -> bool {
        self.results.iter().all(|r| r.status != "pending")
    }

    /// Whether every targeted agent succeeded.
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(|r| r.status == "ok")
    }
}

/// One agent's part of a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentCommandResult {
    /// The agent.
    pub agent: String,
    /// `ok`, `failed`, `rejected`, `timeout` or `pending` (not taken yet,
    /// or running).
    pub status: String,
    /// The agent took it and it is running.
    pub running: bool,
    /// It expired before the agent took it (status `failed`).
    pub expired: bool,
    /// The exit code, when it ran to its end.
    pub exit_code: Option<i32>,
    /// The output's tail, or why it was rejected or failed.
    pub output: String,
    /// How long it ran (ms).
    pub duration_ms: Option<u64>,
}

impl AgentCommandResult {
    /// What `agent` reported.
    pub fn reported(agent: &str, result: &CommandResult) -> Self {
        let running = result.status == CommandStatus::Running;
        Self {
            agent: agent.to_owned(),
            status: if running {
                "pending"
            } else {
                result.status.as_str()
            }
            .to_owned(),
            running,
            expired: false,
            exit_code: result.exit_code,
            output: result.output.clone(),
            duration_ms: (!running).then_some(result.duration_ms),
        }
    }

    /// Not taken by `agent` yet.
    pub fn pending(agent: &str) -> Self {
        Self {
            agent: agent.to_owned(),
            status: "pending".into(),
            running: false,
            expired: false,
            exit_code: None,
            output: String::new(),
            duration_ms: None,
        }
    }

    /// Expired before `agent` took it.
    pub fn expired(agent: &str) -> Self {
        Self {
            status: "failed".into(),
            expired: true,
            output: "expired before the agent took it".into(),
            ..Self::pending(agent)
        }
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
pub fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_read_as_all_ids_or_labels_and_bad_ones_say_why() {
        assert_eq!(Target::parse("all"), Ok(Target::All));
        assert_eq!(
            Target::parse("host-a, host-b"),
            Ok(Target::Agents(vec!["host-a".into(), "host-b".into()]))
        );
        let labels = Target::parse("chain=ethereum,region=eu").map_err(|e| e.to_string());
        let Ok(Target::Labels(labels)) = labels else {
            panic!("{labels:?}");
        };
        assert_eq!(labels.len(), 2);
        for (bad, why) in [
            ("host-a,,host-b", "an empty item"),
            ("host-a,chain=ethereum", "mixed"),
            ("chain=", "empty key or value"),
            ("chain=a,chain=b", "twice"),
            ("", "an empty item"),
        ] {
            let err = match Target::parse(bad) {
                Ok(target) => format!("accepted as {target}"),
                Err(err) => err.to_string(),
            };
            assert!(
                err.contains(why) && err.contains("expected `all`"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_target_matches_by_id_label_or_served_chain() {
        let labels: BTreeMap<String, String> = [("region".to_owned(), "eu".to_owned())].into();
        let chains = vec!["ethereum".to_owned()];
        let matches = |selector: &str| {
            Target::parse(selector)
                .map(|t| t.matches("host-a", &labels, &chains))
                .unwrap_or(false)
        };
        assert!(matches("all"));
        assert!(matches("host-b,host-a"));
        assert!(!matches("host-b"));
        assert!(matches("region=eu"));
        assert!(matches("chain=ethereum,region=eu"));
        assert!(!matches("chain=base"));
        assert!(!matches("region=us"));
    }

    #[test]
    fn the_tail_keeps_the_end_at_a_character_boundary() {
        assert_eq!(tail("hello", 10), "hello");
        assert_eq!(tail("hello", 3), "llo");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
    }
}
