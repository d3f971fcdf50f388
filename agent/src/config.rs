//! `AgentConfig`: the agent's TOML config, its one set of defaults, and the
//! cross-field checks run before any port is bound.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mevfleet_common::chain::{known_chain, mempool_default};
use mevfleet_common::config_file::{check, KeyError, Validate};
use mevfleet_common::identity::validate_name;
use mevfleet_common::net::HostPort;
use mevfleet_common::tls::TlsPaths;
use serde::{Deserialize, Serialize};
use url::Url;

/// Names of the built-in actions; config actions may not reuse them.
pub const BUILTIN_ACTIONS: [&str; 3] = ["drain", "safe-mode", "set-resources"];

/// The agent's config file. Unknown keys are errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// This agent's id. Must equal the name in its certificate.
    pub agent_id: String,
    /// Coordinator QUIC addresses (`host:port`); the agent follows the leader.
    pub coordinators: Vec<HostPort>,
    /// Where the agent keeps its spool and state.
    pub data_dir: PathBuf,
    /// Local HTTP address for `/metrics` and `/health`.
    pub http: SocketAddr,
    /// Labels for command targets (`region = "eu"`) and standby ranking.
    pub labels: BTreeMap<String, String>,
    /// This agent's certificate files.
    pub tls: TlsPaths,
    /// The chain nodes on this host.
    pub chains: Vec<ChainConfig>,
    /// systemd units to watch.
    pub services: Vec<ServiceConfig>,
    /// The local mev-boost, if any.
    pub mev_boost: Option<MevBoostConfig>,
    /// Actions the coordinator may ask this agent to run, by name.
    pub actions: BTreeMap<String, ActionConfig>,
    /// How often and how patiently to probe.
    pub probe: ProbeConfig,
    /// A file holding the hex private key that signs relay requests
    /// (`X-Flashbots-Signature`); none sends them unsigned.
    pub relay_key: Option<PathBuf>,
    /// Where the fleet's cgroup weights are written, if not through systemd.
    pub resources: ResourcesConfig,
    /// How the mempool of the chains that stream it is watched.
    pub mempool: MempoolConfig,
}

/// `[mempool]`: what the mempool stream selects and how patient it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MempoolConfig {
    /// A pending transaction worth at least this (ETH) is high value and
    /// forwarded to the coordinator with its first-seen time.
    pub high_value_eth: f64,
    /// Addresses whose transactions (from or to) are forwarded too.
    pub watch: Vec<String>,
    /// Forward every pending transaction, not only the selected ones.
    pub forward_all: bool,
    /// Subscribe for whole transactions (`newPendingTransactions`, true);
    /// false subscribes for hashes and fetches each transaction (the
    /// stream falls back to that by itself when the node refuses full mode).
    pub full_transactions: bool,
    /// A stream silent for this long is resubscribed (checked once per
    /// timeout, so within twice this).
    pub silence_timeout_ms: u64,
    /// How long a hash is remembered to drop duplicates.
    pub dedup_ttl_s: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        Self {
            high_value_eth: 1.0,
            watch: Vec::new(),
            forward_all: false,
            full_transactions: true,
            silence_timeout_ms: 30_000,
            dedup_ttl_s: 120,
        }
    }
}

impl MempoolConfig {
    fn validate(&self) -> Result<(), KeyError> {
        if !self.high_value_eth.is_finite() || self.high_value_eth < 0.0 {
            return Err(KeyError::new(
                "mempool.high_value_eth",
                format!(
                    "{} must be a non-negative number of ETH",
                    self.high_value_eth
                ),
            ));
        }
        for (i, address) in self.watch.iter().enumerate() {
            if address.parse::<alloy::primitives::Address>().is_err() {
                return Err(KeyError::new(
                    format!("mempool.watch[{i}]"),
                    format!("`{address}` is not an address (0x and 40 hex digits)"),
                ));
            }
        }
        check::in_range(
            "mempool.silence_timeout_ms",
            self.silence_timeout_ms,
            100,
            3_600_000,
        )?;
        check::in_range("mempool.dedup_ttl_s", self.dedup_ttl_s, 1, 86_400)?;
        Ok(())
    }
}

