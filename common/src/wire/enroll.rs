//! Messages of the enrollment service (a host without a certificate asking
//! for one) and the join tokens the admin service creates and lists.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The largest frame the enrollment service reads: a request is a token
/// and a certificate request, a few KiB at most.
pub const ENROLL_MAX_FRAME: usize = 16 * 1024;

/// A host asks to join as agent `agent_id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The join token's public id.
    pub token_id: String,
    /// The join token's secret, hex (sent only inside TLS to a coordinator
    /// the host verified against the token's CA fingerprint).
    pub secret_hex: String,
    /// The agent id the host wants (its certificate name).
    pub agent_id: String,
    /// A PKCS#10 request, PEM, signed with the key the host made and keeps.
    pub csr_pem: String,
}

/// The fleet's answer to an accepted [`EnrollRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The agent id the certificate is for.
    pub agent_id: String,
    /// The agent's certificate, PEM.
    pub cert_pem: String,
    /// The fleet CA certificate, PEM.
    pub ca_pem: String,
    /// Labels the token gives the agent.
    pub labels: BTreeMap<String, String>,
    /// The Raft log index the token was used at (for the audit log).
    pub index: u64,
}

/// A join token to record (`mevfleet token create`). The secret itself
/// never leaves the CLI: only its SHA-256 is sent and kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenSpec {
    /// The token's public id (16 hex digits).
    pub id: String,
    /// SHA-256 of the secret, hex.
    pub secret_sha256: String,
    /// How long the token may be used, in milliseconds.
    pub ttl_ms: u64,
    /// Labels the enrolled agent gets.
    pub labels: BTreeMap<String, String>,
    /// The only agent id this token may enroll (may be an agent already
    /// registered: re-enrolling a rebuilt host). Without it, any id not
    /// yet registered.
    pub agent_id: Option<String>,
}

/// A join token as `mevfleet token list` shows it (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokenView {
    /// Its public id.
    pub id: String,
    /// Who created it.
    pub created_by: String,
    /// When (ms since the Unix epoch).
    pub created_ms: u64,
    /// Until when it may be used.
    pub expires_ms: u64,
    /// The labels it gives.
    pub labels: BTreeMap<String, String>,
    /// The only agent id it may enroll, if bound to one.
    pub agent_id: Option<String>,
    /// The agent it enrolled, once used.
    pub used_by: Option<String>,
    /// When it was used.
    pub used_ms: Option<u64>,
}
