//! t10 transport: mutual TLS with fleet certificates, role checks per
//! service, bad frames answered on a live connection, push streams,
//! subscriptions (and a server that predates one), and the agent uplink's
//! reconnect.

use std::time::Duration;

use mevfleet_agent::report::Sources;
use mevfleet_agent::spool::Spool;
use mevfleet_agent::uplink::{self, UplinkInputs, UplinkSettings, UplinkState};
use mevfleet_common::identity::Role;
use mevfleet_common::join_token::ca_fingerprint;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::tls::{
    self, Credentials, Service, TransportSettings, Validity, CLOSE_FORBIDDEN,
};
use mevfleet_common::wire::admin::{AdminRequest, AdminResponse};
use mevfleet_common::wire::agent::{AgentRequest, AgentResponse, Hello};
use mevfleet_common::wire::enroll::{EnrollRequest, Enrolled};
use mevfleet_common::wire::{
    call, decode_payload, read_frame, serve, subscribe, ErrorCode, Handler, PushReceiver,
    PushSender, Reply, ReplySink, RpcError, RpcLimits, WireError, DEFAULT_MAX_FRAME,
};
use mevfleet_coordinator::server::{CoordinatorServer, ServerError};
use mevfleet_tests::{
    dial, dial_as, init_logs, wait_until, TestCluster, TestPki, DEFAULT_DEADLINE, LOCALHOST,
};

/// A client refused by the server: in TLS 1.3 the client may finish its side
/// of the handshake before the server has judged its certificate, so a
/// refusal is either a failed dial or a connection the server closes at once
/// with a TLS error. Returns the reason.
async fn refused_by_server(
    dialled: Result<(quinn::Connection, quinn::Endpoint), String>,
) -> anyhow::Result<String> {
    match dialled {
        Err(reason) => Ok(reason),
        Ok((conn, _endpoint)) => {
            let closed = tokio::time::timeout(DEFAULT_DEADLINE, conn.closed())
                .await
                .map_err(|_| {
                    anyhow::anyhow!("the server kept a connection it should have refused")
                })?;
            assert!(
                matches!(
                    closed,
                    quinn::ConnectionError::TransportError(_)
                        | quinn::ConnectionError::ConnectionClosed(_)
                ),
                "expected a TLS refusal, got {closed}"
            );
            Ok(closed.to_string())
        }
    }
}

async fn ping(conn: &quinn::Connection) -> Result<AdminResponse, RpcError> {
    call::<_, AdminResponse>(conn, &AdminRequest::Ping, RpcLimits::default()).await
}

