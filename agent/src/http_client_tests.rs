use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::post::{post_json, PostError};

/// A plain HTTP server on loopback that answers every connection's first
/// request with `{"ok":true}`, until the test ends.
async fn plain_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 4096];
                let _read = socket.read(&mut request).await;
                let body = r#"{"ok":true}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _written = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    addr
}

// One test, in order: the TLS settings are the process's, made once.
#[tokio::test]
async fn tls_is_set_up_only_when_an_https_or_wss_url_is_used() {
    let addr = plain_server().await;
    let client = crate::post::client();
    let plain: Url = format!("http://{addr}/").parse().expect("url");
    let (status, body) = post_json(&client, &plain, &[], "{}".into(), Duration::from_secs(5))
        .await
        .expect("a plain POST is answered");
    assert_eq!(status, 200);
    assert_eq!(&body[..], br#"{"ok":true}"#);
    let ws: Url = format!("ws://{addr}/").parse().expect("url");
    assert!(websocket_tls(&ws).expect("plain ws").is_none());
    assert!(
        !tls_loaded(),
        "plain http and ws must not load the CA bundle"
    );

    // The same client speaks TLS to an https URL: against a plain server
    // the handshake fails, and the TLS settings are now loaded.
    let https: Url = format!("https://{addr}/").parse().expect("url");
    let refused = post_json(&client, &https, &[], "{}".into(), Duration::from_secs(5)).await;
    assert!(
        matches!(refused, Err(PostError::Failed(_))),
        "TLS to a plain server must fail: {refused:?}"
    );
    assert!(tls_loaded());
    let wss: Url = format!("wss://{addr}/").parse().expect("url");
    assert!(matches!(
        websocket_tls(&wss).expect("wss"),
        Some(tokio_tungstenite::Connector::NativeTls(_))
    ));
}
