//! The services a coordinator's QUIC port offers, told apart by ALPN, and
//! which certificate roles may use each.

use std::fmt;

use crate::identity::Role;

/// A service on a mevfleet QUIC port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// Raft between coordinators.
    Raft,
    /// Agents' uplink: registration, heartbeats, reports, commands.
    Agent,
    /// The admin CLI.
    Admin,
    /// Enrollment: a host without a certificate yet presents a one-time
    /// join token and a certificate request. The only service that takes
    /// clients without a certificate; the token is the credential.
    Enroll,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 4] = [
        Service::Raft,
        Service::Agent,
        Service::Admin,
        Service::Enroll,
    ];

    /// The ALPN protocol id, versioned with the wire protocol.
    pub fn alpn(self) -> &'static [u8] {
        match self {
            Service::Raft => b"mevfleet-raft/1",
            Service::Agent => b"mevfleet-agent/1",
            Service::Admin => b"mevfleet-admin/1",
            Service::Enroll => b"mevfleet-enroll/1",
        }
    }

    /// The service an ALPN id names.
    pub fn from_alpn(alpn: &[u8]) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.alpn() == alpn)
    }

    /// The roles that may connect to this service. Finer checks (a viewer
    /// may not issue commands) happen per request. Enrollment names none:
    /// its clients have no certificate yet.
    pub fn allowed_roles(self) -> &'static [Role] {
        match self {
            Service::Raft => &[Role::Coordinator],
            Service::Agent => &[Role::Agent],
            Service::Admin => &[Role::Admin, Role::Operator, Role::Viewer],
            Service::Enroll => &[],
        }
    }

    /// Whether a client needs a fleet certificate to use this service.
    pub fn needs_certificate(self) -> bool {
        !matches!(self, Service::Enroll)
    }

    /// Whether `role` may connect to this service.
    pub fn allows(self, role: Role) -> bool {
        self.allowed_roles().contains(&role)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Service::Raft => "raft",
            Service::Agent => "agent",
            Service::Admin => "admin",
            Service::Enroll => "enroll",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_reaches_only_its_services() {
        assert!(Service::Raft.allows(Role::Coordinator));
        assert!(!Service::Raft.allows(Role::Admin));
        assert!(Service::Agent.allows(Role::Agent));
        assert!(!Service::Agent.allows(Role::Viewer));
        assert!(Service::Admin.allows(Role::Viewer));
        assert!(!Service::Admin.allows(Role::Agent));
        assert!(!Service::Admin.allows(Role::Coordinator));
        for role in Role::ALL {
            assert!(!Service::Enroll.allows(role), "{role}");
        }
        assert!(!Service::Enroll.needs_certificate());
        assert!(Service::Agent.needs_certificate());
    }

    #[test]
    fn alpn_ids_round_trip() {
        for service in Service::ALL {
            assert_eq!(Service::from_alpn(service.alpn()), Some(service));
        }
        assert_eq!(Service::from_alpn(b"h3"), None);
    }
}
