//! The execution gateway: one local JSON-RPC endpoint per chain that the
//! strategy engine uses instead of the node. Reads are proxied to the local
//! node; writes (`eth_sendRawTransaction`, `eth_sendBundle`,
//! `eth_cancelBundle`, `eth_sendPrivateTransaction`, and
//! `eth_sendTransaction` for nodes that sign) pass only while this
//! agent holds the chain's executor lease and no emergency stop or safe mode
//! is in force, and through the chain's guards. Refusals are JSON-RPC
//! errors with stable codes: -32001 not the active executor (naming it and
//! its epoch), -32002 halted, -32003 refused by a guard (naming it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::{BodyExt, Full};
use hyper_tls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mevfleet_common::shutdown::Shutdown;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing::info;
use url::Url;

use crate::executor::{ExecutorState, Refusal};
use crate::guards::{self, Tags, PROFIT_HEADER, STRATEGY_HEADER};

/// Methods that change the world: only the active executor sends them.
pub const WRITE_METHODS: [&str; 5] = [
    "eth_sendTransaction",
    "eth_sendRawTransaction",
    "eth_sendBundle",
    "eth_cancelBundle",
    "eth_sendPrivateTransaction",
];

/// Not the active executor.
pub const NOT_EXECUTOR: i64 = -32001;
/// Emergency stop or safe mode.
pub const HALTED: i64 = -32002;
/// Refused by a guard.
pub const GUARD: i64 = -32003;
/// The local node did not answer.
pub const NODE_UNREACHABLE: i64 = -32000;

/// How long the node may take to answer a proxied request.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// One chain's gateway.
#[derive(Debug)]
struct Gateway {
    chain: String,
    agent_id: String,
    rpc: Url,
    executor: ExecutorState,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Binds the gateway's address; fails before anything is served.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves `chain`'s gateway on `listener` until `shutdown`.
pub fn spawn(
    listener: TcpListener,
    chain: String,
    agent_id: String,
    rpc: Url,
    executor: ExecutorState,
    shutdown: &Shutdown,
) {
    let gateway = Arc::new(Gateway {
        chain,
        agent_id,
        rpc,
        executor,
        client: Client::builder(TokioExecutor::new()).build(HttpsConnector::new()),
    });
    let router = Router::new()
        .route("/", post(handle))
        .with_state(gateway.clone());
    let token = shutdown.token().clone();
    shutdown.spawn_critical("gateway", async move {
        if let Ok(addr) = listener.local_addr() {
            info!(chain = %gateway.chain, addr = %addr, "serving the execution gateway");
        }
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    });
}

fn error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn handle(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let tags = Tags {
        strategy: header(STRATEGY_HEADER),
        expected_profit_wei: header(PROFIT_HEADER),
    };
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return Json(error(Value::Null, -32700, format!("parse error: {err}"))).into_response()
        }
    };
    match request {
        Value::Array(batch) => {
            let mut answers = Vec::with_capacity(batch.len());
            for one in batch {
                answers.push(gateway.one(one, &tags).await);
            }
            Json(Value::Array(answers)).into_response()
        }
        one => Json(gateway.one(one, &tags).await).into_response(),
    }
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Gateway {
    async fn one(&self, request: Value, tags: &Tags) -> Value {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return error(id, -32600, "invalid request: no method".into());
        };
        if !WRITE_METHODS.contains(&method) {
            return self.forward(id, &request).await;
        }
        match self.executor.may_write(&self.chain, Instant::now()) {
            Ok(epoch) => {
                let params = request.get("params").cloned().unwrap_or(Value::Null);
                let guards = self.executor.guards(&self.chain);
                if let Err(why) = guards::check(&guards, &self.chain, method, &params, tags) {
                    info!(chain = %self.chain, epoch, method, strategy = tags.strategy.as_deref(), reason = %why, "gateway refused a write");
                    return error(id, GUARD, why);
                }
                info!(
                    chain = %self.chain,
                    agent = %self.agent_id,
                    epoch,
                    method,
                    accepted_unix_ns = unix_ns() as u64,
                    "gateway accepted a write"
                );
                self.forward(id, &request).await
            }
            Err(Refusal::NotExecutor { executor, epoch }) => {
                let holder = executor
                    .map(|agent| format!("{agent} is the executor at epoch {epoch}"))
                    .unwrap_or_else(|| format!("no agent is the executor (epoch {epoch})"));
                error(
                    id,
                    NOT_EXECUTOR,
                    format!(
                        "not the active executor for {} on {}: {holder}",
                        self.chain, self.agent_id
                    ),
                )
            }
            Err(Refusal::Halted { why }) => error(
                id,
                HALTED,
                format!("{} refuses writes on {}: {why}", self.agent_id, self.chain),
            ),
        }
    }

    async fn forward(&self, id: Value, request: &Value) -> Value {
        let body = match serde_json::to_vec(request) {
            Ok(body) => body,
            Err(err) => return error(id, -32603, format!("cannot encode the request: {err}")),
        };
        let uri: hyper::Uri = match self.rpc.as_str().parse() {
            Ok(uri) => uri,
            Err(err) => return error(id, -32603, format!("bad node URL: {err}")),
        };
        let request = hyper::Request::post(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)));
        let request = match request {
            Ok(request) => request,
            Err(err) => return error(id, -32603, format!("cannot build the request: {err}")),
        };
        let answer = tokio::time::timeout(NODE_TIMEOUT, async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| e.to_string())?;
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("not JSON: {e}"))
        })
        .await;
        match answer {
            Ok(Ok(value)) => value,
            Ok(Err(reason)) => error(
                id,
                NODE_UNREACHABLE,
                format!("the {} node did not answer: {reason}", self.chain),
            ),
            Err(_) => error(
                id,
                NODE_UNREACHABLE,
                format!(
                    "the {} node did not answer within {} s",
                    self.chain,
                    NODE_TIMEOUT.as_secs()
                ),
            ),
        }
    }
}
