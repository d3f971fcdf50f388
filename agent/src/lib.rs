//! mevfleet-agent: the process on every node host. It probes the host's
//! chain nodes, resources, units and mev-boost, streams their mempools, keeps a mutually-authenticated
//! QUIC session to the coordinator leader with heartbeats and a durable
//! spool, and serves `/metrics` and `/health` locally.

pub mod commands;
pub mod config;
pub mod enroll;
pub mod executor;
pub mod gateway;
pub mod guards;
pub mod http;
pub mod http_client;
pub mod mempool;
pub mod post;
pub mod probe;
pub mod relay;
pub mod report;
pub mod resources;
pub mod runtime;
pub mod spool;
pub mod uplink;
