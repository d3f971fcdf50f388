//! The coordinator's HTTP server (loopback by default): `/metrics`, the
//! fleet as JSON at `/api/status`, `/api/agents`, `/api/chains` and
//! `/api/check`, and execution outcomes at `/mev/stats` and `/mev/profits`
//! (answered by the leader wherever the request arrives).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::wire::fleet::FleetView;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::info;

use super::metrics;
use crate::fleet::Fleet;

/// Serves the HTTP paths on `listener` until `shutdown`.
pub fn spawn(listener: TcpListener, fleet: Arc<Fleet>, shutdown: &Shutdown) {
    let router = Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/api/status", get(api_status))
        .route("/api/agents", get(api_agents))
        .route("/api/chains", get(api_chains))
        .route("/api/check", get(api_check))
        .route("/mev/stats", get(mev_stats))
        .route("/mev/profits", get(mev_profits))
        .with_state(fleet);
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

async fn serve_metrics(State(fleet): State<Arc<Fleet>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&fleet).await,
    )
}

async fn api_status(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| json!(view.status)).await
}

async fn api_agents(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| json!(view.agents)).await
}

async fn api_chains(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| json!(view.chains)).await
}

async fn api_check(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| json!(view.checks)).await
}

async fn mev_stats(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| {
        json!({
            "success_rate": view.mev.last_day.success_rate,
            "last_hour": view.mev.last_hour,
            "last_day": view.mev.last_day,
        })
    })
    .await
}

async fn mev_profits(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| {
        json!({
            "daily_total": view.mev.last_day.total_profit_eth,
            "hourly_total": view.mev.last_hour.total_profit_eth,
            "by_strategy_24h": view.mev.last_day.profit_by_strategy,
        })
    })
    .await
}

async fn fleet_json(
    State(fleet): State<Arc<Fleet>>,
    part: impl FnOnce(FleetView) -> serde_json::Value,
) -> Response {
    match fleet.view().await {
        Ok(view) => Json(part(view)).into_response(),
        Err(err) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "error": err.to_string() })),
        )
            .into_response(),
    }
}
