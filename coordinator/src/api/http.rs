//! The coordinator's HTTP server (loopback by default): `/metrics`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use mevfleet_common::shutdown::Shutdown;
use tokio::net::TcpListener;
use tracing::info;

use super::metrics;
use crate::node::NodeCore;

/// Serves the HTTP paths on `listener` until `shutdown`.
pub fn spawn(listener: TcpListener, core: Arc<NodeCore>, shutdown: &Shutdown) {
    let router = Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(core);
    let token = shutdown.token().clone();
    shutdown.spawn_critical("http", async move {
        if let Ok(addr) = listener.local_addr() {
            info!(addr = %addr, "serving HTTP");
        }
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await
    });
}

async fn serve_metrics(State(core): State<Arc<NodeCore>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&core),
    )
}
