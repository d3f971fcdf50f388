//! `host:port` addresses as written in config and on the command line, and
//! their resolution to socket addresses.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address written as `host:port` (`10.0.0.5:7000`, `coord-1.internal:7000`,
/// `[::1]:7000`). The host is resolved when a connection is made, so DNS
/// changes are followed without a restart.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    host: String,
    port: u16,
}

/// Why a `host:port` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid address `{input}`: {why} (expected host:port, e.g. 10.0.0.5:7000)")]
pub struct InvalidHostPort {
    /// The text that was given.
    pub input: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl HostPort {
    /// The host part, without brackets for IPv6.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Resolves the address (DNS where the host is a name).
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect())
    }
}

impl FromStr for HostPort {
    type Err = InvalidHostPort;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |why| InvalidHostPort {
            input: input.to_owned(),
            why,
        };
        if let Ok(addr) = input.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err(fail("port 0 is not a reachable port"));
            }
            return Ok(HostPort {
                host: addr.ip().to_string(),
                port: addr.port(),
            });
        }
        let (host, port) = input.rsplit_once(':').ok_or_else(|| fail("no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| fail("the port is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(fail("port 0 is not a reachable port"));
        }
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !host_ok {
            return Err(fail("the host is not an IP address or a DNS name"));
        }
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> Self {
        HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a comma-separated list of `host:port` addresses, as given to
/// `--coordinators` or `MEVFLEET_COORDINATORS`.
pub fn parse_host_port_list(input: &str) -> Result<Vec<HostPort>, InvalidHostPort> {
    input
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ips_names_and_bracketed_ipv6() {
        let cases = [
            ("10.0.0.5:7000", "10.0.0.5", 7000),
            ("coord-1.internal:7000", "coord-1.internal", 7000),
            ("[::1]:7000", "::1", 7000),
            ("localhost:1", "localhost", 1),
        ];
        for (input, host, port) in cases {
            let parsed: HostPort = input.parse().expect(input);
            assert_eq!((parsed.host(), parsed.port()), (host, port), "{input}");
            assert_eq!(parsed.to_string(), input);
        }
    }

    #[test]
    fn refuses_what_is_not_host_port() {
        for bad in [
            "",
            "7000",
            "host",
            "host:",
            ":7000",
            "host:0",
            "host:70000",
            "a b:1",
            "h/x:1",
        ] {
            let err = bad.parse::<HostPort>().expect_err(bad);
            assert!(err.to_string().contains("expected host:port"), "{err}");
        }
    }

    #[test]
    fn parses_comma_separated_lists() {
        let list = parse_host_port_list("a:1, b:2,,c:3").expect("valid");
        assert_eq!(list.len(), 3);
        assert!(parse_host_port_list("a:1,b").is_err());
    }
}
