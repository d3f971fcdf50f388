//! Server push: a stream of frames on a unidirectional QUIC stream. A bad
//! frame stops that stream with an error code; the connection carries on.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::warn;

use super::frame::{decode_payload, read_frame, write_frame, FrameError};
use super::RpcError;

/// The sending end of a push stream.
#[derive(Debug)]
pub struct PushSender<T> {
    stream: quinn::SendStream,
    max_frame: usize,
    _message: PhantomData<fn(T)>,
}

impl<T: Serialize> PushSender<T> {
    /// Opens a push stream on `conn`.
    pub async fn open(conn: &quinn::Connection, max_frame: usize) -> Result<Self, RpcError> {
        Ok(Self {
            stream: conn.open_uni().await?,
            max_frame,
            _message: PhantomData,
        })
    }

    /// Sends one message.
    pub async fn send(&mut self, message: &T) -> Result<(), RpcError> {
        write_frame(&mut self.stream, message, self.max_frame).await?;
        Ok(())
    }

    /// Ends the stream cleanly.
    pub fn finish(mut self) -> Result<(), RpcError> {
        self.stream
            .finish()
            .map_err(|err| RpcError::Stream(err.to_string()))
    }
}

/// The receiving end of a push stream.
#[derive(Debug)]
pub struct PushReceiver<T> {
    stream: Option<quinn::RecvStream>,
    max_frame: usize,
    _message: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> PushReceiver<T> {
    /// Waits for the peer to open a push stream on `conn`.
    pub async fn accept(conn: &quinn::Connection, max_frame: usize) -> Result<Self, RpcError> {
        Ok(Self {
            stream: Some(conn.accept_uni().await?),
            max_frame,
            _message: PhantomData,
        })
    }

    /// The next message; `None` once the stream has ended. After a bad
    /// frame the error is returned once, the stream is stopped with the
    /// error's code, and every later call returns `None`.
    pub async fn next(&mut self) -> Option<Result<T, FrameError>> {
        let stream = self.stream.as_mut()?;
        let result = match read_frame(stream, self.max_frame).await {
            Ok(None) => {
                self.stream = None;
                return None;
            }
            Ok(Some(payload)) => decode_payload::<T>(&payload),
            Err(err) => Err(err),
        };
        if let Err(err) = &result {
            warn!(code = %err.code(), reason = %err, "bad push frame; stopping the stream");
            if let Some(mut stream) = self.stream.take() {
                let _already_closed = stream.stop(err.code().varint());
            }
        }
        Some(result)
    }
}
