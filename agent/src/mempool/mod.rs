//! Mempool streaming: for every chain with `mempool` on, a subscription to
//! the node's pending transactions, per-second stats, and the selected
//! transactions (high value, watched addresses, or all of them) with their
//! first-seen times, all handed to the uplink through one outbox.

pub mod decode;
pub mod dedup;
pub mod metrics;
pub mod outbox;
mod scan;
pub mod stats;
pub mod stream;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use mevfleet_common::shutdown::Shutdown;

use crate::config::ValidAgentConfig;
use crate::uplink::Backoff;
use dedup::Dedup;
use outbox::Outbox;
use stats::{ChainStats, Selection};
use stream::{StreamHandle, StreamSettings};

/// Selected transactions that may wait for the uplink.
const OUTBOX_CAPACITY: usize = 50_000;

/// Hashes remembered per dedup generation (bounds memory at any rate).
const DEDUP_CAPACITY: usize = 500_000;

/// The running streams and their outbox.
#[derive(Clone, Debug)]
pub struct Mempool {
    /// What waits for the uplink.
    pub outbox: Arc<Outbox>,
    /// One per streaming chain.
    pub streams: Vec<StreamHandle>,
}

/// Starts a stream for every chain that has the mempool on.
pub fn spawn(valid: &ValidAgentConfig, shutdown: &Shutdown) -> Mempool {
    let config = &valid.config.mempool;
    let outbox = Arc::new(Outbox::new(OUTBOX_CAPACITY));
    let selection = Selection {
        high_value_wei: (config.high_value_eth * 1e18).round() as u128,
        // Checked by the config's validation.
        watched: config
            .watch
            .iter()
            .filter_map(|address| address.parse().ok())
            .collect::<BTreeSet<_>>(),
        forward_all: config.forward_all,
    };
    let streams = valid
        .chains
        .iter()
        .filter(|chain| chain.mempool)
        .filter_map(|chain| {
            let ws = chain.config.ws.clone()?;
            let settings = StreamSettings {
                chain: chain.config.name.clone(),
                ws,
                rpc: chain.config.rpc.clone(),
                full_transactions: config.full_transactions,
                silence_timeout: Duration::from_millis(config.silence_timeout_ms),
                backoff: Backoff {
                    initial: Duration::from_millis(200),
                    max: Duration::from_secs(5),
                },
            };
            let stats = ChainStats::new(
                &chain.config.name,
                selection.clone(),
                Dedup::new(config.dedup_ttl_s * 1_000_000, DEDUP_CAPACITY),
            );
            Some(stream::spawn(settings, stats, outbox.clone(), shutdown))
        })
        .collect();
    Mempool { outbox, streams }
}