/// `[resources]`: how the fleet's cgroup weights reach this host's services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourcesConfig {
    /// A cgroup v2 folder holding one folder per unit (`<root>/<unit>/cpu.weight`);
    /// without it, `systemctl set-property --runtime` is used where systemd runs.
    pub cgroup_root: Option<PathBuf>,
}

/// `[probe]`: probe timings and the local verdict's patience.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Time between chain probes (sub-second, for liveness).
    pub interval_ms: u64,
    /// A chain probe not answered within this fails.
    pub timeout_ms: u64,
    /// Consecutive failed probes before a node is down.
    pub failures_before_down: u32,
    /// Consecutive good probes before a down node is up again.
    pub successes_before_up: u32,
    /// Time between host, service and mev-boost probes.
    pub host_interval_ms: u64,
    /// Filesystem paths whose usage is watched.
    pub disks: Vec<PathBuf>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval_ms: 200,
            timeout_ms: 1000,
            failures_before_down: 3,
            successes_before_up: 3,
            host_interval_ms: 2000,
            disks: vec![PathBuf::from("/")],
        }
    }
}

impl ProbeConfig {
    fn validate(&self) -> Result<(), KeyError> {
        check::in_range("probe.interval_ms", self.interval_ms, 20, 60_000)?;
        check::in_range("probe.timeout_ms", self.timeout_ms, 10, 60_000)?;
        check::in_range(
            "probe.failures_before_down",
            self.failures_before_down,
            1,
            100,
        )?;
        check::in_range(
            "probe.successes_before_up",
            self.successes_before_up,
            1,
            100,
        )?;
        check::in_range(
            "probe.host_interval_ms",
            self.host_interval_ms,
            100,
            3_600_000,
        )?;
        for (i, path) in self.disks.iter().enumerate() {
            if !path.is_absolute() {
                return Err(KeyError::new(
                    format!("probe.disks[{i}]"),
                    format!("`{}` must be an absolute path", path.display()),
                ));
            }
        }
        Ok(())
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            agent_id: String::new(),
            coordinators: Vec::new(),
            data_dir: PathBuf::from("/var/lib/mevfleet-agent"),
            http: SocketAddr::from(([127, 0, 0, 1], 9102)),
            labels: BTreeMap::new(),
            tls: TlsPaths::default(),
            chains: Vec::new(),
            services: Vec::new(),
            mev_boost: None,
            actions: BTreeMap::new(),
            probe: ProbeConfig::default(),
            relay_key: None,
            resources: ResourcesConfig::default(),
            mempool: MempoolConfig::default(),
        }
    }
}

/// One chain node on this host (`[[chains]]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The chain: a known name (ethereum, arbitrum, optimism, base, polygon)
    /// or any name with `chain_id` and `block_time_ms`.
    pub name: String,
    /// The chain id `eth_chainId` must return; required for unknown chains.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Nominal block time; required for unknown chains.
    #[serde(default)]
    pub block_time_ms: Option<u64>,
    /// The node's JSON-RPC URL (http or https).
    pub rpc: Url,
    /// The node's WebSocket URL (ws or wss), for subscriptions.
    #[serde(default)]
    pub ws: Option<Url>,
    /// Where the execution gateway listens for the strategy engine.
    #[serde(default)]
    pub gateway: Option<SocketAddr>,
    /// Whether this host may hold the executor role for the chain.
    #[serde(default)]
    pub execute: bool,
    /// Stream the mempool (default: on for ethereum and polygon).
    #[serde(default)]
    pub mempool: Option<bool>,
    /// Relays (builders) that bundles and private transactions go to, in
    /// parallel (Flashbots `eth_sendBundle` parameters).
    #[serde(default)]
    pub relays: Vec<Url>,
}

/// A systemd unit to watch (`[[services]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The unit name, e.g. `erigon-mev.service`.
    pub unit: String,
    /// The chain this unit serves, for resource allocation and incidents.
    #[serde(default)]
    pub chain: Option<String>,
}

/// The local mev-boost (`[mev_boost]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MevBoostConfig {
    /// mev-boost's HTTP address, e.g. `http://127.0.0.1:18550`.
    pub url: Url,
    /// The relays mev-boost uses, probed at their status endpoint too.
    #[serde(default)]
    pub relays: Vec<Url>,
}

