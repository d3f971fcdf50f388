//! The wire protocol between agents, coordinators and the CLI.
//!
//! Every message is one length-delimited frame: a 4-byte big-endian length,
//! then a 2-byte big-endian protocol version, then the message in bincode 2.
//! A request and its reply (or, for a subscription, its run of replies)
//! share one bidirectional QUIC stream; servers push on unidirectional
//! streams. A bad frame closes its stream with an error code and a reason;
//! the connection and the process carry on.

pub mod admin;
pub mod agent;
pub mod enroll;
mod error;
pub mod fleet;
mod frame;
mod push;
mod rpc;
mod subscription;

pub use error::{ErrorCode, WireError};
pub use frame::{
    decode_payload, encode_frame, read_frame, write_frame, FrameError, DEFAULT_MAX_FRAME,
    PROTOCOL_VERSION,
};
pub use push::{PushReceiver, PushSender};
pub use rpc::{call, serve, Handler, Reply, RpcError, RpcLimits};
pub use subscription::{subscribe, ReplySink, ReplyStream};
