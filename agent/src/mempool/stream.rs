//! One chain's mempool stream: a WebSocket session to the node subscribed
//! to `newPendingTransactions` (whole transactions, or hashes fetched in
//! batches where the node has no full mode), with a watchdog that
//! resubscribes a silent stream and a backoff between reconnects; a ticker
//! that closes each second with `txpool_status`; and the hand-off of
//! summaries and selected transactions to the outbox. Nothing here waits
//! on the uplink: what does not fit is counted and dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use alloy::primitives::B256;
use futures::{SinkExt, StreamExt};
use mevfleet_common::mempool::unix_us;
use mevfleet_common::shutdown::Shutdown;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn, Instrument};
use url::Url;

use super::decode::{decode, DecodeError, Frame, PendingTx};
use super::outbox::Outbox;
use super::stats::{ChainStats, Taken};
use crate::http_client::websocket_tls;
use crate::post::{client, post_json, HttpClient};
use crate::uplink::Backoff;

/// Request ids of the two ways to subscribe.
const SUBSCRIBE_FULL: u64 = 1;
const SUBSCRIBE_HASHES: u64 = 2;

/// How long connecting and subscribing may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one `txpool_status` or fetch may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// Hashes waiting to be fetched; more are dropped (and counted).
const FETCH_QUEUE: usize = 10_000;

/// Transactions fetched in one JSON-RPC batch.
const FETCH_BATCH: usize = 100;

/// Frames taken in one go when more are already waiting on the socket:
/// they share one clock read and one lock of the stats, and their dedup
/// lookups wait for memory side by side. (256 against 64: 13 % more frames
/// a second under a firehose, docs/BENCHMARKS.md; a batch holds at most
/// about 60 KiB of decoded frames.)
const TAKE_BATCH: u64 = 256;

/// What the socket gives next.
type Next = Option<Result<Message, tokio_tungstenite::tungstenite::Error>>;

/// Settings of one chain's stream.
#[derive(Clone, Debug)]
pub struct StreamSettings {
    /// The chain.
    pub chain: String,
    /// The node's WebSocket URL.
    pub ws: Url,
    /// The node's JSON-RPC URL (for `txpool_status` and fetches).
    pub rpc: Url,
    /// Ask for whole transactions first.
    pub full_transactions: bool,
    /// Resubscribe after between one and two of these without a frame.
    pub silence_timeout: Duration,
    /// Reconnect delays.
    pub backoff: Backoff,
}

/// Counters of one stream, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamState {
    /// Whether the subscription is up.
    pub streaming: bool,
    /// Whether it runs in hash mode (fetching each transaction).
    pub hash_mode: bool,
    /// Subscriptions made since the agent started (the first included).
    pub subscriptions: u64,
    /// Why the stream is down, when it is.
    pub error: Option<String>,
}

/// A running stream.
#[derive(Clone, Debug)]
pub struct StreamHandle {
    /// The chain.
    pub chain: String,
    /// The stream's state.
    pub state: watch::Receiver<StreamState>,
    /// Frames carrying a transaction or hash taken from the socket so far
    /// (before dedup), counted as they come.
    pub frames: Arc<AtomicU64>,
}

/// Starts the stream, its ticker and (for hash mode) its fetcher.
pub fn spawn(
    settings: StreamSettings,
    stats: ChainStats,
    outbox: Arc<Outbox>,
    shutdown: &Shutdown,
) -> StreamHandle {
    let (state_tx, state) = watch::channel(StreamState::default());
    let stats = Arc::new(Mutex::new(stats));
    let (fetch_tx, fetch_rx) = mpsc::channel(FETCH_QUEUE);
    let http = client();
    let chain = settings.chain.clone();
    let span = info_span!("mempool", chain = %chain);

    let ticker = Ticker {
        rpc: settings.rpc.clone(),
        http: http.clone(),
        stats: stats.clone(),
        outbox: outbox.clone(),
        state: state.clone(),
    };
    let token = shutdown.token().clone();
    shutdown.spawn("mempool-ticker", ticker.run(token).instrument(span.clone()));

    let fetcher = Fetcher {
        rpc: settings.rpc.clone(),
        http,
        stats: stats.clone(),
        outbox: outbox.clone(),
    };
    let token = shutdown.token().clone();
    shutdown.spawn(
        "mempool-fetcher",
        fetcher.run(fetch_rx, token).instrument(span.clone()),
    );

    let frames = Arc::new(AtomicU64::new(0));
    let stream = Stream {
        settings,
        stats,
        outbox,
        fetch: fetch_tx,
        state: state_tx,
        frames: frames.clone(),
    };
    let token = shutdown.token().clone();
    shutdown.spawn("mempool-stream", stream.run(token).instrument(span));
    StreamHandle {
        chain,
        state,
        frames,
    }
}

