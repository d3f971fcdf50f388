//! `mevfleet token create|list`: one-time join tokens with which new hosts
//! enroll (`mevfleet-agent enroll --token ...`). The CLI makes the secret
//! and sends the coordinators only its SHA-256, so the token's secret
//! exists nowhere but in what this command prints.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Subcommand;
use mevfleet_common::join_token::JoinToken;
use mevfleet_common::labels::{parse_labels, BadLabel};
use mevfleet_common::utc::utc_text;
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::enroll::{JoinTokenSpec, JoinTokenView};
use serde::Serialize;

use super::broadcast::parse_duration;
use super::connect::{request, Target};
use super::output::{print_json, render_table, OutputFormat};
use super::CliError;

/// `mevfleet token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a one-time join token (operator or admin) and print it.
    Create {
        /// How long the token may be used (30s, 15m, 1h, 7d; at most 30d).
        #[arg(long, value_name = "D", value_parser = parse_ttl, default_value = "1h")]
        ttl: Duration,
        /// Labels the enrolled agent gets, k=v[,k=v].
        #[arg(long, value_name = "K=V[,K=V]", value_parser = parse_token_labels, default_value = "")]
        labels: BTreeMap<String, String>,
        /// Enroll only this agent id (needed to re-enroll a registered one).
        #[arg(long, value_name = "ID")]
        agent_id: Option<String>,
    },
    /// List join tokens: valid, used and expired (never their secrets).
    List,
}

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = parse_duration(text)?;
    if ttl < Duration::from_secs(1) || ttl > Duration::from_secs(30 * 86_400) {
        return Err(format!("`{text}`: a token lives between 1s and 30d"));
    }
    Ok(ttl)
}

fn parse_token_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    parse_labels(text).map_err(|err: BadLabel| err.to_string())
}

/// What `token create -o json` prints.
#[derive(Debug, Serialize)]
struct CreatedToken {
    token: String,
    id: String,
    expires_ms: u64,
    labels: BTreeMap<String, String>,
    agent_id: Option<String>,
}

/// Runs a `token` command.
pub async fn run(
    command: &TokenCommand,
    target: &Target,
    output: OutputFormat,
) -> Result<(), CliError> {
    match command {
        TokenCommand::Create {
            ttl,
            labels,
            agent_id,
        } => create(target, output, *ttl, labels, agent_id.as_deref()).await,
        TokenCommand::List => match request(target, &AdminRequest::JoinTokens).await? {
            AdminResponse::JoinTokens(tokens) => print_tokens(&tokens, output),
            other => Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
        },
    }
}

async fn create(
    target: &Target,
    output: OutputFormat,
    ttl: Duration,
    labels: &BTreeMap<String, String>,
    agent_id: Option<&str>,
) -> Result<(), CliError> {
    if let Some(agent) = agent_id {
        mevfleet_common::identity::validate_name(agent)
            .map_err(|err| CliError::Usage(format!("--agent-id: {err}")))?;
    }
    let token = JoinToken::generate(target.creds.ca().as_ref());
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    let spec = JoinTokenSpec {
        id: token.id.clone(),
        secret_sha256: token.secret_sha256(),
        ttl_ms,
        labels: labels.clone(),
        agent_id: agent_id.map(str::to_owned),
    };
    let receipt = match request(target, &AdminRequest::CreateJoinToken(spec)).await? {
        AdminResponse::Written(receipt) => receipt,
        other => return Err(CliError::Failed(format!("unexpected answer: {other:?}"))),
    };
    if let Some(reason) = receipt.refused {
        return Err(CliError::Failed(format!("refused: {reason}")));
    }
    let expires_ms = mevfleet_common::utc::now_ms().saturating_add(ttl_ms);
    match output {
        OutputFormat::Json => print_json(&CreatedToken {
            token: token.to_string(),
            id: token.id.clone(),
            expires_ms,
            labels: labels.clone(),
            agent_id: agent_id.map(str::to_owned),
        }),
        OutputFormat::Table => {
            println!("{token}");
            eprintln!(
                "join token {} is valid once, until about {}. On the new host:\n  mevfleet-agent enroll --token <the line above> --coordinators {} --dir /etc/mevfleet/tls-agent",
                token.id,
                utc_text(expires_ms),
                target
                    .coordinators
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            );
            Ok(())
        }
    }
}

fn token_state(token: &JoinTokenView, now_ms: u64) -> String {
    match (&token.used_by, token.used_ms) {
        (Some(agent), Some(at)) => format!("used by {agent} at {}", utc_text(at)),
        _ if now_ms >= token.expires_ms => "expired".into(),
        _ => "valid".into(),
    }
}

fn print_tokens(tokens: &[JoinTokenView], output: OutputFormat) -> Result<(), CliError> {
    if output == OutputFormat::Json {
        return print_json(&tokens);
    }
    let now = mevfleet_common::utc::now_ms();
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|token| {
            let labels: Vec<String> = token
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            vec![
                token.id.clone(),
                token_state(token, now),
                utc_text(token.expires_ms),
                token.agent_id.clone().unwrap_or_else(|| "any".into()),
                labels.join(","),
                token.created_by.clone(),
            ]
        })
        .collect();
    println!(
        "{}",
        render_table(
            &["ID", "STATE", "EXPIRES", "AGENT", "LABELS", "CREATED BY"],
            &rows
        )
    );
    Ok(())
}
