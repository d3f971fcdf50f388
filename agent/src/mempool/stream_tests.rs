//! The stream's watchdog against a local WebSocket node: frames closer
//! together than the silence timeout keep one subscription, however long
//! they last; silence ends it and the stream subscribes again.

use super::*;
use crate::mempool::dedup::Dedup;
use crate::mempool::stats::Selection;

const SILENCE: Duration = Duration::from_millis(400);
const FRAME_GAP: Duration = Duration::from_millis(50);

fn pending(n: u64) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0x1","result":{{"hash":"0x{n:064x}","from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","to":null,"value":"0x1","gasPrice":"0x3b9aca00","maxFeePerGas":"0x3b9aca00"}}}}}}"#
    )
}

/// A node that answers each subscription, sends `frames` frames
/// `FRAME_GAP` apart on the first connection, says so on the returned
/// channel, then falls silent (the socket stays open).
async fn node(
    frames: u64,
) -> anyhow::Result<(std::net::SocketAddr, tokio::sync::oneshot::Receiver<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (sent_all, all_sent) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut sent_all = Some(sent_all);
        while let Ok((socket, _)) = listener.accept().await {
            let (count, done) = match sent_all.take() {
                Some(done) => (frames, Some(done)),
                None => (0, None),
            };
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else {
                    return;
                };
                let Some(Ok(Message::Text(request))) = ws.next().await else {
                    return;
                };
                let id = serde_json::from_str::<serde_json::Value>(request.as_str())
                    .map(|v| v["id"].clone())
                    .unwrap_or_default();
                let reply = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"0x1"}}"#);
                if ws.send(Message::text(reply)).await.is_err() {
                    return;
                }
                for n in 0..count {
                    // The stimulus: frames spaced in time.
                    tokio::time::sleep(FRAME_GAP).await;
                    if ws.send(Message::text(pending(n))).await.is_err() {
                        return;
                    }
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    Ok((addr, all_sent))
}

/// A full-transaction stream of "ethereum" on the node at `addr` (no RPC
/// behind it), and its stats, selecting nothing unless `forward_all`.
fn ethereum(
    addr: std::net::SocketAddr,
    silence_timeout: Duration,
    forward_all: bool,
) -> anyhow::Result<(StreamSettings, ChainStats)> {
    let settings = StreamSettings {
        chain: "ethereum".into(),
        ws: format!("ws://{addr}").parse()?,
        rpc: "http://127.0.0.1:9".parse()?,
        full_transactions: true,
        silence_timeout,
        backoff: Backoff::default(),
    };
    let stats = ChainStats::new(
        "ethereum",
        Selection {
            high_value_wei: u128::MAX,
            watched: Default::default(),
            forward_all,
        },
        Dedup::new(60_000_000, 1_000),
    );
    Ok((settings, stats))
}

#[tokio::test]
async fn frames_keep_the_subscription_and_silence_renews_it() -> anyhow::Result<()> {
    // 20 frames 50 ms apart: a second, more than twice the silence timeout.
    let frames = 20;
    let (addr, all_sent) = node(frames).await?;
    let shutdown = Shutdown::new();
    let (settings, stats) = ethereum(addr, SILENCE, false)?;
    let handle = spawn(settings, stats, Arc::new(Outbox::new(10)), &shutdown);
    let mut state = handle.state.clone();
    let deadline = Duration::from_secs(20);
    tokio::time::timeout(deadline, all_sent).await??;
    assert_eq!(
        state.borrow().subscriptions,
        1,
        "frames {FRAME_GAP:?} apart must not trip a {SILENCE:?} watchdog"
    );
    tokio::time::timeout(deadline, state.wait_for(|s| s.subscriptions >= 2)).await??;
    shutdown.cancel();
    shutdown.wait(Duration::from_secs(5)).await;
    Ok(())
}

/// A node that answers the subscription, then sends `burst` back to back
/// (so the stream finds many frames waiting at once) and stays open.
async fn burst_node(burst: Vec<Message>) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let Ok(mut ws) = tokio_tungstenite::accept_async(socket).await else {
            return;
        };
        let Some(Ok(Message::Text(_))) = ws.next().await else {
            return;
        };
        let reply = Message::text(r#"{"jsonrpc":"2.0","id":1,"result":"0x1"}"#);
        let mut messages = std::iter::once(Ok(reply)).chain(burst.into_iter().map(Ok));
        let mut all = futures::stream::iter(&mut messages);
        if ws.send_all(&mut all).await.is_err() {
            return;
        }
        while let Some(Ok(_)) = ws.next().await {}
    });
    Ok(addr)
}

#[tokio::test]
async fn a_burst_is_taken_whole_with_other_messages_inside_it() -> anyhow::Result<()> {
    // 300 transactions sent at once, with a ping, another method's
    // notification and an undecodable frame among them.
    let mut burst: Vec<Message> = (0..300).map(|n| Message::text(pending(n))).collect();
    burst.insert(50, Message::Ping(vec![1].into()));
    burst.insert(
        120,
        Message::text(r#"{"jsonrpc":"2.0","method":"other","params":{"result":"0x00"}}"#),
    );
    burst.insert(200, Message::text("not json"));
    let addr = burst_node(burst).await?;
    let shutdown = Shutdown::new();
    let (settings, stats) = ethereum(addr, Duration::from_secs(30), true)?;
    let outbox = Arc::new(Outbox::new(1_000));
    let handle = spawn(settings, stats, outbox.clone(), &shutdown);
    let mut sightings = 0;
    let summary = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            outbox.ready().await;
            if let Some(report) = outbox.take() {
                sightings += report.sightings.len();
                if let Some(summary) = report.summaries.into_iter().next() {
                    if summary.arrivals_total == 300 {
                        return summary;
                    }
                }
            }
        }
    })
    .await?;
    assert_eq!(summary.dropped_total, 1, "the undecodable frame");
    assert_eq!(sightings, 300, "every transaction forwarded");
    assert_eq!(handle.frames.load(Ordering::Relaxed), 300);
    assert_eq!(handle.state.borrow().subscriptions, 1, "no reconnect");
    shutdown.cancel();
    shutdown.wait(Duration::from_secs(5)).await;
    Ok(())
}
