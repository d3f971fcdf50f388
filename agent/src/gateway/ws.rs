//! The gateway over WebSocket, for strategies that subscribe: each client
//! connection gets its own connection to the node's `ws` URL. Reads and
//! subscriptions pass through untouched both ways; writes are taken out of
//! the stream and answered by the gateway exactly as over HTTP (lease,
//! switches, guards, outcome record), with the strategy's tags read from
//! the upgrade request's headers. Either side closing closes the other.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as NodeMessage;
use tracing::{debug, info_span, warn, Instrument};
use url::Url;

use super::{only_reads, tags_of, Gateway};
use crate::guards::Tags;
use crate::http_client::websocket_tls;

/// How long the node may take to accept the gateway's WebSocket.
const NODE_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Close code for "the other side went away" (RFC 6455, 1001).
const GOING_AWAY: u16 = 1001;
/// Close code for "cannot serve" (RFC 6455, 1011).
const INTERNAL_ERROR: u16 = 1011;

/// Answers a WebSocket upgrade on the gateway's address.
pub(super) async fn upgrade(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    socket: WebSocketUpgrade,
) -> Response {
    let Some(node) = gateway.ws.clone() else {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "the {} gateway has no WebSocket side: set `ws` for the chain in the agent's config",
                gateway.chain
            ),
        )
            .into_response();
    };
    let tags = tags_of(&headers);
    let span = info_span!("gateway-ws", chain = %gateway.chain);
    socket.on_upgrade(move |client| relay(gateway, client, node, tags).instrument(span))
}

/// Carries one client connection until either side closes or the agent
/// shuts down.
async fn relay(gateway: Arc<Gateway>, mut client: WebSocket, node_url: Url, tags: Tags) {
    let connect = async {
        // Requests are small and a strategy waits on each: no Nagle delay.
        let tls = websocket_tls(&node_url).map_err(|err| err.to_string())?;
        tokio_tungstenite::connect_async_tls_with_config(node_url.as_str(), None, true, tls)
            .await
            .map_err(|err| err.to_string())
    };
    let connected = tokio::time::timeout(NODE_CONNECT_TIMEOUT, connect).await;
    let node = match connected {
        Ok(Ok((node, _))) => node,
        Ok(Err(err)) => {
            warn!(error = %err, "the node refused the gateway's WebSocket");
            let why = format!(
                "the {} node's WebSocket is not reachable: {err}",
                gateway.chain
            );
            let _gone = client.send(close(INTERNAL_ERROR, &why)).await;
            return;
        }
        Err(_) => {
            let why = format!("the {} node's WebSocket did not answer", gateway.chain);
            let _gone = client.send(close(INTERNAL_ERROR, &why)).await;
            return;
        }
    };
    let (mut node_tx, mut node_rx) = node.split();
    let (mut client_tx, mut client_rx) = client.split();
    let (answers_tx, mut answers) = mpsc::unbounded_channel::<String>();
    let tags = Arc::new(tags);
    loop {
        tokio::select! {
            _ = gateway.shutdown.cancelled() => {
                let _gone = client_tx.send(close(GOING_AWAY, "the agent is shutting down")).await;
                let _gone = node_tx.close().await;
                return;
            }
            answer = answers.recv() => {
                let Some(answer) = answer else { return };
                if client_tx.send(Message::Text(answer.into())).await.is_err() {
                    break;
                }
            }
            message = client_rx.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                    Some(Ok(Message::Binary(bytes))) => String::from_utf8_lossy(&bytes).into_owned(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                };
                if only_reads(text.as_bytes()) {
                    if node_tx.send(NodeMessage::Text(text.into())).await.is_err() {
                        let why = format!("the {} node closed its WebSocket", gateway.chain);
                        let _gone = client_tx.send(close(INTERNAL_ERROR, &why)).await;
                        return;
                    }
                    continue;
                }
                // A write is answered by the gateway; the stream goes on
                // meanwhile, and the answer comes when it is ready.
                let gateway = gateway.clone();
                let tags = tags.clone();
                let answers_tx = answers_tx.clone();
                tokio::spawn(async move {
                    let answer = gateway.answer(text.as_bytes(), &tags).await;
                    let _closed = answers_tx.send(answer.to_string());
                }.in_current_span());
            }
            message = node_rx.next() => {
                let forwarded = match message {
                    Some(Ok(NodeMessage::Text(text))) => Message::Text(text.as_str().into()),
                    Some(Ok(NodeMessage::Binary(bytes))) => Message::Binary(bytes),
                    Some(Ok(NodeMessage::Ping(_) | NodeMessage::Pong(_) | NodeMessage::Frame(_))) => continue,
                    Some(Ok(NodeMessage::Close(_))) | None | Some(Err(_)) => {
                        let why = format!("the {} node closed its WebSocket", gateway.chain);
                        let _gone = client_tx.send(close(INTERNAL_ERROR, &why)).await;
                        return;
                    }
                };
                if client_tx.send(forwarded).await.is_err() {
                    break;
                }
            }
        }
    }
    debug!("a gateway WebSocket client left");
    let _gone = node_tx.close().await;
}

fn close(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}
