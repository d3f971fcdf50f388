//! One-time join tokens in the fleet state: recorded by an operator
//! (hashed), used once by an enrolling host. The rules are here, applied in
//! log order, so every member agrees which enrollment a token allowed.

use std::collections::BTreeMap;

use mevfleet_common::utc::utc_text;
use mevfleet_common::wire::enroll::JoinTokenView;
use serde::{Deserialize, Serialize};

use super::{FleetState, Outcome};

/// How long a used or expired token stays in the state (for `token list`
/// and for saying "already used" rather than "unknown").
pub const TOKENS_KEPT_AFTER_MS: u64 = 7 * 24 * 3600 * 1000;

/// The longest a token may be valid.
pub const MAX_TOKEN_TTL_MS: u64 = 30 * 24 * 3600 * 1000;

/// A join token as the state keeps it: the secret only as its SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenRecord {
    /// Its public id.
    pub id: String,
    /// SHA-256 of its secret, hex.
    pub secret_sha256: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_ms: u64,
    /// Until when it may be used.
    pub expires_ms: u64,
    /// Labels the enrolled agent gets.
    pub labels: BTreeMap<String, String>,
    /// The only agent id it may enroll, if bound.
    pub agent_id: Option<String>,
    /// The agent it enrolled.
    pub used_by: Option<String>,
    /// When it was used.
    pub used_ms: Option<u64>,
}

impl JoinTokenRecord {
    /// The token as the CLI shows it.
    pub fn view(&self) -> JoinTokenView {
        JoinTokenView {
            id: self.id.clone(),
            created_by: self.created_by.clone(),
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            labels: self.labels.clone(),
            agent_id: self.agent_id.clone(),
            used_by: self.used_by.clone(),
            used_ms: self.used_ms,
        }
    }
}

/// What an operator asks to record.
#[derive(Clone, Copy, Debug)]
pub(super) struct NewToken<'a> {
    pub id: &'a str,
    pub secret_sha256: &'a str,
    pub expires_ms: u64,
    pub labels: &'a BTreeMap<String, String>,
    pub agent_id: Option<&'a str>,
}

/// What an enrolling host presents.
#[derive(Clone, Copy, Debug)]
pub(super) struct Redemption<'a> {
    pub id: &'a str,
    pub secret_sha256: &'a str,
    pub agent_id: &'a str,
}

impl FleetState {
    /// Records a new token, dropping tokens that ended more than
    /// [`TOKENS_KEPT_AFTER_MS`] ago.
    pub(super) fn create_join_token(
        &mut self,
        token: NewToken<'_>,
        created_by: &str,
        now_ms: u64,
    ) -> Outcome {
        self.join_tokens.retain(|_, record| {
            let ended = record.used_ms.unwrap_or(record.expires_ms);
            ended.saturating_add(TOKENS_KEPT_AFTER_MS) > now_ms
        });
        if self.join_tokens.contains_key(token.id) {
            return Outcome::Refused(format!("a join token with id {} exists", token.id));
        }
        if token.expires_ms <= now_ms || token.expires_ms - now_ms > MAX_TOKEN_TTL_MS {
            return Outcome::Refused("a join token must expire within 30 days".into());
        }
        self.join_tokens.insert(
            token.id.to_owned(),
            JoinTokenRecord {
                id: token.id.to_owned(),
                secret_sha256: token.secret_sha256.to_owned(),
                created_by: created_by.to_owned(),
                created_ms: now_ms,
                expires_ms: token.expires_ms,
                labels: token.labels.clone(),
                agent_id: token.agent_id.map(str::to_owned),
                used_by: None,
                used_ms: None,
            },
        );
        Outcome::Done
    }

    /// Uses a token for `agent_id`, or says why it cannot be: unknown or
    /// with the wrong secret (forged), already used, expired, or for
    /// another agent. The secret is checked first, so a forger learns
    /// nothing about the token.
    pub(super) fn redeem_join_token(&mut self, redemption: Redemption<'_>, now_ms: u64) -> Outcome {
        let id = redemption.id;
        let agent = redemption.agent_id;
        let registered = self.agents.contains_key(agent);
        let Some(record) = self.join_tokens.get_mut(id) else {
            return Outcome::Refused(format!(
                "join token {id} is unknown: this fleet never issued it (a forged or mistyped token)"
            ));
        };
        if record.secret_sha256 != redemption.secret_sha256 {
            return Outcome::Refused(format!(
                "join token {id} does not match: its secret is wrong (a forged token)"
            ));
        }
        if let (Some(used_by), Some(used_ms)) = (&record.used_by, record.used_ms) {
            return Outcome::Refused(format!(
                "join token {id} was already used: it enrolled `{used_by}` at {}; create a new one with `mevfleet token create`",
                utc_text(used_ms)
            ));
        }
        if now_ms >= record.expires_ms {
            return Outcome::Refused(format!(
                "join token {id} expired at {}; create a new one with `mevfleet token create`",
                utc_text(record.expires_ms)
            ));
        }
        match &record.agent_id {
            Some(bound) if bound != agent => {
                return Outcome::Refused(format!(
                    "join token {id} is for agent `{bound}`, not `{agent}`"
                ));
            }
            None if registered => {
                return Outcome::Refused(format!(
                    "agent `{agent}` is already registered: enrolling it again needs a token made for it (`mevfleet token create --agent-id {agent}`)"
                ));
            }
            _ => {}
        }
        record.used_by = Some(agent.to_owned());
        record.used_ms = Some(now_ms);
        Outcome::Enrolled {
            labels: record.labels.clone(),
        }
    }
}

#[cfg(test)]
#[path = "join_token_tests.rs"]
mod tests;
