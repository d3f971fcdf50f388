//! A commit index leaves this member only once its own entries up to it are
//! on disk.

use std::time::Duration;

use mevfleet_common::identity::PeerIdentity;
use mevfleet_common::tls::{FleetCa, Validity};
use openraft::{CommittedLeaderId, Vote};

use super::*;
use crate::raft::store;
use crate::raft::types::LogId;

fn coordinator_creds(dir: &std::path::Path) -> Credentials {
    let (ca, _key) = FleetCa::generate("test fleet", Validity::days(1)).expect("a CA");
    std::fs::write(dir.join("ca.pem"), ca.cert_pem()).expect("write the CA");
    let identity = PeerIdentity::new(Role::Coordinator, "c1").expect("a name");
    ca.issue(&identity, Validity::days(1))
        .expect("a certificate")
        .write_to_dir(dir, false)
        .expect("write the certificate");
    Credentials::from_dir(dir, Some("c1")).expect("load the credentials")
}

/// A network to a member whose address cannot be dialled: a call that gets
/// as far as dialling fails at once.
fn network_to_nowhere(creds: &Credentials, wal_sync: WalSync) -> PeerNetwork {
    let endpoint =
        tls::client_endpoint("127.0.0.1:0".parse().expect("an address")).expect("an endpoint");
    let peers =
        PeerClient::new(endpoint, creds, tokio::runtime::Handle::current()).expect("a peer client");
    PeerNetwork {
        peers: Arc::new(peers),
        wal_sync,
        target: 2,
        node: MemberNode {
            addr: "nowhere".into(),
        },
    }
}

fn heartbeat(leader_commit: u64) -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: Vote::new_committed(3, 1),
        prev_log_id: None,
        entries: Vec::new(),
        leader_commit: Some(LogId::new(CommittedLeaderId::new(3, 1), leader_commit)),
    }
}

fn option() -> RPCOption {
    RPCOption::new(Duration::from_secs(1))
}

#[tokio::test]
async fn a_commit_index_is_sent_only_once_it_is_durable_here() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = store::open(&dir.path().join("raft")).expect("open the store");
    let wal_sync = WalSync::start(&db).expect("start the sync thread");
    let creds = coordinator_creds(dir.path());
    let mut network = network_to_nowhere(&creds, wal_sync.clone());
    wal_sync.hold(true);
    wal_sync.written_unsynced(5, db.latest_sequence_number());

    let sent = tokio::time::timeout(
        Duration::from_secs(5),
        network.append_entries(heartbeat(4), option()),
    )
    .await
    .expect("a durable commit index goes at once");
    assert!(matches!(sent, Err(RPCError::Unreachable(_))), "{sent:?}");

    let mut waiting = network_to_nowhere(&creds, wal_sync.clone());
    let mut send =
        tokio::spawn(async move { waiting.append_entries(heartbeat(5), option()).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(150), &mut send)
            .await
            .is_err(),
        "sent a commit index not yet durable here"
    );
    wal_sync.hold(false);
    let sent = tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("sent once synced")
        .expect("the task ran");
    assert!(matches!(sent, Err(RPCError::Unreachable(_))), "{sent:?}");
}
