//! The execution gateway: one local JSON-RPC endpoint per chain that the
//! strategy engine uses instead of the node. Reads are proxied to the local
//! node; writes (`eth_sendRawTransaction`, `eth_sendBundle`,
//! `eth_cancelBundle`, `eth_sendPrivateTransaction`, and
//! `eth_sendTransaction` for nodes that sign) pass only while this
//! agent holds the chain's executor lease and no emergency stop or safe mode
//! is in force, and through the chain's guards. Refusals are JSON-RPC
//! errors with stable codes: -32001 not the active executor (naming it and
//! its epoch), -32002 halted, -32003 refused by a guard (naming it).
//!
//! A request made only of reads is passed to the node as it came and the
//! node's answer returned as it went, without decoding either. The same
//! endpoint speaks WebSocket (see [`ws`]) where the chain has a `ws` URL.

mod ws;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mevfleet_common::shutdown::Shutdown;
use serde::Deserialize;
use serde_json::{json, Value};
use std::borrow::Cow;
use std::collections::VecDeque;
use tokio::net::TcpListener;
use tracing::{info, warn};
use url::Url;

use crate::post::{self, post_json, HttpClient};

use mevfleet_common::report::{Execution, Inclusion, SpoolRecord};
use tokio::sync::mpsc;

use crate::executor::{ExecutorState, Refusal};
use crate::guards::{self, Tags, PROFIT_HEADER, STRATEGY_HEADER};
use crate::relay::Relays;

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

/// How long an accepted transaction is followed before it counts as not
/// included.
const FOLLOW_FOR: Duration = Duration::from_secs(120);

/// How often pending transactions' receipts are asked for.
const RECEIPT_POLL: Duration = Duration::from_millis(500);

/// Receipts asked for in one batch.
const RECEIPT_BATCH: usize = 256;

/// At most this many transactions are followed at once; beyond, the oldest
/// is given up (and counted as not included).
const MAX_FOLLOWED: usize = 10_000;

/// One chain's gateway.
#[derive(Debug)]
struct Gateway {
    chain: String,
    agent_id: String,
    rpc: Url,
    executor: ExecutorState,
    client: HttpClient,
    records: mpsc::UnboundedSender<SpoolRecord>,
    follow: mpsc::UnboundedSender<String>,
    relays: Relays,
    ws: Option<Url>,
    shutdown: tokio_util::sync::CancellationToken,
}

/// Binds the gateway's address; fails before anything is served.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// What one chain's gateway works with.
#[derive(Debug)]
pub struct GatewaySettings {
    /// The chain.
    pub chain: String,
    /// This agent's id (named in refusals).
    pub agent_id: String,
    /// The local node's JSON-RPC URL.
    pub rpc: Url,
    /// The local node's WebSocket URL, for the gateway's WebSocket side.
    pub ws: Option<Url>,
    /// The executor leases and switches.
    pub executor: ExecutorState,
    /// Where execution outcomes go (to be spooled).
    pub records: mpsc::UnboundedSender<SpoolRecord>,
    /// The chain's relays.
    pub relays: Relays,
}

/// Serves a chain's gateway on `listener` until `shutdown`.
pub fn spawn(listener: TcpListener, settings: GatewaySettings, shutdown: &Shutdown) {
    let (follow, followed) = mpsc::unbounded_channel();
    let gateway = Arc::new(Gateway {
        chain: settings.chain,
        agent_id: settings.agent_id,
        rpc: settings.rpc,
        executor: settings.executor,
        client: post::client(),
        records: settings.records,
        follow,
        relays: settings.relays,
        ws: settings.ws,
        shutdown: shutdown.token().clone(),
    });
    let follower = gateway.clone();
    let token = shutdown.token().clone();
    shutdown.spawn("inclusion-follower", async move {
        follower.follow_inclusions(followed, token).await;
    });
    let router = Router::new()
        .route("/", post(handle).get(ws::upgrade))
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

/// The strategy's tags on a request (or on a WebSocket connection).
fn tags_of(headers: &HeaderMap) -> Tags {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Tags {
        strategy: header(STRATEGY_HEADER),
        expected_profit_wei: header(PROFIT_HEADER),
    }
}

/// Just the method of a request, borrowed where it can be.
#[derive(Deserialize)]
struct MethodOnly<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
}

/// Whether `body` is a well-formed request, or batch, of reads only: one
/// that may go to the node untouched. Anything else (a write, no method,
/// not JSON) takes the path that decodes it.
fn only_reads(body: &[u8]) -> bool {
    let read = |m: &MethodOnly| {
        m.method
            .as_deref()
            .is_some_and(|m| !WRITE_METHODS.contains(&m))
    };
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<MethodOnly>>(body)
            .is_ok_and(|batch| !batch.is_empty() && batch.iter().all(read)),
        Some(b'{') => serde_json::from_slice::<MethodOnly>(body).is_ok_and(|one| read(&one)),
        _ => false,
    }
}

