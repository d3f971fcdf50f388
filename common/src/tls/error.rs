//! The one error type of the `tls` module.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why certificates could not be issued or loaded, or an endpoint could not
/// be built. Every variant says which file or address and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file exists and overwriting was not asked for.
    #[error("{path} already exists: refusing to overwrite it (pass --force to replace it)")]
    AlreadyExists {
        /// The file that is in the way.
        path: PathBuf,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {what}")]
    BadPem {
        /// The file.
        path: PathBuf,
        /// What was expected and not found.
        what: String,
    },
    /// A certificate carries no fleet identity (`<name>.<role>.mevfleet`).
    #[error("certificate has no mevfleet identity: {0}")]
    NoIdentity(String),
    /// A certificate does not verify against the fleet CA (another CA,
    /// expired, not yet valid).
    #[error("certificate {path} is not usable with CA {ca}: {reason}")]
    NotTrusted {
        /// The certificate file.
        path: PathBuf,
        /// The CA file it was checked against.
        ca: PathBuf,
        /// What the verifier said.
        reason: String,
    },
    /// A certificate request could not be read or its signature does not
    /// verify.
    #[error("bad certificate request: {0}")]
    BadRequest(String),
    /// Issuing a certificate failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The rustls configuration was refused.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The QUIC endpoint could not be built from the TLS configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(String),
    /// The UDP port could not be bound.
    #[error("cannot bind QUIC on {addr}: {source} (is another process using it? change `listen`)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
}
