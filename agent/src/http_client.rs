//! How the agent connects out over HTTP(S) and WebSocket: plain `http://`
//! and `ws://` straight away, and TLS through one connector for the whole
//! process, made the first time an `https://` or `wss://` URL is used.
//!
//! Chain nodes are almost always local and plain; a TLS connector loads
//! the system's CA bundle (about 140 certificates, parsed into OpenSSL's
//! store), and every hyper-tls or tokio-tungstenite client used to make
//! its own. So an agent of five chains held that store a dozen times, and
//! an agent with no `https` URL at all still held it.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper_tls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tower_service::Service;
use url::Url;

/// What a connection or its set-up failed with.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The process's TLS client settings (system CA roots), or why they could
/// not be loaded: made once, on first use.
static TLS: OnceLock<Result<native_tls::TlsConnector, String>> = OnceLock::new();

fn tls() -> Result<&'static native_tls::TlsConnector, BoxError> {
    TLS.get_or_init(|| {
        native_tls::TlsConnector::new().map_err(|err| format!("cannot set up TLS: {err}"))
    })
    .as_ref()
    .map_err(|err| err.clone().into())
}

/// Whether this process has loaded its TLS settings yet.
pub fn tls_loaded() -> bool {
    TLS.get().is_some()
}

/// Connects `http` URLs directly and `https` ones through the shared TLS
/// connector.
#[derive(Clone, Debug)]
pub struct Connector {
    http: HttpConnector,
}

impl Connector {
    /// A connector that sends each write at once (`TCP_NODELAY`): the
    /// requests are small and someone waits for every answer.
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        // The HTTPS path hands `https` URIs to this connector too.
        http.enforce_http(false);
        Self { http }
    }
}

impl Default for Connector {
    fn default() -> Self {
        Self::new()
    }
}

/// One connection: plain TCP or TLS over it.
pub type Connection = MaybeHttpsStream<TokioIo<TcpStream>>;

impl Service<Uri> for Connector {
    type Response = Connection;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Connection, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        // The HTTP connector is always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut http = self.http.clone();
        if uri.scheme_str() == Some("https") {
            let connector = tls().map(|tls| HttpsConnector::from((http, tls.clone().into())));
            Box::pin(async move { connector?.call(uri).await })
        } else {
            Box::pin(async move {
                let stream = http.call(uri).await?;
                Ok(MaybeHttpsStream::Http(stream))
            })
        }
    }
}

/// A pooled HTTP(S) client with body type `B`.
pub fn client<B>() -> Client<Connector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    Client::builder(TokioExecutor::new()).build(Connector::new())
}

/// The TLS connector for a WebSocket URL: the shared one for `wss`, none
/// (plain TCP) otherwise.
pub fn websocket_tls(url: &Url) -> Result<Option<tokio_tungstenite::Connector>, BoxError> {
    if url.scheme() != "wss" {
        return Ok(None);
    }
    Ok(Some(tokio_tungstenite::Connector::NativeTls(
        tls()?.clone(),
    )))
}

#[cfg(test)]
#[path = "http_client_tests.rs"]
mod tests;
