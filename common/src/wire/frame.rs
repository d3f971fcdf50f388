//! Length-delimited, versioned bincode frames: encoding, decoding and reading
//! them from a stream without ever allocating more than the frame limit.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

use super::{ErrorCode, WireError};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// The default limit on one frame's size (version and body), in bytes.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

const LENGTH_BYTES: usize = 4;
const VERSION_BYTES: usize = 2;

/// The most bytes bincode may claim (allocate) while decoding one frame;
/// a declared collection length past this is malformed, not an allocation.
const DECODE_LIMIT: usize = 16 << 20;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// Why a frame could not be read, decoded or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The declared length is over the receiver's limit; nothing was read.
    #[error("frame of {size} bytes is over the limit of {max} bytes")]
    TooLarge {
        /// The declared size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The frame is of another protocol version.
    #[error("frame has protocol version {got}; this side speaks version {PROTOCOL_VERSION}")]
    WrongVersion {
        /// The version found.
        got: u16,
    },
    /// The frame's body is not a valid message of the expected type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The stream ended in the middle of a frame.
    #[error("the stream ended inside a frame")]
    Truncated,
    /// Reading or writing the stream failed.
    #[error("stream I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The message could not be encoded (or is over the limit once encoded).
    #[error("cannot encode message: {0}")]
    Encode(String),
}

impl FrameError {
    /// The code this error is answered with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::TooLarge { .. } => ErrorCode::FRAME_TOO_LARGE,
            FrameError::WrongVersion { .. } => ErrorCode::WRONG_VERSION,
            FrameError::Malformed(_) | FrameError::Truncated => ErrorCode::MALFORMED,
            FrameError::Io(_) | FrameError::Encode(_) => ErrorCode::INTERNAL,
        }
    }
}

impl From<FrameError> for WireError {
    fn from(err: FrameError) -> Self {
        WireError::new(err.code(), err.to_string())
    }
}

/// Encodes `message` as one whole frame (length, version, body).
pub fn encode_frame<T: Serialize>(message: &T, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut frame = vec![0u8; LENGTH_BYTES];
    frame.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    bincode::serde::encode_into_std_write(message, &mut frame, bincode_config())
        .map_err(|err| FrameError::Encode(err.to_string()))?;
    let size = frame.len() - LENGTH_BYTES;
    if size > max {
        return Err(FrameError::Encode(format!(
            "message of {size} bytes is over the frame limit of {max} bytes"
        )));
    }
    let size = u32::try_from(size).map_err(|_| FrameError::Encode("message too large".into()))?;
    frame[..LENGTH_BYTES].copy_from_slice(&size.to_be_bytes());
    Ok(frame)
}

/// Decodes a frame's payload (version and body, without the length).
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    if payload.len() < VERSION_BYTES {
        return Err(FrameError::Malformed(format!(
            "{} bytes is too short for a frame header",
            payload.len()
        )));
    }
    let (version, body) = payload.split_at(VERSION_BYTES);
    let version = u16::from_be_bytes([version[0], version[1]]);
    if version != PROTOCOL_VERSION {
        return Err(FrameError::WrongVersion { got: version });
    }
    let (message, used) = bincode::serde::decode_from_slice(body, bincode_config())
        .map_err(|err| FrameError::Malformed(err.to_string()))?;
    if used != body.len() {
        return Err(FrameError::Malformed(format!(
            "{} trailing bytes after the message",
            body.len() - used
        )));
    }
    Ok(message)
}

/// Reads one frame's payload. Returns `None` when the stream ends cleanly
/// before a new frame. A length over `max` fails before anything is read or
/// allocated.
pub async fn read_frame<R>(reader: &mut R, max: usize) -> Result<Option<Vec<u8>>, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut length = [0u8; LENGTH_BYTES];
    let mut filled = 0;
    while filled < LENGTH_BYTES {
        let read = reader.read(&mut length[filled..]).await?;
        if read == 0 {
            return if filled == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        filled += read;
    }
    let size = u32::from_be_bytes(length) as usize;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    let mut payload = vec![0u8; size];
    reader
        .read_exact(&mut payload)
        .await
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::UnexpectedEof => FrameError::Truncated,
            _ => FrameError::Io(err),
        })?;
    Ok(Some(payload))
}

/// Takes the end of a one-frame stream whose frame has been read, if the
/// end has already arrived; never waits. Returns whether it was taken.
///
/// On QUIC this saves packets: a receive stream dropped before its end was
/// read sends the peer a STOP_SENDING, even when the end came in the same
/// packet as the frame, and that is one more packet (and acknowledgement)
/// for every request and every reply. Bytes after the frame are an error;
/// a stream that failed after its frame is left as it is.
pub fn take_end_if_arrived<R>(reader: &mut R) -> Result<bool, FrameError>
where
    R: AsyncRead + Unpin,
{
    let mut byte = [0u8; 1];
    let mut buf = ReadBuf::new(&mut byte);
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(reader).poll_read(&mut cx, &mut buf) {
        Poll::Ready(Ok(())) if buf.filled().is_empty() => Ok(true),
        Poll::Ready(Ok(())) => Err(FrameError::Malformed(
            "bytes after the frame: a request or reply stream carries one frame".into(),
        )),
        Poll::Ready(Err(_)) | Poll::Pending => Ok(false),
    }
}

/// Encodes and writes one frame.
pub async fn write_frame<W, T>(writer: &mut W, message: &T, max: usize) -> Result<(), FrameError>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let frame = encode_frame(message, max)?;
    writer.write_all(&frame).await?;
    Ok(())
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
