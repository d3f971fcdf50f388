//! Sending bundles and private transactions to relays: the same JSON-RPC
//! request to every configured relay in parallel, signed with
//! `X-Flashbots-Signature: <address>:<signature>` (EIP-191 signature of the
//! hex keccak-256 of the body) when a relay key is configured. The first
//! relay that accepts answers the caller; when none does, every relay's
//! reason is reported.

use std::path::Path;
use std::time::Duration;

use alloy::primitives::{hex, keccak256};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;
use axum::body::Bytes;
use serde_json::Value;
use url::Url;

use crate::post::{self, post_json, HttpClient};

/// The header relays authenticate searchers by.
pub const SIGNATURE_HEADER: &str = "X-Flashbots-Signature";

/// How long a relay may take.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the relay key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RelayKeyError {
    /// The file could not be read.
    #[error("relay_key {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file does not hold a private key.
    #[error("relay_key {path}: not a hex private key ({reason})")]
    Bad {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Loads the relay signing key from a file holding it in hex.
pub fn load_key(path: &Path) -> Result<PrivateKeySigner, RelayKeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| RelayKeyError::Read {
        path: path.display().to_string(),
        source,
    })?;
    text.trim()
        .parse::<PrivateKeySigner>()
        .map_err(|err| RelayKeyError::Bad {
            path: path.display().to_string(),
            reason: err.to_string(),
        })
}

/// The `X-Flashbots-Signature` value for `body`.
pub fn signature(signer: &PrivateKeySigner, body: &[u8]) -> Result<String, String> {
    let digest = format!("0x{}", hex::encode(keccak256(body)));
    let signed = signer
        .sign_message_sync(digest.as_bytes())
        .map_err(|err| format!("cannot sign: {err}"))?;
    Ok(format!(
        "{:?}:0x{}",
        signer.address(),
        hex::encode(signed.as_bytes())
    ))
}

/// Sends to relays.
#[derive(Debug, Clone)]
pub struct Relays {
    urls: Vec<Url>,
    signer: Option<PrivateKeySigner>,
    client: HttpClient,
}

impl Relays {
    /// Relays at `urls`, signing with `signer` if any.
    pub fn new(urls: Vec<Url>, signer: Option<PrivateKeySigner>) -> Self {
        Self {
            urls,
            signer,
            client: post::client(),
        }
    }

    /// Whether any relay is configured.
    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    async fn send_one(&self, url: &Url, body: Bytes) -> Result<Value, String> {
        let mut headers = Vec::new();
        if let Some(signer) = &self.signer {
            headers.push((SIGNATURE_HEADER, signature(signer, &body)?));
        }
        let (status, bytes) = post_json(&self.client, url, &headers, body, RELAY_TIMEOUT)
            .await
            .map_err(|err| err.to_string())?;
        let answer: Value = serde_json::from_slice(&bytes)
            .map_err(|_| format!("answered {status} without JSON"))?;
        match (answer.get("result"), answer.get("error")) {
            (Some(_), _) => Ok(answer),
            (None, Some(err)) => Err(format!("refused: {err}")),
            (None, None) => Err("answered without a result".into()),
        }
    }

    /// Sends `request` to every relay at once; the first acceptance, or
    /// every relay's reason.
    pub async fn send(&self, request: &Value) -> Result<Value, String> {
        let body = Bytes::from(serde_json::to_vec(request).map_err(|e| e.to_string())?);
        let sends = self.urls.iter().map(|url| {
            let body = body.clone();
            async move { (url, self.send_one(url, body).await) }
        });
        let results = futures::future::join_all(sends).await;
        let mut reasons = Vec::new();
        let mut accepted = None;
        for (url, result) in results {
            match result {
                Ok(answer) if accepted.is_none() => accepted = Some(answer),
                Ok(_) => {}
                Err(reason) => {
                    reasons.push(format!("{}: {reason}", url.host_str().unwrap_or("relay")))
                }
            }
        }
        accepted.ok_or_else(|| format!("no relay accepted it ({})", reasons.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Signature;

    use super::*;

    #[test]
    fn the_signature_recovers_to_the_key_address() -> anyhow::Result<()> {
        // anvil's first dev key: a well-known test key, never a real one.
        let signer: PrivateKeySigner =
            "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80".parse()?;
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[]}"#;
        let header = signature(&signer, body).map_err(anyhow::Error::msg)?;
        let (address, sig) = header
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("{header}"))?;
        assert_eq!(address, format!("{:?}", signer.address()));
        let sig: Signature = sig.parse()?;
        let digest = format!("0x{}", hex::encode(keccak256(body)));
        assert_eq!(
            sig.recover_address_from_msg(digest.as_bytes())?,
            signer.address()
        );
        Ok(())
    }

    #[test]
    fn a_bad_key_file_says_so() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("relay.key");
        std::fs::write(&path, "not a key")?;
        let err = load_key(&path).expect_err("bad key");
        assert!(err.to_string().contains("not a hex private key"), "{err}");
        Ok(())
    }
}