#[tokio::test]
async fn an_operator_pings_a_coordinator_over_mutual_tls() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let coordinator_addr = cluster.addr(1)?;

    // --- an operator asks who answers
    let (conn, _endpoint) = dial_as(
        pki,
        Role::Operator,
        "alice",
        coordinator_addr,
        Service::Admin,
    )
    .await?;
    let AdminResponse::Pong(info) = ping(&conn).await? else {
        panic!("ping answers with a pong");
    };

    // --- both sides saw the identities written in the certificates
    assert_eq!(info.node_id, 1);
    assert_eq!(info.server.to_string(), "coordinator coord-1");
    assert_eq!(info.you.to_string(), "operator alice");
    assert_eq!(
        tls::peer_identity(&conn)?.to_string(),
        "coordinator coord-1"
    );
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn an_agent_is_welcomed_only_under_its_own_name() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let coordinator_addr = cluster.addr(1)?;
    let (conn, _endpoint) =
        dial_as(pki, Role::Agent, "host-a", coordinator_addr, Service::Agent).await?;
    let hello = |id: &str| {
        AgentRequest::Hello(Hello {
            agent_id: id.into(),
            version: "test".into(),
            labels: Default::default(),
            chains: vec!["ethereum".into()],
            executes: Vec::new(),
            lost: None,
        })
    };

    // --- its own name is welcome
    let AgentResponse::Welcome(welcome) =
        call::<_, AgentResponse>(&conn, &hello("host-a"), RpcLimits::default()).await?
    else {
        anyhow::bail!("a single-member cluster leads, so it welcomes");
    };
    assert_eq!(welcome.server.you.to_string(), "agent host-a");

    // --- another host's name is refused, and the reason names both
    let err = call::<_, AgentResponse>(&conn, &hello("host-b"), RpcLimits::default())
        .await
        .expect_err("host-a may not speak for host-b");
    let RpcError::Remote(remote) = err else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(remote.code, ErrorCode::FORBIDDEN);
    assert!(
        remote.reason.contains("host-b") && remote.reason.contains("host-a"),
        "{}",
        remote.reason
    );
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_both_ways() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let coordinator_addr = cluster.addr(1)?;
    let mut rogue_cluster = TestCluster::start(1).await?;
    let rogue = rogue_cluster.pki();

    // --- a client with a certificate from another CA is refused in the handshake
    let reason = refused_by_server(
        dial(
            &rogue.creds(Role::Admin, "mallory")?,
            coordinator_addr,
            Service::Admin,
        )
        .await,
    )
    .await?;
    assert!(!reason.is_empty());

    // --- a server with a certificate from another CA is refused by our client
    let rogue_addr = rogue_cluster.addr(1)?;
    let err = dial(&pki.creds(Role::Admin, "root")?, rogue_addr, Service::Admin)
        .await
        .expect_err("rogue server refused");
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"),
        "{err}"
    );

    // --- the real coordinator still serves a legitimate client
    let (conn, _endpoint) =
        dial_as(pki, Role::Viewer, "bob", coordinator_addr, Service::Admin).await?;
    ping(&conn).await?;
    rogue_cluster.stop_all().await?;
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn an_expired_certificate_is_refused() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let coordinator_addr = cluster.addr(1)?;
    let past = Validity::days(1);
    let expired = Validity {
        not_before: past.not_before - Duration::from_secs(10 * 86_400),
        not_after: past.not_before - Duration::from_secs(86_400),
    };
    let dir = pki.issue_dir_with(Role::Operator, "stale", expired)?;

    // --- loading it already says it is expired
    let err = Credentials::from_dir(&dir, Some("stale")).expect_err("expired credentials refused");
    assert!(err.to_string().to_lowercase().contains("expired"), "{err}");

    // --- a client whose certificate expires while it holds it is refused by
    //     the server: load it while valid, wait until it has expired, dial
    let short = Validity {
        not_before: past.not_before,
        not_after: time::OffsetDateTime::now_utc() + Duration::from_secs(2),
    };
    let dir = pki.issue_dir_with(Role::Operator, "brief", short)?;
    let creds = Credentials::from_dir(&dir, Some("brief"))?;
    wait_until("the certificate to expire", DEFAULT_DEADLINE, || async {
        (time::OffsetDateTime::now_utc() > short.not_after + Duration::from_secs(1)).then_some(())
    })
    .await?;
    let reason = refused_by_server(dial(&creds, coordinator_addr, Service::Admin).await).await?;
    assert!(!reason.is_empty());
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn a_role_is_refused_on_a_service_it_may_not_use() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let coordinator_addr = cluster.addr(1)?;

    // --- a viewer on the agent service: closed as forbidden, with the reason
    for (role, name, service, reason) in [
        (
            Role::Viewer,
            "bob",
            Service::Agent,
            "role viewer may not use the agent service",
        ),
        (
            Role::Agent,
            "host-a",
            Service::Admin,
            "role agent may not use the admin service",
        ),
        (
            Role::Coordinator,
            "coord-2",
            Service::Admin,
            "role coordinator may not use the admin service",
        ),
        (
            Role::Admin,
            "root",
            Service::Raft,
            "role admin may not use the raft service",
        ),
    ] {
        let (conn, _endpoint) = dial(&pki.creds(role, name)?, coordinator_addr, service)
            .await
            .map_err(anyhow::Error::msg)?;
        let closed = tokio::time::timeout(DEFAULT_DEADLINE, conn.closed()).await?;
        let quinn::ConnectionError::ApplicationClosed(close) = closed else {
            panic!("expected an application close, got {closed}");
        };
        assert_eq!(close.error_code, quinn::VarInt::from_u32(CLOSE_FORBIDDEN));
        assert_eq!(String::from_utf8_lossy(&close.reason), reason);
    }

    // --- a client expecting a coordinator refuses a server holding an agent certificate
    let agent_creds = pki.creds(Role::Agent, "host-z")?;
    let impostor = tls::server_endpoint(
        LOCALHOST,
        &agent_creds,
        &[Service::Admin],
        TransportSettings::default(),
    )?;
    let impostor_addr = impostor.local_addr()?;
    let accept = tokio::spawn(async move {
        if let Some(incoming) = impostor.accept().await {
            let _refused = incoming.await;
        }
    });
    let err = dial(
        &pki.creds(Role::Admin, "root")?,
        impostor_addr,
        Service::Admin,
    )
    .await
    .expect_err("an agent posing as a coordinator is refused");
    assert!(!err.is_empty());
    accept.abort();

    // --- and a coordinator cannot start with an agent certificate
    let err = CoordinatorServer::bind(LOCALHOST, &agent_creds, TransportSettings::default())
        .expect_err("wrong role");
    assert!(matches!(err, ServerError::WrongRole(_)), "{err}");
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn a_client_without_a_certificate_may_only_enroll() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let addr = cluster.addr(1)?;
    let fingerprint = ca_fingerprint(pki.ca_der()?.as_ref());
    let anonymous =
        |service| tls::anonymous_client_config(fingerprint, service, TransportSettings::default());

    // --- without a certificate, every member service closes the connection
    // with the reason
    for service in [Service::Admin, Service::Agent, Service::Raft] {
        let endpoint = tls::client_endpoint(addr)?;
        let conn = tls::connect(&endpoint, anonymous(service)?, addr, DEFAULT_DEADLINE)
            .await
            .map_err(anyhow::Error::msg)?;
        let closed = tokio::time::timeout(DEFAULT_DEADLINE, conn.closed()).await?;
        let quinn::ConnectionError::ApplicationClosed(close) = closed else {
            panic!("{service}: expected an application close, got {closed}");
        };
        assert_eq!(close.error_code, quinn::VarInt::from_u32(CLOSE_FORBIDDEN));
        let reason = String::from_utf8_lossy(&close.reason);
        assert!(
            reason.contains(&format!("the {service} service needs a client certificate")),
            "{reason}"
        );
    }

    // --- enrollment answers, and a garbled request is refused by name
    let endpoint = tls::client_endpoint(addr)?;
    let conn = tls::connect(
        &endpoint,
        anonymous(Service::Enroll)?,
        addr,
        DEFAULT_DEADLINE,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let request = EnrollRequest {
        token_id: "0011223344556677".into(),
        secret_hex: "00".repeat(32),
        agent_id: "host-a".into(),
        csr_pem: "not a request".into(),
    };
    let err = call::<_, Enrolled>(&conn, &request, RpcLimits::default())
        .await
        .expect_err("refused");
    let RpcError::Remote(err) = err else {
        panic!("expected a refusal, got {err}");
    };
    assert_eq!(err.code, ErrorCode::BAD_REQUEST);
    assert!(err.reason.contains("certificate request"), "{}", err.reason);

    // --- a pin on another CA's fingerprint refuses this coordinator
    let wrong =
        tls::anonymous_client_config([9u8; 32], Service::Enroll, TransportSettings::default())?;
    let endpoint = tls::client_endpoint(addr)?;
    let err = tls::connect(&endpoint, wrong, addr, DEFAULT_DEADLINE)
        .await
        .expect_err("pinned to another CA");
    assert!(err.contains("fingerprint"), "{err}");
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn a_garbage_frame_gets_an_error_and_the_connection_keeps_serving() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let pki = cluster.pki();
    let coordinator_addr = cluster.addr(1)?;
    let (conn, _endpoint) = dial_as(
        pki,
        Role::Operator,
        "alice",
        coordinator_addr,
        Service::Admin,
    )
    .await?;
    let cases: [(&[u8], ErrorCode, &str); 4] = [
        (
            &[0, 0, 0, 6, 0, 1, 0xff, 0xff, 0xff, 0xff],
            ErrorCode::MALFORMED,
            "malformed frame",
        ),
        (
            &[0, 0, 0, 3, 0, 9, 0],
            ErrorCode::WRONG_VERSION,
            "protocol version 9",
        ),
        (
            &[0xff, 0xff, 0xff, 0xff],
            ErrorCode::FRAME_TOO_LARGE,
            "over the limit",
        ),
        (
            &[0, 0, 0, 10, 0, 1],
            ErrorCode::MALFORMED,
            "ended inside a frame",
        ),
    ];
    for (bytes, code, reason) in cases {
        // --- send the bad bytes on a fresh stream of the same connection
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(bytes).await?;
        send.finish()?;
        let payload = read_frame(&mut recv, DEFAULT_MAX_FRAME)
            .await?
            .expect("the server answers a bad frame");
        let Reply::<AdminResponse>::Err(err) = decode_payload(&payload)? else {
            panic!("expected an error reply for {bytes:?}");
        };
        assert_eq!(err.code, code, "{bytes:?}: {}", err.reason);
        assert!(err.reason.contains(reason), "{bytes:?}: {}", err.reason);

        // --- the connection still serves good requests
        ping(&conn).await?;
    }
    cluster.stop_all().await?;
    Ok(())
}

