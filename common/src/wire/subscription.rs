//! Subscriptions: a request answered with a run of replies on its own
//! stream, each a frame sent when the server has something to say, until
//! the server finishes the stream. A subscriber holds one stream open
//! instead of asking again after every answer (an agent's command feed).

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::frame::{decode_payload, read_frame, write_frame, FrameError};
use super::rpc::{Reply, RpcError, RpcLimits};

/// Where a handler sends the replies before its last one.
#[derive(Debug)]
pub struct ReplySink<'a, T> {
    send: &'a mut quinn::SendStream,
    max_frame: usize,
    _reply: PhantomData<fn(T)>,
}

impl<'a, T: Serialize> ReplySink<'a, T> {
    pub(super) fn new(send: &'a mut quinn::SendStream, max_frame: usize) -> Self {
        Self {
            send,
            max_frame,
            _reply: PhantomData,
        }
    }

    /// Sends one reply now; the stream stays open for more. Fails when the
    /// subscriber has gone (the stream was stopped or the connection lost).
    pub async fn send(&mut self, response: &T) -> Result<(), FrameError> {
        write_frame(self.send, &Reply::Ok(response), self.max_frame).await
    }
}

/// The subscriber's end: replies in the order they were sent.
#[derive(Debug)]
pub struct ReplyStream<T> {
    recv: quinn::RecvStream,
    limits: RpcLimits,
    _reply: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> ReplyStream<T> {
    /// The next reply, or `None` once the server has finished the stream.
    /// A reply must come within the limits' timeout; a server with nothing
    /// to say sends something before then to show it is still there.
    pub async fn next(&mut self) -> Result<Option<T>, RpcError> {
        let read = read_frame(&mut self.recv, self.limits.max_frame);
        let payload = tokio::time::timeout(self.limits.timeout, read)
            .await
            .map_err(|_| RpcError::Timeout(self.limits.timeout))??;
        let Some(payload) = payload else {
            return Ok(None);
        };
        match decode_payload::<Reply<T>>(&payload)? {
            Reply::Ok(response) => Ok(Some(response)),
            Reply::Err(err) => Err(RpcError::Remote(err)),
        }
    }
}

/// Sends `request` on a new stream of `conn` and returns the stream its
/// replies come on.
pub async fn subscribe<Req, Resp>(
    conn: &quinn::Connection,
    request: &Req,
    limits: RpcLimits,
) -> Result<ReplyStream<Resp>, RpcError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let opening = async {
        let (mut send, recv) = conn.open_bi().await?;
        write_frame(&mut send, request, limits.max_frame).await?;
        send.finish()
            .map_err(|err| RpcError::Stream(err.to_string()))?;
        Ok::<_, RpcError>(recv)
    };
    let recv = tokio::time::timeout(limits.timeout, opening)
        .await
        .map_err(|_| RpcError::Timeout(limits.timeout))??;
    Ok(ReplyStream {
        recv,
        limits,
        _reply: PhantomData,
    })
}
