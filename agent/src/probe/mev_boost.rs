//! The local mev-boost and its relays: `GET /eth/v1/builder/status` on
//! each, which answers 200 when it is up (mev-boost: when at least one relay
//! is reachable).

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use mevfleet_common::report::{MevBoostReport, RelayReport};
use url::Url;

use crate::config::MevBoostConfig;
use crate::http_client::{self, Connector};

/// The builder API's status path.
pub const STATUS_PATH: &str = "/eth/v1/builder/status";

/// An HTTP(S) client for status checks.
#[derive(Clone, Debug)]
pub struct StatusClient {
    client: Client<Connector, Empty<Bytes>>,
    timeout: Duration,
}

impl StatusClient {
    /// A client whose checks give up after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        Self {
            client: http_client::client(),
            timeout,
        }
    }

    /// Checks `base`'s status endpoint: the latency when it answered 200,
    /// or why not.
    pub async fn check(&self, base: &Url) -> Result<Duration, String> {
        let url = base
            .join(STATUS_PATH)
            .map_err(|err| format!("bad URL: {err}"))?;
        let uri: hyper::Uri = url
            .as_str()
            .parse()
            .map_err(|err| format!("bad URL: {err}"))?;
        let started = Instant::now();
        let response = tokio::time::timeout(self.timeout, async {
            let response = self.client.get(uri).await.map_err(|err| err.to_string())?;
            let status = response.status();
            // Drain the body so the connection can be reused.
            let _body = response.into_body().collect().await;
            Ok::<_, String>(status)
        })
        .await
        .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))??;
        if response.is_success() {
            Ok(started.elapsed())
        } else {
            Err(format!("answered {response}"))
        }
    }

    /// One reading of mev-boost and its relays.
    pub async fn read(&self, config: &MevBoostConfig) -> MevBoostReport {
        let (boost, relays) = tokio::join!(
            self.check(&config.url),
            futures::future::join_all(config.relays.iter().map(|relay| async move {
                let result = self.check(relay).await;
                RelayReport {
                    url: redacted(relay),
                    ok: result.is_ok(),
                    error: result.err(),
                }
            }))
        );
        MevBoostReport {
            url: redacted(&config.url),
            ok: boost.is_ok(),
            latency_us: boost.as_ref().ok().map(|d| d.as_micros() as u64),
            error: boost.err(),
            relays,
        }
    }
}

/// A URL without its credentials (relay URLs carry a public key as user).
fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    let _user = url.set_username("");
    let _password = url.set_password(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_credentials_are_not_reported() -> anyhow::Result<()> {
        let url = Url::parse("https://0xabc@relay.example/")?;
        assert_eq!(redacted(&url), "https://relay.example/");
        Ok(())
    }
}
