//! A fake chain node's pending-transaction firehose for the mempool
//! benchmarks: a WebSocket server on loopback, on its own thread, that
//! answers `eth_subscribe` and then sends `eth_subscription` notifications
//! shaped like anvil's (whole EIP-1559 pending transactions, distinct
//! hashes). Either as fast as it can from frames encoded beforehand
//! ([`Feed::Burst`]), or at a steady rate, stamping its send time into each
//! high-value transaction's value ([`Feed::Paced`]) so that whoever
//! receives it can tell how long it took.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use mevfleet_common::mempool::unix_us;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// The value of a high-value transaction before its stamp: 2 ETH in wei.
pub const HIGH_VALUE_WEI: u128 = 2_000_000_000_000_000_000;

/// The value of the others: 0.01 ETH.
const LOW_VALUE_WEI: u128 = 10_000_000_000_000_000;

/// What the firehose sends each connection.
#[derive(Clone, Debug)]
pub enum Feed {
    /// These frames, as fast as the socket takes them.
    Burst(Arc<Vec<Utf8Bytes>>),
    /// `rate` transactions a second until the reader hangs up; while
    /// `armed` is set, every `high_value_every`-th is worth
    /// [`HIGH_VALUE_WEI`] plus its send time in µs since the Unix epoch
    /// (unarmed, a warm-up, every transaction is low value).
    Paced {
        rate: u64,
        high_value_every: u64,
        armed: Arc<AtomicBool>,
    },
}

/// A node's notification for transaction `n` (distinct hash and nonce)
/// worth `value_wei`.
pub fn frame(n: u64, value_wei: u128) -> String {
    let fee = 1_000_000_000u64 + (n % 97) * 10_000_000;
    format!(
        r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0xfeed","result":{{"type":"0x2","chainId":"0x1","nonce":"0x{n:x}","gas":"0x5208","maxFeePerGas":"0x{fee:x}","maxPriorityFeePerGas":"0x3b9aca00","to":"0x70997970c51812dc3a010c7d01b50e0d17dc79c8","value":"0x{value_wei:x}","accessList":[],"input":"0x","r":"0x16f29b40bdb3494c62e401d713de461fd0e18d99bc589e93d9ca14229e3362c7","s":"0x4019c9fadab16f9c5b9d4871015777724c4f76ba61815f6242c27b6d800e90f6","yParity":"0x1","v":"0x1","hash":"0x{n:064x}","blockHash":null,"blockNumber":null,"transactionIndex":null,"from":"0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266","gasPrice":"0x{fee:x}"}}}}}}"#
    )
}

/// `count` burst frames, every `high_value_every`-th worth 2 ETH.
pub fn burst(count: u64, high_value_every: u64) -> Feed {
    let frames = (0..count)
        .map(|n| {
            let value = if n % high_value_every.max(1) == 0 {
                HIGH_VALUE_WEI
            } else {
                LOW_VALUE_WEI
            };
            Utf8Bytes::from(frame(n, value))
        })
        .collect();
    Feed::Burst(Arc::new(frames))
}

/// The send time a paced firehose stamped into a high-value transaction's
/// value, µs since the Unix epoch.
pub fn stamp_of(value_wei: u128) -> Option<u64> {
    value_wei
        .checked_sub(HIGH_VALUE_WEI)
        .and_then(|us| u64::try_from(us).ok())
}

/// A running firehose.
#[derive(Debug)]
pub struct Firehose {
    /// Where it listens (`ws://` this).
    pub addr: SocketAddr,
    /// Transactions sent so far, over every connection.
    pub sent: Arc<AtomicU64>,
}

/// Starts a firehose on its own thread serving `feed` to each connection,
/// one connection at a time. The thread ends with the process.
pub fn start(feed: Feed) -> anyhow::Result<Firehose> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let sent = Arc::new(AtomicU64::new(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let counter = sent.clone();
    std::thread::Builder::new()
        .name("firehose".into())
        .spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let mut next = 0u64;
                while let Ok((socket, _)) = listener.accept().await {
                    if let Err(err) = serve(socket, &feed, &counter, &mut next).await {
                        eprintln!("firehose: {err}");
                    }
                }
            });
        })?;
    Ok(Firehose { addr, sent })
}

