//! The coordinator's HTTP server (loopback by default): `/metrics`, the
//! fleet as JSON at `/api/status`, `/api/agents`, `/api/chains`,
//! `/api/check` and `/api/mempool`, and execution outcomes at `/mev/stats` and `/mev/profits`
//! (answered by the leader wherever the request arrives). Writes
//! (`POST /mev/config`) need a bearer token bound to a role.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mevfleet_common::shutdown::Shutdown;
use mevfleet_common::wire::fleet::FleetView;
use serde_json::json;
use tokio::net::TcpListener;
use tracing::info;

use super::metrics;
use sha2::{Digest, Sha256};

use crate::config::HttpToken;
use crate::fleet::Fleet;
use crate::node::unix_ms;
use crate::state::{Actor, Command, Proposal};

/// Serves the HTTP paths on `listener` until `shutdown`.
pub fn spawn(listener: TcpListener, fleet: Arc<Fleet>, shutdown: &Shutdown) {
    let router = Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/api/status", get(api_status))
        .route("/api/agents", get(api_agents))
        .route("/api/chains", get(api_chains))
        .route("/api/check", get(api_check))
        .route("/api/mempool", get(api_mempool))
        .route("/mev/stats", get(mev_stats))
        .route("/mev/profits", get(mev_profits))
        .route("/mev/config", post(post_mev_config))
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

async fn api_mempool(fleet: State<Arc<Fleet>>) -> Response {
    fleet_json(fleet, |view| json!(view.mempool)).await
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

/// Who a bearer token belongs to, if it is one of the configured ones.
fn token_holder<'a>(fleet: &'a Fleet, headers: &HeaderMap) -> Option<&'a HttpToken> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    fleet
        .policy()
        .http_tokens
        .iter()
        .find(|t| t.sha256.eq_ignore_ascii_case(&digest))
}

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// `POST /mev/config`: changes a chain's guards, keeping what the body
/// leaves out. Needs an admin or operator bearer token.
async fn post_mev_config(
    State(fleet): State<Arc<Fleet>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(holder) = token_holder(&fleet, &headers) else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "a bearer token from [[http_tokens]] is required for writes".into(),
        );
    };
    if holder.role == "viewer" {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a viewer token: changing the MEV guards needs operator or admin",
                holder.name
            ),
        );
    }
    let change: GuardChange = match serde_json::from_slice(&body) {
        Ok(change) => change,
        Err(err) => return refuse(StatusCode::BAD_REQUEST, format!("bad body: {err}")),
    };
    let current = match fleet.view().await {
        Ok(view) => view
            .chains
            .iter()
            .find(|c| c.chain == change.chain)
            .map(|c| c.guards.clone()),
        Err(err) => return refuse(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    };
    let Some(mut guards) = current else {
        return refuse(
            StatusCode::BAD_REQUEST,
            format!("no chain `{}` in the fleet", change.chain),
        );
    };
    if let Some(on) = change.auto_execute {
        guards.auto_execute = on;
    }
    for (field, value) in [
        ("max_gas_price_gwei", change.max_gas_price_gwei),
        ("min_profit_eth", change.min_profit_eth),
    ] {
        if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("{field} must be a non-negative number"),
            );
        }
    }
    if let Some(gwei) = change.max_gas_price_gwei {
        guards.max_gas_price_wei = Some((gwei * 1e9).round() as u128);
    }
    if let Some(eth) = change.min_profit_eth {
        guards.min_profit_wei = Some((eth * 1e18).round() as u128);
    }
    if let Some(strategies) = change.strategies {
        guards.strategies = strategies;
    }
    let proposal = Proposal {
        actor: Actor::new(holder.role.as_str(), format!("http-token {}", holder.name)),
        at_ms: unix_ms(),
        command: Command::SetGuards {
            chain: change.chain.clone(),
            guards: guards.clone(),
        },
    };
    match fleet.core().write(proposal).await {
        Ok((index, _)) => Json(json!({
            "index": index,
            "chain": change.chain,
            "auto_execute": guards.auto_execute,
            "max_gas_price_gwei": guards.max_gas_price_wei.map(|w| w as f64 / 1e9),
            "min_profit_eth": guards.min_profit_wei.map(|w| w as f64 / 1e18),
            "strategies": guards.strategies,
        }))
        .into_response(),
        Err(err) => refuse(StatusCode::SERVICE_UNAVAILABLE, err.to_string()),
    }
}

/// The body of `POST /mev/config`: what to change.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardChange {
    chain: String,
    auto_execute: Option<bool>,
    max_gas_price_gwei: Option<f64>,
    min_profit_eth: Option<f64>,
    strategies: Option<Vec<String>>,
}
