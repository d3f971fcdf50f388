//! The enrollment service: a host without a certificate presents a
//! one-time join token and a certificate request. The certificate is signed
//! first (so a request that cannot be served never uses a token up), then
//! the token's use is committed through Raft (so it works once, fleet-wide),
//! and only then is the certificate sent back.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use mevfleet_common::identity::{validate_name, PeerIdentity, Role};
use mevfleet_common::join_token::sha256_of_secret_hex;
use mevfleet_common::tls::{FleetCa, Validity};
use mevfleet_common::wire::enroll::{EnrollRequest, Enrolled};
use mevfleet_common::wire::{ErrorCode, Handler, WireError};
use tracing::{info, warn};

use super::admin::node_error;
use crate::node::{unix_ms, NodeCore};
use crate::state::{Actor, Command, Outcome, Proposal};

/// The fleet CA key on a coordinator that signs enrollments.
#[derive(Debug)]
pub struct Signer {
    /// The CA, with its key.
    pub ca: FleetCa,
    /// How long an enrolled agent's certificate is valid, in days.
    pub cert_days: u32,
}

/// A host on the enrollment service: it has no identity yet, only an
/// address.
#[derive(Clone, Copy, Debug)]
pub struct Enrolling(pub SocketAddr);

impl fmt::Display for Enrolling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "enrolling host at {}", self.0)
    }
}

/// Answers enrolling hosts.
#[derive(Debug)]
pub struct EnrollService {
    node_id: u64,
    core: Arc<NodeCore>,
    signer: Option<Arc<Signer>>,
}

impl EnrollService {
    /// A service over `core`, signing with `signer` when this member has
    /// the CA key.
    pub fn new(core: Arc<NodeCore>, signer: Option<Arc<Signer>>) -> Self {
        Self {
            node_id: core.node_id(),
            core,
            signer,
        }
    }

    async fn enroll(
        &self,
        peer: &Enrolling,
        request: EnrollRequest,
    ) -> Result<Enrolled, WireError> {
        let Some(signer) = &self.signer else {
            return Err(WireError::new(
                ErrorCode::UNAVAILABLE,
                format!(
                    "coordinator {} holds no CA key ([enrollment] ca_key), so it cannot sign: ask another coordinator",
                    self.node_id
                ),
            ));
        };
        validate_name(&request.agent_id).map_err(|err| WireError::bad_request(err.to_string()))?;
        let secret_sha256 = sha256_of_secret_hex(&request.secret_hex)
            .ok_or_else(|| WireError::bad_request("the token's secret is not 64 hex digits"))?;
        let identity = PeerIdentity::new(Role::Agent, &request.agent_id)
            .map_err(|err| WireError::bad_request(err.to_string()))?;
        let cert_pem = signer
            .ca
            .sign_request(
                &request.csr_pem,
                &identity,
                Validity::days(signer.cert_days),
            )
            .map_err(|err| WireError::bad_request(err.to_string()))?;
        let proposal = Proposal {
            actor: Actor::new("enrollment", peer.to_string()),
            at_ms: unix_ms(),
            command: Command::RedeemJoinToken {
                id: request.token_id.clone(),
                secret_sha256,
                agent_id: request.agent_id.clone(),
            },
        };
        match self.core.write(proposal).await.map_err(node_error)? {
            (index, Outcome::Enrolled { labels }) => {
                info!(agent.id = %request.agent_id, token = %request.token_id, remote = %peer.0, index, "agent enrolled");
                Ok(Enrolled {
                    agent_id: request.agent_id,
                    cert_pem,
                    ca_pem: signer.ca.cert_pem().to_owned(),
                    labels,
                    index,
                })
            }
            (_, Outcome::Refused(reason)) => Err(WireError::forbidden(reason)),
            (_, other) => Err(WireError::new(
                ErrorCode::INTERNAL,
                format!("using a join token gave {other:?}"),
            )),
        }
    }
}

impl Handler for EnrollService {
    type Peer = Enrolling;
    type Request = EnrollRequest;
    type Response = Enrolled;

    async fn handle(
        &self,
        peer: &Enrolling,
        request: EnrollRequest,
    ) -> Result<Enrolled, WireError> {
        let agent = request.agent_id.clone();
        let token = request.token_id.clone();
        self.enroll(peer, request).await.inspect_err(|err| {
            warn!(remote = %peer.0, agent.id = %agent, token = %token, reason = %err.reason, "enrollment refused");
        })
    }
}
