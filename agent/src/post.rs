//! One JSON-RPC POST over the agent's pooled HTTP(S) client, bounded in
//! time: what the gateway sends to its node and to relays.

use std::time::Duration;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use url::Url;

use crate::http_client::{self, Connector};

/// The pooled client (HTTP, and HTTPS through the process's one TLS
/// connector).
pub type HttpClient = Client<Connector, Full<Bytes>>;

/// A new pooled client.
pub fn client() -> HttpClient {
    http_client::client()
}

/// Why a POST gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// The URL is not one hyper can send to.
    #[error("bad URL {url}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The request could not be sent or its answer read.
    #[error("{0}")]
    Failed(String),
    /// No answer in time.
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// POSTs `body` as JSON to `url` with `headers`; the status and body of
/// the answer, within `timeout`.
pub async fn post_json(
    client: &HttpClient,
    url: &Url,
    headers: &[(&str, String)],
    body: Bytes,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), PostError> {
    let uri: hyper::Uri = url
        .as_str()
        .parse()
        .map_err(|err: hyper::http::uri::InvalidUri| PostError::Url {
            url: url.to_string(),
            reason: err.to_string(),
        })?;
    let mut request =
        hyper::Request::post(uri).header(hyper::header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(body))
        .map_err(|err| PostError::Failed(format!("cannot build the request: {err}")))?;
    tokio::time::timeout(timeout, async {
        let response = client
            .request(request)
            .await
            .map_err(|e| PostError::Failed(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| PostError::Failed(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    })
    .await
    .map_err(|_| PostError::Timeout(timeout))?
}