#[tokio::test]
async fn push_streams_deliver_in_order_and_a_bad_frame_stops_only_that_stream() -> anyhow::Result<()>
{
    init_logs();
    let (conn, server_conn, _endpoint) = connected_pair().await?;

    // --- the server pushes three messages on one stream
    let mut push = PushSender::<u64>::open(&server_conn, DEFAULT_MAX_FRAME).await?;
    for n in [1u64, 2, 3] {
        push.send(&n).await?;
    }
    push.finish()?;
    let mut received = PushReceiver::<u64>::accept(&conn, DEFAULT_MAX_FRAME).await?;
    let mut got = Vec::new();
    while let Some(message) = received.next().await {
        got.push(message?);
    }
    assert_eq!(got, vec![1, 2, 3]);

    // --- a garbage push is refused on its stream only
    let mut garbage = conn.open_uni().await?;
    garbage.write_all(&[0, 0, 0, 2, 0, 7]).await?;
    garbage.finish()?;
    let mut bad = PushReceiver::<u64>::accept(&server_conn, DEFAULT_MAX_FRAME).await?;
    let err = bad
        .next()
        .await
        .expect("one result")
        .expect_err("wrong version");
    assert_eq!(err.code(), ErrorCode::WRONG_VERSION);
    assert!(bad.next().await.is_none());

    // --- the connection carries on with a new push stream
    let mut again = PushSender::<u64>::open(&conn, DEFAULT_MAX_FRAME).await?;
    again.send(&42).await?;
    again.finish()?;
    let mut good = PushReceiver::<u64>::accept(&server_conn, DEFAULT_MAX_FRAME).await?;
    assert_eq!(good.next().await.transpose()?, Some(42));
    Ok(())
}

