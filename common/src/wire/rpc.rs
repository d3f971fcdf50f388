//! Request/response over QUIC: one bidirectional stream per request. The
//! server side reads one frame, hands it to a [`Handler`] and writes its
//! reply (or, for a subscription, its replies); a bad frame (or bytes after
//! it) is answered with an error reply and the stream is stopped, while the
//! connection keeps serving. Each side takes the end of the other's stream
//! when it came with the frame, so a request costs no STOP_SENDING.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::frame::{
    decode_payload, read_frame, take_end_if_arrived, write_frame, FrameError, DEFAULT_MAX_FRAME,
};
use super::subscription::ReplySink;
use super::{ErrorCode, WireError};

/// A reply frame: the response, or why there is none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply<T> {
    /// The request was handled.
    Ok(T),
    /// The request was refused or failed.
    Err(WireError),
}

/// Size and time limits of one request/response exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpcLimits {
    /// The largest frame either side accepts.
    pub max_frame: usize,
    /// How long a request may take to arrive, and a reply to come back.
    pub timeout: Duration,
}

impl Default for RpcLimits {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_FRAME,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Handles the requests of one service.
pub trait Handler: Send + Sync + 'static {
    /// Who is asking: a verified certificate identity, or (for enrollment)
    /// an address without one.
    type Peer: std::fmt::Display + Send + Sync + 'static;
    /// The service's request type.
    type Request: DeserializeOwned + Send + 'static;
    /// The service's response type.
    type Response: Serialize + Send + Sync + 'static;

    /// Answers one request from `peer`.
    fn handle(
        &self,
        peer: &Self::Peer,
        request: Self::Request,
    ) -> impl Future<Output = Result<Self::Response, WireError>> + Send;

    /// Answers one request that may take more than one reply (a
    /// subscription, see [`super::subscribe`]): the replies before the last
    /// go to `replies` as they come, the last is returned, and the stream is
    /// finished after it. By default every request has one reply, from
    /// [`Handler::handle`].
    fn handle_subscription(
        &self,
        peer: &Self::Peer,
        request: Self::Request,
        replies: &mut ReplySink<'_, Self::Response>,
    ) -> impl Future<Output = Result<Self::Response, WireError>> + Send {
        let _one_reply = replies;
        self.handle(peer, request)
    }
}

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The connection is gone; reconnect (to another member if need be).
    #[error("connection lost: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// The stream failed (reset or stopped by the peer).
    #[error("stream failed: {0}")]
    Stream(String),
    /// A frame could not be written, read or decoded.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The peer answered with an error.
    #[error("{0}")]
    Remote(WireError),
    /// No reply within the limit.
    #[error("no reply within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The stream ended without a reply.
    #[error("the peer closed the stream without a reply")]
    NoReply,
}

/// Sends `request` on a new stream of `conn` and waits for the reply.
pub async fn call<Req, Resp>(
    conn: &quinn::Connection,
    request: &Req,
    limits: RpcLimits,
) -> Result<Resp, RpcError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        write_frame(&mut send, request, limits.max_frame).await?;
        send.finish()
            .map_err(|err| RpcError::Stream(err.to_string()))?;
        let payload = read_frame(&mut recv, limits.max_frame)
            .await?
            .ok_or(RpcError::NoReply)?;
        // The end came with the reply: taking it saves a STOP_SENDING. More
        // replies (a subscription asked for by a call) are not read; the
        // stream is stopped when dropped, as a call wants one reply.
        let _more_replies = take_end_if_arrived(&mut recv);
        match decode_payload::<Reply<Resp>>(&payload)? {
            Reply::Ok(response) => Ok(response),
            Reply::Err(err) => Err(RpcError::Remote(err)),
        }
    };
    tokio::time::timeout(limits.timeout, exchange)
        .await
        .map_err(|_| RpcError::Timeout(limits.timeout))?
}

/// Serves `handler` on every bidirectional stream `peer` opens on `conn`,
/// until the connection closes or `shutdown` is cancelled (then the
/// connection is closed with [`ErrorCode::UNAVAILABLE`]).
pub async fn serve<H: Handler>(
    conn: quinn::Connection,
    peer: H::Peer,
    handler: Arc<H>,
    limits: RpcLimits,
    shutdown: CancellationToken,
) {
    let peer = Arc::new(peer);
    let mut streams = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                conn.close(ErrorCode::UNAVAILABLE.varint(), b"shutting down");
                break;
            }
            Some(_finished) = streams.join_next(), if !streams.is_empty() => {}
            accepted = conn.accept_bi() => match accepted {
                Ok((send, recv)) => {
                    streams.spawn(answer(send, recv, peer.clone(), handler.clone(), limits));
                }
                Err(err) => {
                    debug!(peer = %peer, reason = %err, "connection ended");
                    break;
                }
            },
        }
    }
}

async fn answer<H: Handler>(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    peer: Arc<H::Peer>,
    handler: Arc<H>,
    limits: RpcLimits,
) {
    let request =
        match tokio::time::timeout(limits.timeout, read_frame(&mut recv, limits.max_frame)).await {
            Err(_) => Err(WireError::new(
                ErrorCode::TIMEOUT,
                format!("no whole request within {} ms", limits.timeout.as_millis()),
            )),
            Ok(Ok(None)) => Err(WireError::new(
                ErrorCode::MALFORMED,
                "the stream ended before a request",
            )),
            Ok(Ok(Some(payload))) => take_end_if_arrived(&mut recv)
                .and_then(|_| decode_payload::<H::Request>(&payload))
                .map_err(WireError::from),
            Ok(Err(err)) => Err(WireError::from(err)),
        };
    let reply = match request {
        Ok(request) => match handler
            .handle_subscription(
                &peer,
                request,
                &mut ReplySink::new(&mut send, limits.max_frame),
            )
            .await
        {
            Ok(response) => Reply::Ok(response),
            Err(err) => Reply::Err(err),
        },
        Err(err) => {
            warn!(peer = %*peer, code = %err.code, reason = %err.reason, "bad request frame; closing the stream");
            let _already_closed = recv.stop(err.code.varint());
            Reply::Err(err)
        }
    };
    if let Err(err) = send_reply(&mut send, &reply, limits.max_frame).await {
        debug!(peer = %*peer, reason = %err, "could not send the reply");
    }
}

async fn send_reply<T: Serialize>(
    send: &mut quinn::SendStream,
    reply: &Reply<T>,
    max_frame: usize,
) -> Result<(), FrameError> {
    match write_frame(send, reply, max_frame).await {
        Err(FrameError::Encode(reason)) => {
            let fallback: Reply<()> = Reply::Err(WireError::new(ErrorCode::INTERNAL, reason));
            write_frame(send, &fallback, max_frame).await?;
        }
        other => other?,
    }
    send.finish()
        .map_err(|err| FrameError::Io(std::io::Error::other(err.to_string())))
}