fn lock(stats: &Mutex<ChainStats>) -> std::sync::MutexGuard<'_, ChainStats> {
    stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn hand_over(outbox: &Outbox, taken: Taken) {
    if let Taken::Selected(sighting) = taken {
        outbox.sighting(sighting);
    }
}

struct Stream {
    settings: StreamSettings,
    stats: Arc<Mutex<ChainStats>>,
    outbox: Arc<Outbox>,
    fetch: mpsc::Sender<(B256, u64)>,
    state: watch::Sender<StreamState>,
    frames: Arc<AtomicU64>,
}

/// How a session ended.
enum Ended {
    Shutdown,
    /// It had been subscribed (the backoff starts over).
    AfterStreaming(String),
    /// It never got subscribed.
    Failed(String),
}

impl Stream {
    async fn run(self, shutdown: CancellationToken) {
        let mut full = self.settings.full_transactions;
        let mut attempt = 0u32;
        loop {
            let reason = match self.session(&mut full, &shutdown).await {
                Ended::Shutdown => break,
                Ended::AfterStreaming(reason) => {
                    attempt = 0;
                    reason
                }
                Ended::Failed(reason) => reason,
            };
            self.state.send_modify(|state| {
                state.streaming = false;
                state.error = Some(reason.clone());
            });
            let delay = self.settings.backoff.delay(attempt);
            attempt = attempt.saturating_add(1);
            warn!(reason = %reason, retry_ms = delay.as_millis() as u64, "mempool stream down; resubscribing");
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(delay) => {}
            }
        }
        self.state.send_modify(|state| state.streaming = false);
    }

    /// Connects, subscribes and reads until the socket fails or falls silent.
    async fn session(&self, full: &mut bool, shutdown: &CancellationToken) -> Ended {
        let tls = match websocket_tls(&self.settings.ws) {
            Ok(tls) => tls,
            Err(err) => return Ended::Failed(err.to_string()),
        };
        let connect = tokio_tungstenite::connect_async_tls_with_config(
            self.settings.ws.as_str(),
            None,
            true,
            tls,
        );
        let mut socket = tokio::select! {
            _ = shutdown.cancelled() => return Ended::Shutdown,
            connected = tokio::time::timeout(CONNECT_TIMEOUT, connect) => match connected {
                Ok(Ok((socket, _))) => socket,
                Ok(Err(err)) => return Ended::Failed(format!("cannot connect to {}: {err}", self.settings.ws)),
                Err(_) => return Ended::Failed(format!("{} did not accept within {} s", self.settings.ws, CONNECT_TIMEOUT.as_secs())),
            },
        };
        if let Err(err) = socket.send(Message::text(subscribe(*full))).await {
            return Ended::Failed(format!("cannot subscribe: {err}"));
        }
        let mut streaming = false;
        // Per frame, only a count moves: the watchdog fires every
        // `silence` and ends the session when no frame came since it last
        // fired, so a silent stream ends between one and two `silence`s
        // after its last frame, without a clock read per frame.
        let silence = self.settings.silence_timeout;
        let mut frames = 0u64;
        let mut frames_at_watch = 0u64;
        let watchdog = tokio::time::sleep(silence);
        let cancelled = shutdown.cancelled();
        tokio::pin!(watchdog, cancelled);
        // A message a batch read but left for this loop (not a transaction).
        let mut held: Option<Next> = None;
        // This task's own waker, for the batch's reads of what is already
        // waiting: the socket then keeps the waker it has, instead of
        // swapping in another one and back on every frame.
        let waker = std::future::poll_fn(|cx| Poll::Ready(cx.waker().clone())).await;
        // Where a batch's frames wait for the stats, kept between batches.
        let mut batch = Vec::with_capacity(TAKE_BATCH as usize);
        loop {
            let ended = |reason: String| {
                if streaming {
                    Ended::AfterStreaming(reason)
                } else {
                    Ended::Failed(reason)
                }
            };
            let next = if let Some(next) = held.take() {
                next
            } else {
                tokio::select! {
                    biased;
                    _ = &mut cancelled => {
                        let _closing = socket.close(None).await;
                        return Ended::Shutdown;
                    }
                    next = socket.next() => next,
                    _ = &mut watchdog => {
                        if frames == frames_at_watch {
                            return ended(format!("no frame for {} ms", silence.as_millis()));
                        }
                        frames_at_watch = frames;
                        watchdog.as_mut().reset(tokio::time::Instant::now() + silence);
                        continue;
                    }
                }
            };
            frames += 1;
            let text = match next {
                None => return ended("the node closed the socket".into()),
                Some(Err(err)) => return ended(format!("socket error: {err}")),
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(_))) => return ended("the node closed the socket".into()),
                Some(Ok(_)) => continue,
            };
            match decode(text.as_str()) {
                frame @ (Ok(Frame::Transaction(_) | Frame::Hash(_)) | Err(_)) => {
                    held = self.take_batch(&mut socket, &waker, frame, &mut batch);
                }
                Ok(Frame::Subscribed { id }) => {
                    streaming = true;
                    let hash_mode = id == SUBSCRIBE_HASHES;
                    info!(hash_mode, "subscribed to pending transactions");
                    self.state.send_modify(|state| {
                        state.streaming = true;
                        state.hash_mode = hash_mode;
                        state.subscriptions += 1;
                        state.error = None;
                    });
                }
                Ok(Frame::Refused { id, message }) if id == SUBSCRIBE_FULL => {
                    info!(reason = %message, "the node has no full-transaction subscription: fetching by hash");
                    *full = false;
                    if let Err(err) = socket.send(Message::text(subscribe(false))).await {
                        return Ended::Failed(format!("cannot subscribe: {err}"));
                    }
                }
                Ok(Frame::Refused { message, .. }) => {
                    return Ended::Failed(format!("the node refused the subscription: {message}"))
                }
                Ok(Frame::Other) => {}
            }
        }
    }

    /// Takes `first` (a transaction, a hash or an undecodable frame) and
    /// the transactions already waiting behind it, up to [`TAKE_BATCH`],
    /// under one lock of the stats and stamped with one time: they were all
    /// there when this read began. Returns the first message that is not a
    /// transaction, for the session loop.
    ///
    /// The batch is read and decoded whole before the stats see it: the
    /// dedup's table is far larger than the cache, and asking it for every
    /// hash of the batch at once lets the memory fetch them side by side
    /// instead of one after another (see [`ChainStats::prepare`]).
    fn take_batch<S>(
        &self,
        socket: &mut S,
        waker: &Waker,
        first: Result<Frame, DecodeError>,
        batch: &mut Vec<Result<Frame, DecodeError>>,
    ) -> Option<Next>
    where
        S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    {
        let now = unix_us();
        let mut context = Context::from_waker(waker);
        batch.clear();
        batch.push(first);
        let held = loop {
            if batch.len() as u64 >= TAKE_BATCH {
                break None;
            }
            // Only what is there now: nothing waits here.
            let Poll::Ready(next) = socket.poll_next_unpin(&mut context) else {
                break None;
            };
            let Some(Ok(Message::Text(text))) = &next else {
                break Some(next);
            };
            let frame = decode(text.as_str());
            if matches!(
                frame,
                Ok(Frame::Subscribed { .. } | Frame::Refused { .. } | Frame::Other)
            ) {
                break Some(next);
            }
            batch.push(frame);
        };
        let mut stats = lock(&self.stats);
        stats.prepare(batch.iter().filter_map(|frame| match frame {
            Ok(Frame::Transaction(tx)) => Some(&tx.hash),
            Ok(Frame::Hash(hash)) => Some(hash),
            _ => None,
        }));
        let mut taken = 0;
        for frame in batch.drain(..) {
            match frame {
                Ok(Frame::Transaction(tx)) => {
                    taken += 1;
                    hand_over(&self.outbox, stats.arrived(&tx, now));
                }
                Ok(Frame::Hash(hash)) => {
                    taken += 1;
                    if stats.hash_arrived(hash, now) && self.fetch.try_send((hash, now)).is_err() {
                        stats.dropped(1);
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    debug!(error = %err, "undecodable frame");
                    stats.dropped(1);
                }
            }
        }
        drop(stats);
        self.frames.fetch_add(taken, Ordering::Relaxed);
        held
    }
}