#[tokio::test]
async fn the_agent_uplink_reconnects_after_a_coordinator_restart() -> anyhow::Result<()> {
    init_logs();
    let mut cluster = TestCluster::start(1).await?;
    let addr = cluster.addr(1)?;

    // --- the agent connects and is welcomed
    let agent_shutdown = Shutdown::new();
    let spool_dir = tempfile::tempdir()?;
    let hello = Hello {
        agent_id: "host-a".into(),
        version: "test".into(),
        labels: Default::default(),
        chains: Vec::new(),
        executes: Vec::new(),
        lost: None,
    };
    let handle = uplink::spawn(
        UplinkSettings::new(hello, vec![addr.into()]),
        idle_inputs(spool_dir.path(), &agent_shutdown)?,
        &cluster.pki().creds(Role::Agent, "host-a")?,
        &agent_shutdown,
    )?;
    let mut state = handle.state();
    let connected =
        |s: &UplinkState| matches!(s, UplinkState::Connected { server, .. } if server.node_id == 1);
    tokio::time::timeout(DEFAULT_DEADLINE, state.wait_for(connected)).await??;

    // --- the coordinator goes away: the agent notices and keeps trying
    cluster.stop(1).await?;
    tokio::time::timeout(
        DEFAULT_DEADLINE,
        state.wait_for(|s| matches!(s, UplinkState::Connecting { .. })),
    )
    .await??;

    // --- the coordinator comes back on the same address: the agent reconnects
    cluster.restart(1).await?;
    tokio::time::timeout(DEFAULT_DEADLINE, state.wait_for(connected)).await??;

    // --- the agent stops cleanly
    agent_shutdown.cancel();
    assert!(agent_shutdown.wait(Duration::from_secs(10)).await);
    assert!(!agent_shutdown.has_failed());
    assert_eq!(*state.borrow(), UplinkState::Stopped);
    cluster.stop_all().await?;
    Ok(())
}