/// An action the agent runs on request (`[actions.<name>]`), without a shell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    /// The program and its arguments, e.g. `["systemctl", "restart", "erigon-mev"]`.
    pub command: Vec<String>,
    /// The action is killed after this many seconds.
    #[serde(default = "default_action_timeout_s")]
    pub timeout_s: u64,
    /// Patterns (regular expressions, matched against the whole argument)
    /// for the arguments an operator may add, one per position; none by
    /// default. An argument that fails its pattern is rejected.
    #[serde(default)]
    pub args: Vec<String>,
}

fn default_action_timeout_s() -> u64 {
    300
}

/// A chain entry after validation: the id and block time are known.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidChain {
    /// The entry as written.
    pub config: ChainConfig,
    /// The chain id the node must report.
    pub chain_id: u64,
    /// The nominal block time.
    pub block_time: Duration,
    /// Whether the mempool is streamed.
    pub mempool: bool,
}

/// A checked agent config.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidAgentConfig {
    /// The config as written (with defaults filled in).
    pub config: AgentConfig,
    /// The chains, resolved.
    pub chains: Vec<ValidChain>,
}

impl Validate for AgentConfig {
    type Valid = ValidAgentConfig;

    fn validate(self) -> Result<ValidAgentConfig, KeyError> {
        if self.agent_id.is_empty() {
            return Err(KeyError::new(
                "agent_id",
                "is required: the name in this agent's certificate",
            ));
        }
        validate_name(&self.agent_id).map_err(|err| KeyError::new("agent_id", err))?;
        if self.coordinators.is_empty() {
            return Err(KeyError::new(
                "coordinators",
                "is required: at least one coordinator address, e.g. [\"10.0.0.1:7400\"]",
            ));
        }
        check::required_path("data_dir", &self.data_dir)?;
        self.tls.validate()?;
        for (key, value) in &self.labels {
            check_label(key, value)?;
        }
        let chains = self.validate_chains()?;
        self.validate_services()?;
        if let Some(mev_boost) = &self.mev_boost {
            check_scheme("mev_boost.url", &mev_boost.url, &["http", "https"])?;
            for (i, relay) in mev_boost.relays.iter().enumerate() {
                check_scheme(&format!("mev_boost.relays[{i}]"), relay, &["http", "https"])?;
            }
        }
        self.probe.validate()?;
        self.mempool.validate()?;
        if let Some(root) = &self.resources.cgroup_root {
            check::required_path("resources.cgroup_root", root)?;
        }
        if let Some(path) = &self.relay_key {
            check::required_path("relay_key", path)?;
        }
        self.validate_actions()?;
        Ok(ValidAgentConfig {
            config: self,
            chains,
        })
    }
}

impl AgentConfig {
    fn validate_chains(&self) -> Result<Vec<ValidChain>, KeyError> {
        let mut names = BTreeSet::new();
        let mut gateways = BTreeSet::new();
        let mut valid = Vec::with_capacity(self.chains.len());
        for (i, chain) in self.chains.iter().enumerate() {
            let key = |field: &str| format!("chains[{i}].{field}");
            validate_name(&chain.name).map_err(|err| KeyError::new(key("name"), err))?;
            if !names.insert(chain.name.as_str()) {
                return Err(KeyError::new(
                    key("name"),
                    format!("chain `{}` is listed twice", chain.name),
                ));
            }
            let (chain_id, block_time) = resolve_chain(chain, &key)?;
            check_scheme(&key("rpc"), &chain.rpc, &["http", "https"])?;
            for (r, relay) in chain.relays.iter().enumerate() {
                check_scheme(&key(&format!("relays[{r}]")), relay, &["http", "https"])?;
            }
            if let Some(ws) = &chain.ws {
                check_scheme(&key("ws"), ws, &["ws", "wss"])?;
            }
            if let Some(gateway) = chain.gateway {
                if !gateways.insert(gateway) {
                    return Err(KeyError::new(
                        key("gateway"),
                        format!("{gateway} is used by another chain"),
                    ));
                }
            } else if chain.execute {
                return Err(KeyError::new(
                    key("execute"),
                    "execute = true needs a `gateway` address for the strategy engine",
                ));
            }
            let mempool = chain
                .mempool
                .unwrap_or_else(|| mempool_default(&chain.name));
            if mempool && chain.ws.is_none() {
                return Err(KeyError::new(
                    key("ws"),
                    "mempool streaming is on for this chain and needs a `ws` URL (or set mempool = false)",
                ));
            }
            valid.push(ValidChain {
                config: chain.clone(),
                chain_id,
                block_time,
                mempool,
            });
        }
        Ok(valid)
    }