fn subscribe(full: bool) -> String {
    let (id, params) = if full {
        (SUBSCRIBE_FULL, json!(["newPendingTransactions", true]))
    } else {
        (SUBSCRIBE_HASHES, json!(["newPendingTransactions"]))
    };
    json!({"jsonrpc": "2.0", "id": id, "method": "eth_subscribe", "params": params}).to_string()
}

/// Closes each second: rolls the stats, adds `txpool_status`, and hands
/// the summary to the outbox.
struct Ticker {
    rpc: Url,
    http: HttpClient,
    stats: Arc<Mutex<ChainStats>>,
    outbox: Arc<Outbox>,
    state: watch::Receiver<StreamState>,
}

impl Ticker {
    async fn run(self, shutdown: CancellationToken) {
        loop {
            // Wake just after the next whole second.
            let now = unix_us();
            let wait = Duration::from_micros(1_000_000 - now % 1_000_000 + 2_000);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            let pool = self.txpool_status().await;
            let now = unix_us();
            let state = self.state.borrow().clone();
            let rolled = lock(&self.stats).roll(now);
            if let Some(mut summary) = rolled {
                summary.streaming = state.streaming;
                summary.error = state.error;
                if let Some((pending, queued)) = pool {
                    summary.pending = Some(pending);
                    summary.queued = Some(queued);
                }
                self.outbox.summary(summary);
            }
        }
    }

