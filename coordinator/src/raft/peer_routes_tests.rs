//! The route to a peer: one search for its Raft port at a time, and a
//! failed search leaves the public port in use until the retry time.

use super::*;

#[test]
fn a_search_starts_once_until_it_ends() {
    let routes = PeerRoutes::default();
    let now = Instant::now();
    assert!(routes.start_finding("10.0.0.2:7400", now));
    assert!(
        !routes.start_finding("10.0.0.2:7400", now),
        "a second search while the first runs"
    );
    assert!(
        routes.start_finding("10.0.0.3:7400", now),
        "each peer has its own search"
    );
    assert!(routes.raft_port("10.0.0.2:7400").is_none());
    assert!(routes.on_raft_port().is_empty());
}

#[test]
fn a_failed_search_keeps_the_public_port_until_the_retry_time() {
    let routes = PeerRoutes::default();
    let now = Instant::now();
    assert!(routes.start_finding("10.0.0.2:7400", now));
    routes.found("10.0.0.2:7400", None, now);
    assert!(routes.raft_port("10.0.0.2:7400").is_none());
    assert!(!routes.start_finding("10.0.0.2:7400", now));
    assert!(!routes.start_finding(
        "10.0.0.2:7400",
        now + RETRY_RAFT_PORT - Duration::from_millis(1)
    ));
    assert!(
        routes.start_finding("10.0.0.2:7400", now + RETRY_RAFT_PORT),
        "asked again once the retry time has come"
    );
}