/// Uplink inputs with no probes behind them and an empty spool.
fn idle_inputs(spool_dir: &std::path::Path, shutdown: &Shutdown) -> anyhow::Result<UplinkInputs> {
    let spool = Spool::open(&spool_dir.join("spool"))?;
    let journal = mevfleet_agent::commands::journal::Journal::open(&spool_dir.join("commands"), 0)?;
    let (weights, fleet_weights) = tokio::sync::watch::channel(Default::default());
    let applier = mevfleet_agent::resources::Applier::new(
        mevfleet_agent::resources::Backend::Unavailable,
        &[],
    );
    let resources = mevfleet_agent::resources::spawn(applier, fleet_weights, shutdown);
    let commands = mevfleet_agent::commands::spawn(
        journal,
        mevfleet_agent::commands::action::Actions::default(),
        spool.clone(),
        resources,
        shutdown,
    );
    let (_host_tx, host) = tokio::sync::watch::channel(None);
    let (_services_tx, services) = tokio::sync::watch::channel(Vec::new());
    let (_boost_tx, mev_boost) = tokio::sync::watch::channel(None);
    Ok(UplinkInputs {
        sources: Sources {
            chains: Vec::new(),
            host,
            services,
            mev_boost,
        },
        spool,
        limits: std::sync::Arc::new(tokio::sync::watch::channel(Default::default()).0),
        urgent: Default::default(),
        executor: Default::default(),
        commands,
        weights: std::sync::Arc::new(weights),
        mempool: std::sync::Arc::new(mevfleet_agent::mempool::outbox::Outbox::new(16)),
    })
}

/// Counts to the number asked, one reply each, then answers `done`.
struct Counter {
    /// What each subscription's handler ended with: the last number sent,
    /// or why it stopped.
    ended: tokio::sync::mpsc::UnboundedSender<Result<u64, String>>,
}

impl Handler for Counter {
    type Peer = String;
    type Request = u64;
    type Response = u64;

    async fn handle(&self, _peer: &String, request: u64) -> Result<u64, WireError> {
        Ok(request)
    }

    async fn handle_subscription(
        &self,
        _peer: &String,
        upto: u64,
        replies: &mut ReplySink<'_, u64>,
    ) -> Result<u64, WireError> {
        for n in 1..=upto {
            if let Err(err) = replies.send(&n).await {
                let _gone = self.ended.send(Err(err.to_string()));
                return Err(WireError::new(ErrorCode::UNAVAILABLE, err.to_string()));
            }
        }
        let _gone = self.ended.send(Ok(upto));
        Ok(u64::MAX)
    }
}

/// A service from before a request existed: it knows only this one.
#[derive(serde::Deserialize)]
enum OldRequest {
    Ping,
}

struct Old;

impl Handler for Old {
    type Peer = String;
    type Request = OldRequest;
    type Response = AgentResponse;

    async fn handle(
        &self,
        _peer: &String,
        request: OldRequest,
    ) -> Result<AgentResponse, WireError> {
        match request {
            OldRequest::Ping => Ok(AgentResponse::MempoolTaken),
        }
    }
}

/// A client and a server connection between two fresh endpoints.
async fn connected_pair() -> anyhow::Result<(quinn::Connection, quinn::Connection, quinn::Endpoint)>
{
    let pki = TestPki::new()?;
    let server_creds = pki.creds(Role::Coordinator, "coord-1")?;
    let server = tls::server_endpoint(
        LOCALHOST,
        &server_creds,
        &[Service::Agent],
        TransportSettings::default(),
    )?;
    let addr = server.local_addr()?;
    let agent_creds = pki.creds(Role::Agent, "host-a")?;
    let accept = async {
        let incoming = server
            .accept()
            .await
            .ok_or_else(|| anyhow::anyhow!("endpoint closed"))?;
        Ok::<_, anyhow::Error>(incoming.await?)
    };
    let (dialled, accepted) = tokio::join!(dial(&agent_creds, addr, Service::Agent), accept);
    let (conn, client_endpoint) = dialled.map_err(anyhow::Error::msg)?;
    drop(server);
    Ok((conn, accepted?, client_endpoint))
}