    /// The node's pending and queued counts, where it answers `txpool_status`.
    async fn txpool_status(&self) -> Option<(u64, u64)> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "txpool_status", "params": []});
        let (_, bytes) = post_json(
            &self.http,
            &self.rpc,
            &[],
            body.to_string().into(),
            RPC_TIMEOUT,
        )
        .await
        .ok()?;
        let answer: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let count = |key: &str| {
            let text = answer["result"][key].as_str()?;
            u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
        };
        Some((count("pending")?, count("queued")?))
    }
}

/// Fetches transactions first seen as hashes, in batches.
struct Fetcher {
    rpc: Url,
    http: HttpClient,
    stats: Arc<Mutex<ChainStats>>,
    outbox: Arc<Outbox>,
}

impl Fetcher {
    async fn run(self, mut hashes: mpsc::Receiver<(B256, u64)>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(FETCH_BATCH);
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => break,
                received = hashes.recv_many(&mut batch, FETCH_BATCH) => received,
            };
            if received == 0 {
                break;
            }
            self.fetch(&batch).await;
            batch.clear();
        }
    }

    async fn fetch(&self, batch: &[(B256, u64)]) {
        let body: Vec<_> = batch
            .iter()
            .enumerate()
            .map(|(i, (hash, _))| {
                json!({"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionByHash", "params": [hash]})
            })
            .collect();
        let answer = post_json(
            &self.http,
            &self.rpc,
            &[],
            serde_json::to_vec(&body).unwrap_or_default().into(),
            RPC_TIMEOUT,
        )
        .await;
        let replies: Vec<Reply> = match answer.map(|(_, bytes)| serde_json::from_slice(&bytes)) {
            Ok(Ok(replies)) => replies,
            Ok(Err(err)) => {
                debug!(error = %err, "bad answer to a fetch");
                Vec::new()
            }
            Err(err) => {
                debug!(error = %err, "fetch failed");
                Vec::new()
            }
        };
        let mut fetched = 0;
        for reply in replies {
            let (Some(tx), Some((_, seen_us))) = (reply.result, batch.get(reply.id)) else {
                continue;
            };
            fetched += 1;
            let taken = lock(&self.stats).fetched(&tx, *seen_us);
            hand_over(&self.outbox, taken);
        }
        // Gone from the pool before it was fetched, or the node failed.
        let missing = batch.len().saturating_sub(fetched) as u64;
        if missing > 0 {
            lock(&self.stats).dropped(missing);
        }
    }
}

#[derive(serde::Deserialize)]
struct Reply {
    id: usize,
    #[serde(default)]
    result: Option<PendingTx>,
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
