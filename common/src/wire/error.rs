//! Error codes and errors carried on the wire (in replies, stream stops and
//! connection closes).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A stable numeric error code. Codes a peer does not know are shown by
/// number, so newer peers can add codes without breaking older ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ErrorCode(pub u32);

impl ErrorCode {
    /// The frame could not be decoded as the expected message.
    pub const MALFORMED: ErrorCode = ErrorCode(1);
    /// The frame is larger than the receiver's limit.
    pub const FRAME_TOO_LARGE: ErrorCode = ErrorCode(2);
    /// The frame's protocol version is not one the receiver speaks.
    pub const WRONG_VERSION: ErrorCode = ErrorCode(3);
    /// The peer's role may not do this.
    pub const FORBIDDEN: ErrorCode = ErrorCode(4);
    /// The receiver failed while handling a valid request.
    pub const INTERNAL: ErrorCode = ErrorCode(5);
    /// The request did not arrive, or was not answered, in time.
    pub const TIMEOUT: ErrorCode = ErrorCode(6);
    /// The receiver is shutting down or not ready; try another member.
    pub const UNAVAILABLE: ErrorCode = ErrorCode(7);
    /// The request is well-formed but its content is invalid.
    pub const BAD_REQUEST: ErrorCode = ErrorCode(8);

    /// The code's name, or `None` for a code this build does not know.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            ErrorCode::MALFORMED => "malformed",
            ErrorCode::FRAME_TOO_LARGE => "frame_too_large",
            ErrorCode::WRONG_VERSION => "wrong_version",
            ErrorCode::FORBIDDEN => "forbidden",
            ErrorCode::INTERNAL => "internal",
            ErrorCode::TIMEOUT => "timeout",
            ErrorCode::UNAVAILABLE => "unavailable",
            ErrorCode::BAD_REQUEST => "bad_request",
            _ => return None,
        })
    }

    /// The code as a QUIC application error code (stream stop, close).
    pub fn varint(self) -> quinn::VarInt {
        quinn::VarInt::from_u32(self.0)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "error {}", self.0),
        }
    }
}

/// An error answered by the other side: a code and a reason a person can act on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct WireError {
    /// What kind of error.
    pub code: ErrorCode,
    /// Why, in words.
    pub reason: String,
}

impl WireError {
    /// An error with `code` and `reason`.
    pub fn new(code: ErrorCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// The peer's role may not do this.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::FORBIDDEN, reason)
    }

    /// The request's content is invalid.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(ErrorCode::BAD_REQUEST, reason)
    }
}