async fn serve(
    socket: tokio::net::TcpStream,
    feed: &Feed,
    sent: &AtomicU64,
    next: &mut u64,
) -> anyhow::Result<()> {
    socket.set_nodelay(true)?;
    let mut ws = tokio_tungstenite::accept_async(socket).await?;
    // The subscription request, answered with the id it carries.
    let request = match ws.next().await {
        Some(Ok(Message::Text(text))) => text,
        other => anyhow::bail!("expected a subscription request, got {other:?}"),
    };
    let id: serde_json::Value = serde_json::from_str(request.as_str())?;
    ws.send(Message::text(format!(
        r#"{{"jsonrpc":"2.0","id":{},"result":"0xfeed"}}"#,
        id["id"]
    )))
    .await?;
    let (mut sink, mut source) = ws.split();
    match feed {
        Feed::Burst(frames) => {
            for chunk in frames.chunks(256) {
                for frame in chunk {
                    sink.feed(Message::Text(frame.clone())).await?;
                }
                sink.flush().await?;
                sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            // Keep the socket open until the reader hangs up.
            while let Some(Ok(_)) = source.next().await {}
        }
        Feed::Paced {
            rate,
            high_value_every,
            armed,
        } => {
            let start = Instant::now();
            let mut ticks = tokio::time::interval(Duration::from_millis(1));
            let mut sent_here = 0u64;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {}
                    message = source.next() => match message {
                        Some(Ok(_)) => continue,
                        _ => return Ok(()),
                    },
                }
                let due = (start.elapsed().as_secs_f64() * *rate as f64) as u64;
                while sent_here < due {
                    let n = *next;
                    *next += 1;
                    sent_here += 1;
                    let value =
                        if n % (*high_value_every).max(1) == 0 && armed.load(Ordering::Relaxed) {
                            HIGH_VALUE_WEI + u128::from(unix_us())
                        } else {
                            LOW_VALUE_WEI
                        };
                    sink.feed(Message::text(frame(n, value))).await?;
                }
                sink.flush().await?;
                sent.store(*next, Ordering::Relaxed);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_comes_back_out_of_the_value() {
        assert_eq!(
            stamp_of(HIGH_VALUE_WEI + 1_700_000_000_000_000),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(stamp_of(LOW_VALUE_WEI), None);
    }

    /// The values of the next `count` transactions on `ws`.
    async fn values<S>(ws: &mut S, count: usize) -> anyhow::Result<Vec<u128>>
    where
        S: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    {
        let mut values = Vec::new();
        while values.len() < count {
            let Some(message) = ws.next().await else {
                anyhow::bail!("the firehose hung up");
            };
            let Message::Text(text) = message? else {
                continue;
            };
            let frame: serde_json::Value = serde_json::from_str(text.as_str())?;
            let Some(value) = frame["params"]["result"]["value"].as_str() else {
                continue;
            };
            values.push(u128::from_str_radix(value.trim_start_matches("0x"), 16)?);
        }
        Ok(values)
    }

    #[tokio::test]
    async fn a_paced_feed_sends_high_value_transactions_only_once_armed() -> anyhow::Result<()> {
        let armed = Arc::new(AtomicBool::new(false));
        let firehose = start(Feed::Paced {
            rate: 20_000,
            high_value_every: 10,
            armed: armed.clone(),
        })?;
        let (mut ws, _) =
            tokio_tungstenite::connect_async(format!("ws://{}", firehose.addr)).await?;
        ws.send(Message::text(
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_subscribe","params":["newPendingTransactions",true]}"#,
        ))
        .await?;
        let warm_up = values(&mut ws, 100).await?;
        assert!(warm_up.iter().all(|v| *v == LOW_VALUE_WEI), "{warm_up:?}");
        armed.store(true, Ordering::Relaxed);
        // What was already on its way went out unarmed: wait for the first
        // stamped one, then every tenth is stamped.
        let mut waited = 0;
        while stamp_of(values(&mut ws, 1).await?[0]).is_none() {
            waited += 1;
            assert!(waited < 1_000_000, "nothing stamped once armed");
        }
        let after = values(&mut ws, 100).await?;
        let stamped = after.iter().filter_map(|v| stamp_of(*v)).count();
        assert_eq!(stamped, 10, "{after:?}");
        Ok(())
    }
}