#[tokio::test]
async fn a_request_and_its_reply_cost_no_stop_sending_either_way() -> anyhow::Result<()> {
    init_logs();
    let (conn, server_conn, _endpoint) = connected_pair().await?;
    let (ended, _handler_ended) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(serve(
        server_conn.clone(),
        "host-a".to_owned(),
        std::sync::Arc::new(Counter { ended }),
        RpcLimits::default(),
        shutdown.clone(),
    ));

    // Each side reads the other's one frame and then its end, which came in
    // the same packet: dropping a stream whose end was not read would send
    // a STOP_SENDING, a packet and an acknowledgement more per request.
    // A frame either side still had to send went out before the last reply.
    for _ in 0..20 {
        let one_reply = call::<_, u64>(&conn, &0u64, RpcLimits::default()).await?;
        assert_eq!(one_reply, u64::MAX);
    }
    let (client, server) = (conn.stats(), server_conn.stats());
    assert_eq!(client.frame_tx.stop_sending, 0, "client: {client:?}");
    assert_eq!(server.frame_tx.stop_sending, 0, "server: {server:?}");
    assert!(client.frame_tx.stream >= 20 && server.frame_tx.stream >= 20);

    shutdown.cancel();
    serving.await?;
    Ok(())
}

#[tokio::test]
async fn a_subscription_gets_every_reply_in_order_and_its_handler_stops_when_the_subscriber_goes(
) -> anyhow::Result<()> {
    init_logs();
    let (conn, server_conn, _endpoint) = connected_pair().await?;
    let (ended, mut handler_ended) = tokio::sync::mpsc::unbounded_channel();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(serve(
        server_conn,
        "host-a".to_owned(),
        std::sync::Arc::new(Counter { ended }),
        RpcLimits::default(),
        shutdown.clone(),
    ));

    // --- three replies as they come, the last one, then the end
    let mut replies = subscribe::<_, u64>(&conn, &3u64, RpcLimits::default()).await?;
    let mut got = Vec::new();
    while let Some(n) = replies.next().await? {
        got.push(n);
    }
    assert_eq!(got, vec![1, 2, 3, u64::MAX]);
    assert_eq!(handler_ended.recv().await, Some(Ok(3)));

    // --- a subscriber that leaves stops the handler's sending, not the connection
    // Endless: the stream's flow control holds the handler once the
    // subscriber stops reading, until the stream is stopped.
    let mut replies = subscribe::<_, u64>(&conn, &u64::MAX, RpcLimits::default()).await?;
    assert_eq!(replies.next().await?, Some(1));
    drop(replies);
    let ended = tokio::time::timeout(DEFAULT_DEADLINE, handler_ended.recv()).await?;
    let Some(Err(reason)) = ended else {
        panic!("the handler did not notice its subscriber leave: {ended:?}");
    };
    assert!(reason.contains("stop"), "{reason}");
    let one_reply = call::<_, u64>(&conn, &0u64, RpcLimits::default()).await?;
    assert_eq!(one_reply, u64::MAX);

    shutdown.cancel();
    serving.await?;
    Ok(())
}

#[tokio::test]
async fn a_server_that_predates_a_subscription_refuses_it_as_malformed() -> anyhow::Result<()> {
    init_logs();
    let (conn, server_conn, _endpoint) = connected_pair().await?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let serving = tokio::spawn(serve(
        server_conn,
        "host-a".to_owned(),
        std::sync::Arc::new(Old),
        RpcLimits::default(),
        shutdown.clone(),
    ));
    let feed = AgentRequest::OrderFeed { known: vec![1, 2] };
    let mut replies = subscribe::<_, AgentResponse>(&conn, &feed, RpcLimits::default()).await?;
    match replies.next().await {
        Err(RpcError::Remote(err)) => assert_eq!(err.code, ErrorCode::MALFORMED, "{err}"),
        other => panic!("expected a malformed refusal, got {other:?}"),
    }
    shutdown.cancel();
    serving.await?;
    Ok(())
}
