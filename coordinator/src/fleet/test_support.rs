//! Builders shared by the fleet decisions' table tests.

use std::collections::BTreeMap;

use mevfleet_common::wire::fleet::{AgentChainView, AgentView, Presence};

use crate::state::Assignment;

/// An agent serving ethereum, with its node in `state` and `lag` behind.
pub fn agent(id: &str, presence: Presence, state: &str, lag: u64) -> AgentView {
    AgentView {
        id: id.into(),
        connected: presence == Presence::Connected,
        presence,
        last_seen_ms: Some(1),
        labels: BTreeMap::new(),
        version: "0".into(),
        chains: vec![AgentChainView {
            chain: "ethereum".into(),
            state: state.into(),
            head: Some(100),
            lag: Some(lag),
            syncing: Some(false),
            peers: None,
            rpc_latency_ms: Some(1.0),
            error: None,
        }],
        host: None,
        services: Vec::new(),
        mev_boost: None,
    }
}

/// The ethereum role held by `agent` at `epoch`.
pub fn held_by(agent: Option<&str>, epoch: u64) -> BTreeMap<String, Assignment> {
    BTreeMap::from([(
        "ethereum".to_owned(),
        Assignment {
            agent: agent.map(str::to_owned),
            epoch,
            active: true,
            since_ms: 0,
            reason: "test".into(),
        },
    )])
}
