//! Picking loopback ports for processes that will bind them later (`mevfleet
//! dev`, the test harness). A port the kernel hands out for `bind(0)` lies
//! in its ephemeral range, where any outgoing connection may take it before
//! the listener binds it. These ports come from just below that range
//! instead, free for both TCP and UDP when picked.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use rand::Rng;

/// The kernel's ephemeral range on Linux, or its default where unknown.
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768)
}

fn free_both(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpListener::bind(addr).is_ok() && UdpSocket::bind(addr).is_ok()
}

/// A loopback address whose port is free for TCP and UDP now, below the
/// ephemeral range where possible (else any free port).
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    let end = ephemeral_start();
    let start = end.saturating_sub(12_000).max(1024);
    if start < end {
        let mut rng = rand::thread_rng();
        for _ in 0..256 {
            let port = rng.gen_range(start..end);
            if free_both(port) {
                return Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            }
        }
    }
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_picked_port_is_below_the_ephemeral_range_and_bindable() -> std::io::Result<()> {
        let addr = free_loopback_addr()?;
        assert!(addr.ip().is_loopback());
        assert!(addr.port() < ephemeral_start(), "{addr}");
        TcpListener::bind(addr)?;
        UdpSocket::bind(addr)?;
        Ok(())
    }
}
