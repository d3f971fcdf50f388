//! One-time join tokens: what `mevfleet token create` prints and
//! `mevfleet-agent enroll --token` takes.
//!
//! A token is `mvj1.<id>.<secret>.<ca>`: a public id (16 hex digits) that
//! names the token in the audit log, a 256-bit secret (64 hex digits) whose
//! SHA-256 alone is kept in Raft, and the SHA-256 of the fleet CA
//! certificate (64 hex digits), so the enrolling host can verify the
//! coordinators before it has any certificate of its own.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix naming the token format.
pub const TOKEN_PREFIX: &str = "mvj1";

/// A join token: its id, its secret, and the fleet CA it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    /// The public id, 16 lowercase hex digits.
    pub id: String,
    secret: [u8; 32],
    /// SHA-256 of the fleet CA certificate (DER).
    pub ca_fingerprint: [u8; 32],
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret, not even in a debug log.
        f.debug_struct("JoinToken")
            .field("id", &self.id)
            .field("ca_fingerprint", &hex::encode(self.ca_fingerprint))
            .finish_non_exhaustive()
    }
}

/// Why a text is not a join token. Each says which part is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// It does not start with `mvj1.`.
    #[error("not a mevfleet join token: it should start with `{TOKEN_PREFIX}.` (copy the whole line `mevfleet token create` printed)")]
    Prefix,
    /// It does not have four dot-separated parts.
    #[error(
        "a join token has 4 parts separated by '.', this one has {0} (was it cut when copied?)"
    )]
    Parts(usize),
    /// One part is not the hex of the right length.
    #[error("the token's {part} should be {digits} hex digits")]
    Hex {
        /// Which part: id, secret or CA fingerprint.
        part: &'static str,
        /// How many digits it needs.
        digits: usize,
    },
}

impl JoinToken {
    /// A fresh token for the fleet whose CA certificate (DER) is `ca_der`.
    pub fn generate(ca_der: &[u8]) -> Self {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut id);
        rand::thread_rng().fill_bytes(&mut secret);
        Self {
            id: hex::encode(id),
            secret,
            ca_fingerprint: ca_fingerprint(ca_der),
        }
    }

    /// The SHA-256 of the secret, hex: what the fleet state keeps and
    /// compares.
    pub fn secret_sha256(&self) -> String {
        hex::encode(Sha256::digest(self.secret))
    }

    /// The secret, hex, as sent (inside TLS) to the coordinator.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.secret)
    }

    /// The same token with another secret (tests of forged tokens).
    pub fn with_secret(&self, secret: [u8; 32]) -> Self {
        Self {
            secret,
            ..self.clone()
        }
    }
}

/// The SHA-256 of a certificate's DER bytes.
pub fn ca_fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The SHA-256 of a hex secret as sent by an enrolling host, hex; `None`
/// when the text is not 64 hex digits.
pub fn sha256_of_secret_hex(secret_hex: &str) -> Option<String> {
    let secret = parse_hex::<32>(secret_hex)?;
    Some(hex::encode(Sha256::digest(secret)))
}

fn parse_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

impl fmt::Display for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TOKEN_PREFIX}.{}.{}.{}",
            self.id,
            hex::encode(self.secret),
            hex::encode(self.ca_fingerprint)
        )
    }
}

impl FromStr for JoinToken {
    type Err = TokenFormatError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        if parts.first() != Some(&TOKEN_PREFIX) {
            return Err(TokenFormatError::Prefix);
        }
        if parts.len() != 4 {
            return Err(TokenFormatError::Parts(parts.len()));
        }
        let id = parse_hex::<8>(parts[1]).ok_or(TokenFormatError::Hex {
            part: "id",
            digits: 16,
        })?;
        let secret = parse_hex::<32>(parts[2]).ok_or(TokenFormatError::Hex {
            part: "secret",
            digits: 64,
        })?;
        let ca_fingerprint = parse_hex::<32>(parts[3]).ok_or(TokenFormatError::Hex {
            part: "CA fingerprint",
            digits: 64,
        })?;
        Ok(Self {
            id: hex::encode(id),
            secret,
            ca_fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_through_its_text() {
        let token = JoinToken::generate(b"a CA certificate");
        let parsed: JoinToken = token.to_string().parse().expect("parses");
        assert_eq!(parsed, token);
        assert_eq!(parsed.ca_fingerprint, ca_fingerprint(b"a CA certificate"));
        assert_eq!(
            sha256_of_secret_hex(&token.secret_hex()),
            Some(token.secret_sha256())
        );
        assert!(!format!("{token:?}").contains(&token.secret_hex()));
    }

    #[test]
    fn a_malformed_token_says_which_part_is_wrong() {
        let good = JoinToken::generate(b"ca").to_string();
        let parts: Vec<&str> = good.split('.').collect();
        let cases = [
            ("hello".to_owned(), "should start with"),
            (parts[..3].join("."), "this one has 3"),
            (
                format!("mvj1.xyz.{}.{}", parts[2], parts[3]),
                "id should be",
            ),
            (
                format!("mvj1.{}.{}.{}", parts[1], &parts[2][..10], parts[3]),
                "secret should be",
            ),
            (
                format!("mvj1.{}.{}.{}", parts[1], parts[2], "zz"),
                "CA fingerprint should be",
            ),
        ];
        for (text, needle) in cases {
            let err = text.parse::<JoinToken>().expect_err(&text).to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert_eq!(sha256_of_secret_hex("not hex"), None);
    }
}
