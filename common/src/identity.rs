//! Who a peer is: its role in the fleet and its name, as written in its
//! certificate by the fleet CA and read back after the TLS handshake.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The DNS suffix under which identities are encoded in certificates:
/// a certificate for `host-a` with role `agent` carries the DNS name
/// `host-a.agent.mevfleet`.
pub const IDENTITY_DNS_SUFFIX: &str = "mevfleet";

/// What a certificate holder may do. Ordered from least to most powerful
/// among the human roles; `coordinator` and `agent` are machine roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A member of the coordinator cluster.
    Coordinator,
    /// A node-host agent.
    Agent,
    /// Reads fleet state.
    Viewer,
    /// Reads, runs commands, failover and maintenance.
    Operator,
    /// Everything an operator does, plus membership, policy and credentials.
    Admin,
}

impl Role {
    /// Every role, in a stable order (used in help texts and errors).
    pub const ALL: [Role; 5] = [
        Role::Coordinator,
        Role::Agent,
        Role::Admin,
        Role::Operator,
        Role::Viewer,
    ];

    /// The lowercase name used in certificates, config and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// Whether this is one of the roles a person holds (admin, operator, viewer).
    pub fn is_human(self) -> bool {
        matches!(self, Role::Viewer | Role::Operator | Role::Admin)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected one of coordinator, agent, admin, operator, viewer")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A name that cannot be used for a fleet member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid name `{name}`: {why} (use 1 to 63 characters a-z, 0-9 and '-', not starting or ending with '-')")]
pub struct InvalidName {
    /// The rejected name.
    pub name: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Checks that `name` can be a fleet member's name. Names become one DNS
/// label in the member's certificate, so they follow DNS label rules.
pub fn validate_name(name: &str) -> Result<(), InvalidName> {
    let fail = |why| {
        Err(InvalidName {
            name: name.to_owned(),
            why,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > 63 {
        return fail("it is longer than 63 characters");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return fail("it starts or ends with '-'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return fail("it has a character other than a-z, 0-9 and '-'");
    }
    Ok(())
}

/// The verified identity of the peer on the other end of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PeerIdentity {
    /// What the peer may do.
    pub role: Role,
    /// The peer's name: an agent id, a coordinator name or an operator's name.
    pub name: String,
}

impl PeerIdentity {
    /// Builds an identity after checking the name.
    pub fn new(role: Role, name: impl Into<String>) -> Result<Self, InvalidName> {
        let name = name.into();
        validate_name(&name)?;
        Ok(Self { role, name })
    }

    /// The DNS name that encodes this identity in a certificate.
    pub fn dns_name(&self) -> String {
        format!("{}.{}.{}", self.name, self.role, IDENTITY_DNS_SUFFIX)
    }

    /// Reads an identity back from a DNS name written by [`Self::dns_name`].
    /// Returns `None` for names that are not identity names.
    pub fn from_dns_name(dns: &str) -> Option<Self> {
        let rest = dns.strip_suffix(IDENTITY_DNS_SUFFIX)?.strip_suffix('.')?;
        let (name, role) = rest.rsplit_once('.')?;
        let role = role.parse().ok()?;
        PeerIdentity::new(role, name).ok()
    }
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn names_follow_dns_label_rules() {
        for good in ["host-a", "1", "eu-west-erigon-03", &"a".repeat(63)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "Host", "a.b", "a_b", "a b", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_round_trips_through_its_dns_name() {
        let id = PeerIdentity::new(Role::Agent, "host-a").expect("valid");
        assert_eq!(id.dns_name(), "host-a.agent.mevfleet");
        assert_eq!(PeerIdentity::from_dns_name(&id.dns_name()), Some(id));
        assert_eq!(PeerIdentity::from_dns_name("host-a.root.mevfleet"), None);
        assert_eq!(PeerIdentity::from_dns_name("example.com"), None);
        assert_eq!(PeerIdentity::from_dns_name("agent.mevfleet"), None);
    }
}