    fn validate_services(&self) -> Result<(), KeyError> {
        for (i, service) in self.services.iter().enumerate() {
            let valid_unit = !service.unit.is_empty()
                && service
                    .unit
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":_.@-\\".contains(&b));
            if !valid_unit {
                return Err(KeyError::new(
                    format!("services[{i}].unit"),
                    format!("`{}` is not a systemd unit name", service.unit),
                ));
            }
            if let Some(chain) = &service.chain {
                if !self.chains.iter().any(|c| &c.name == chain) {
                    return Err(KeyError::new(
                        format!("services[{i}].chain"),
                        format!("`{chain}` is not one of this agent's [[chains]]"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn validate_actions(&self) -> Result<(), KeyError> {
        for (name, action) in &self.actions {
            let key = |field: &str| format!("actions.{name}.{field}");
            validate_name(name).map_err(|err| KeyError::new(format!("actions.{name}"), err))?;
            if BUILTIN_ACTIONS.contains(&name.as_str()) {
                return Err(KeyError::new(
                    format!("actions.{name}"),
                    format!("`{name}` is a built-in action and cannot be redefined"),
                ));
            }
            if action
                .command
                .first()
                .is_none_or(|program| program.is_empty())
            {
                return Err(KeyError::new(
                    key("command"),
                    "is required: the program and its arguments, e.g. [\"systemctl\", \"restart\", \"erigon-mev\"]",
                ));
            }
            check::in_range(&key("timeout_s"), action.timeout_s, 1, 86_400)?;
        }
        crate::commands::action::Actions::new(&self.actions).map_err(|err| {
            let text = err.to_string();
            let (key, what) = text.split_once(": ").unwrap_or(("actions", text.as_str()));
            KeyError::new(key.to_owned(), what.to_owned())
        })?;
        Ok(())
    }
}

fn resolve_chain(
    chain: &ChainConfig,
    key: &dyn Fn(&str) -> String,
) -> Result<(u64, Duration), KeyError> {
    let known = known_chain(&chain.name);
    let chain_id = match (known, chain.chain_id) {
        (Some(known), Some(id)) if id != known.chain_id => {
            return Err(KeyError::new(
                key("chain_id"),
                format!(
                    "{} has chain id {}, not {id} (remove chain_id or fix it)",
                    known.name, known.chain_id
                ),
            ));
        }
        (Some(known), _) => known.chain_id,
        (None, Some(id)) => id,
        (None, None) => {
            return Err(KeyError::new(
                key("chain_id"),
                format!(
                    "`{}` is not a known chain: give its chain_id and block_time_ms",
                    chain.name
                ),
            ));
        }
    };
    let block_time = match (known, chain.block_time_ms) {
        (_, Some(ms)) => {
            check::in_range(&key("block_time_ms"), ms, 10, 600_000)?;
            Duration::from_millis(ms)
        }
        (Some(known), None) => known.block_time,
        (None, None) => {
            return Err(KeyError::new(
                key("block_time_ms"),
                format!(
                    "`{}` is not a known chain: give its block_time_ms",
                    chain.name
                ),
            ));
        }
    };
    Ok((chain_id, block_time))
}

fn check_scheme(key: &str, url: &Url, schemes: &[&str]) -> Result<(), KeyError> {
    if !schemes.contains(&url.scheme()) {
        return Err(KeyError::new(
            key,
            format!(
                "`{url}` has scheme {}, expected {}",
                url.scheme(),
                schemes.join(" or ")
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(KeyError::new(key, format!("`{url}` has no host")));
    }
    Ok(())
}

fn check_label(key: &str, value: &str) -> Result<(), KeyError> {
    mevfleet_common::labels::validate_label(key, value).map_err(|err| {
        KeyError::new(
            format!("labels.{key}"),
            format!("`{key} = \"{value}\"`: {}", err.why),
        )
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
