//! The coordinator's HTTP side: Prometheus metrics now; the dashboard,
//! `/api` and `/mev` paths join it as their capabilities land.

pub mod http;
pub mod metrics;