async fn handle(State(gateway): State<Arc<Gateway>>, headers: HeaderMap, body: Bytes) -> Response {
    if only_reads(&body) {
        if let Ok(answer) = gateway.forward_raw(body.clone()).await {
            let mut response = answer.into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            return response;
        }
    }
    Json(gateway.answer(&body, &tags_of(&headers)).await).into_response()
}

fn unix_ms() -> u64 {
    (unix_ns() / 1_000_000) as u64
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

impl Gateway {
    /// The answer to a request or batch, decoded: writes checked, reads
    /// forwarded, errors explained.
    async fn answer(&self, body: &[u8], tags: &Tags) -> Value {
        let request: Value = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(err) => return error(Value::Null, -32700, format!("parse error: {err}")),
        };
        match request {
            Value::Array(batch) if batch.is_empty() => error(
                Value::Null,
                -32600,
                "invalid request: an empty batch".into(),
            ),
            Value::Array(batch) => {
                let mut answers = Vec::with_capacity(batch.len());
                for one in batch {
                    answers.push(self.one(one, tags).await);
                }
                Value::Array(answers)
            }
            one => self.one(one, tags).await,
        }
    }

    async fn one(&self, request: Value, tags: &Tags) -> Value {
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let Some(method) = request.get("method").and_then(Value::as_str) else {
            return error(id, -32600, "invalid request: no method".into());
        };
        if !WRITE_METHODS.contains(&method) {
            return self.forward(id, &request).await;
        }
        let mut outcome = Execution {
            chain: self.chain.clone(),
            method: method.to_owned(),
            hash: None,
            strategy: tags.strategy.clone(),
            expected_profit_wei: tags
                .expected_profit_wei
                .as_deref()
                .and_then(|p| p.trim().parse().ok()),
            epoch: 0,
            at_ms: unix_ms(),
            accepted: false,
            reason: None,
            refusal_code: None,
        };
        let answer = self.write(id, method, &request, tags, &mut outcome).await;
        if !outcome.accepted {
            outcome.refusal_code = answer["error"]["code"].as_i64();
        }
        if outcome.accepted {
            if let Some(hash) = outcome.hash.clone().filter(|_| method != "eth_sendBundle") {
                let _closed = self.follow.send(hash);
            }
        }
        let _closed = self.records.send(SpoolRecord::Execution(outcome));
        answer
    }

    /// A write: checked, forwarded if allowed, and described in `outcome`.
    async fn write(
        &self,
        id: Value,
        method: &str,
        request: &Value,
        tags: &Tags,
        outcome: &mut Execution,
    ) -> Value {
        match self.executor.may_write(&self.chain, Instant::now()) {
            Ok(epoch) => {
                outcome.epoch = epoch;
                let params = request.get("params").cloned().unwrap_or(Value::Null);
                let guards = self.executor.guards(&self.chain);
                if let Err(why) = guards::check(&guards, &self.chain, method, &params, tags) {
                    info!(chain = %self.chain, epoch, method, strategy = tags.strategy.as_deref(), reason = %why, "gateway refused a write");
                    outcome.reason = Some(why.clone());
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
                let answer = match method {
                    "eth_sendBundle" | "eth_cancelBundle" | "eth_sendPrivateTransaction" => {
                        self.to_relays(id, request).await
                    }
                    "eth_sendRawTransaction" if !self.relays.is_empty() => {
                        self.to_node_and_relays(id, request, &params).await
                    }
                    _ => self.forward(id, request).await,
                };
                match (answer.get("result"), answer.get("error")) {
                    (Some(result), _) => {
                        outcome.accepted = true;
                        outcome.hash = result
                            .as_str()
                            .or_else(|| result.get("bundleHash").and_then(Value::as_str))
                            .map(str::to_owned);
                    }
                    (None, Some(err)) => {
                        outcome.reason = Some(format!("the node refused it: {err}"));
                    }
                    (None, None) => outcome.reason = Some("the node gave no result".into()),
                }
                answer
            }
            Err(Refusal::NotExecutor { executor, epoch }) => {
                outcome.reason = Some("not the active executor".into());
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
            Err(Refusal::Halted { why }) => {
                outcome.reason = Some(why.to_owned());
                error(
                    id,
                    HALTED,
                    format!("{} refuses writes on {}: {why}", self.agent_id, self.chain),
                )
            }
        }
    }

    /// Bundles and private transactions go to the relays, not the node.
    async fn to_relays(&self, id: Value, request: &Value) -> Value {
        if self.relays.is_empty() {
            return error(
                id,
                NODE_UNREACHABLE,
                format!(
                    "no relay is configured for {}: bundles need [[chains]] relays",
                    self.chain
                ),
            );
        }
        match self.relays.send(request).await {
            Ok(mut answer) => {
                answer["id"] = id;
                answer
            }
            Err(reason) => error(id, NODE_UNREACHABLE, reason),
        }
    }

    /// A raw transaction goes to the local node and, as a private
    /// transaction, to the relays at the same time; the node answers.
    async fn to_node_and_relays(&self, id: Value, request: &Value, params: &Value) -> Value {
        let private = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendPrivateTransaction",
            "params": [{"tx": params.get(0).cloned().unwrap_or(Value::Null)}],
        });
        let (answer, relayed) = tokio::join!(self.forward(id, request), self.relays.send(&private));
        if let Err(reason) = relayed {
            warn!(chain = %self.chain, reason = %reason, "the relays did not take a raw transaction");
        }
        answer
    }

    /// Follows accepted transactions to their receipts, and records what
    /// became of each (included and whether it succeeded, or not seen in
    /// time).
    async fn follow_inclusions(
        &self,
        mut hashes: mpsc::UnboundedReceiver<String>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let mut pending: VecDeque<(String, Instant)> = VecDeque::new();
        let mut ticks = tokio::time::interval(RECEIPT_POLL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                hash = hashes.recv() => match hash {
                    Some(hash) => {
                        if pending.len() >= MAX_FOLLOWED {
                            if let Some((oldest, _)) = pending.pop_front() {
                                self.settle(oldest, None, false);
                            }
                        }
                        pending.push_back((hash, Instant::now()));
                        continue;
                    }
                    None => return,
                },
                _ = ticks.tick() => {}
            }
            let mut still = VecDeque::with_capacity(pending.len());
            let followed: Vec<(String, Instant)> = pending.drain(..).collect();
            for chunk in followed.chunks(RECEIPT_BATCH) {
                let receipts = self.receipts(chunk).await;
                for ((hash, since), receipt) in chunk.iter().zip(receipts) {
                    match receipt {
                        Some(receipt) => {
                            let block = receipt["blockNumber"].as_str().and_then(|b| {
                                u64::from_str_radix(b.trim_start_matches("0x"), 16).ok()
                            });
                            let success = receipt["status"] == "0x1";
                            self.settle(hash.clone(), block, success);
                        }
                        None if since.elapsed() > FOLLOW_FOR => {
                            self.settle(hash.clone(), None, false)
                        }
                        None => still.push_back((hash.clone(), *since)),
                    }
                }
            }
            pending = still;
        }
    }

    /// The receipts of `followed`, in order, asked in one batch; `None`
    /// for each not (yet) known, or all when the node did not answer.
    async fn receipts(&self, followed: &[(String, Instant)]) -> Vec<Option<Value>> {
        let batch: Vec<Value> = followed
            .iter()
            .enumerate()
            .map(|(i, (hash, _))| {
                json!({"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [hash]})
            })
            .collect();
        let mut receipts = vec![None; followed.len()];
        if let Value::Array(answers) = self.forward(Value::Null, &Value::Array(batch)).await {
            for answer in answers {
                let slot = answer["id"]
                    .as_u64()
                    .and_then(|i| receipts.get_mut(i as usize));
                if let (Some(slot), Some(receipt)) =
                    (slot, answer.get("result").filter(|r| !r.is_null()))
                {
                    *slot = Some(receipt.clone());
                }
            }
        }
        receipts
    }

    fn settle(&self, hash: String, block: Option<u64>, success: bool) {
        let _closed = self.records.send(SpoolRecord::Inclusion(Inclusion {
            chain: self.chain.clone(),
            hash,
            block,
            success,
            at_ms: unix_ms(),
        }));
    }

    /// Sends `request` to the node and decodes its answer; a failure is
    /// an error answer for `id`.
    async fn forward(&self, id: Value, request: &Value) -> Value {
        let body = match serde_json::to_vec(request) {
            Ok(body) => body,
            Err(err) => return error(id, -32603, format!("cannot encode the request: {err}")),
        };
        let answer = self.forward_raw(Bytes::from(body)).await.and_then(|bytes| {
            serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("not JSON: {e}"))
        });
        match answer {
            Ok(value) => value,
            Err(reason) => error(id, NODE_UNREACHABLE, reason),
        }
    }

    /// Sends `body` to the node as it is and returns its answer as it is.
    async fn forward_raw(&self, body: Bytes) -> Result<Bytes, String> {
        post_json(&self.client, &self.rpc, &[], body, NODE_TIMEOUT)
            .await
            .map(|(_, bytes)| bytes)
            .map_err(|err| format!("the {} node did not answer: {err}", self.chain))
    }
}

#[cfg(test)]
mod tests {
    use super::only_reads;

    #[test]
    fn only_well_formed_reads_go_to_the_node_untouched() {
        let cases: [(&str, bool); 10] = [
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#,
                true,
            ),
            (
                r#"  {"method":"eth_call","params":[{"to":"0x00"},"latest"],"id":"a"}"#,
                true,
            ),
            (
                r#"[{"method":"eth_chainId","id":1},{"method":"eth_gasPrice","id":2}]"#,
                true,
            ),
            (
                r#"{"method":"eth_sendRawTransaction","params":["0x02"],"id":1}"#,
                false,
            ),
            (
                r#"[{"method":"eth_chainId","id":1},{"method":"eth_sendBundle","id":2}]"#,
                false,
            ),
            (r#"{"method":"eth_sendTransaction","id":1}"#, false),
            (r#"{"id":1,"params":[]}"#, false),
            ("[]", false),
            ("{not json", false),
            ("", false),
        ];
        for (body, expected) in cases {
            assert_eq!(only_reads(body.as_bytes()), expected, "{body}");
        }
    }
}
