//! `CoordinatorConfig`: the coordinator's TOML config, its one set of
//! defaults, and the cross-field checks run before any port is bound.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mevfleet_common::chain::known_chain;
use mevfleet_common::config_file::{check, KeyError, Validate};
use mevfleet_common::identity::validate_name;
use mevfleet_common::net::HostPort;
use mevfleet_common::tls::TlsPaths;
use serde::{Deserialize, Serialize};

/// The coordinator's config file. Unknown keys are errors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoordinatorConfig {
    /// This member's Raft node id (a positive integer, a key of `[peers]`).
    pub node_id: u64,
    /// Where the Raft log and state machine live.
    pub data_dir: PathBuf,
    /// QUIC address for agents, the CLI and the other members.
    pub listen: SocketAddr,
    /// QUIC address for Raft's own calls between members (append, vote,
    /// snapshot), served by the Raft thread. The other members learn the
    /// port on `listen`. Unset: a free port on every address of `listen`'s
    /// family; set it where a firewall must know the port. A member that
    /// cannot reach it uses `listen` instead.
    pub raft_listen: Option<SocketAddr>,
    /// HTTP address for the dashboard, `/api`, `/mev` and `/metrics`.
    /// Loopback by default; writes need a bearer token wherever it listens.
    pub http: SocketAddr,
    /// The initial members, `id = "host:port"`. Members started with the
    /// same list form a cluster with no manual step.
    pub peers: BTreeMap<String, HostPort>,
    /// This member's certificate files.
    pub tls: TlsPaths,
    /// Executor leases.
    pub failover: FailoverConfig,
    /// Alert thresholds (the runbook's defaults).
    pub alerts: AlertsConfig,
    /// Per-chain policy, `[chains.<name>]`.
    pub chains: BTreeMap<String, ChainPolicyConfig>,
    /// Bearer tokens for the HTTP write paths, each bound to a role.
    pub http_tokens: Vec<HttpToken>,
    /// Routine automation: maintenance windows, disk cleanup, scheduled jobs.
    pub routine: RoutineConfig,
    /// Agent enrollment with one-time join tokens.
    pub enrollment: EnrollmentConfig,
}

/// `[enrollment]`: whether this member signs the certificates of agents
/// that enroll with a join token. Give the CA key to at least one member
/// (two or more so enrollment survives one being down).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrollmentConfig {
    /// The fleet CA's private key (`ca.key` from `mevfleet ca init`, mode
    /// 0600), matching `tls.ca`. Without it this member tells enrolling
    /// hosts to ask another.
    pub ca_key: Option<PathBuf>,
    /// How long an enrolled agent's certificate is valid, in days.
    pub cert_days: u32,
}

impl Default for EnrollmentConfig {
    fn default() -> Self {
        Self {
            ca_key: None,
            cert_days: 365,
        }
    }
}

/// `[routine]`: what the leader does on its own, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutineConfig {
    /// Maintenance windows, `HH:MM-HH:MM` in UTC (may cross midnight).
    pub windows: Vec<String>,
    /// The agents' action that frees disk space, run inside a window on a
    /// host whose disk is over `alerts.disk_percent`.
    pub disk_action: String,
    /// Over this, disk cleanup runs at once, window or not.
    pub emergency_disk_percent: u8,
    /// Scheduled jobs, run inside a window once their period has passed.
    pub jobs: Vec<RoutineJob>,
}

impl Default for RoutineConfig {
    fn default() -> Self {
        Self {
            windows: vec!["00:00-02:00".into()],
            disk_action: "cleanup-disk".into(),
            emergency_disk_percent: 95,
            jobs: Vec::new(),
        }
    }
}

/// `[[routine.jobs]]`: an action run on a schedule inside the windows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutineJob {
    /// The agents' action (`rotate-logs`, `optimize-databases`).
    pub action: String,
    /// At most once per this many hours.
    pub every_h: u64,
    /// Which agents (`all`, ids, labels).
    #[serde(default = "all_agents")]
    pub target: String,
}

fn all_agents() -> String {
    "all".into()
}

/// `[[http_tokens]]`: one bearer token for HTTP writes. Only its SHA-256
/// is kept (`openssl rand -hex 32 | tee token | tr -d '\n' | sha256sum`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpToken {
    /// Who holds it (the audit log names it).
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    /// The token's SHA-256, 64 hex digits.
    pub sha256: String,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            node_id: 0,
            data_dir: PathBuf::from("/var/lib/mevfleet-coordinator"),
            listen: SocketAddr::from(([0, 0, 0, 0], 7400)),
            raft_listen: None,
            http: SocketAddr::from(([127, 0, 0, 1], 8082)),
            peers: BTreeMap::new(),
            tls: TlsPaths::default(),
            failover: FailoverConfig::default(),
            alerts: AlertsConfig::default(),
            chains: BTreeMap::new(),
            http_tokens: Vec::new(),
            routine: RoutineConfig::default(),
            enrollment: EnrollmentConfig::default(),
        }
    }
}

/// `[failover]`: executor leases and the heartbeats that renew them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FailoverConfig {
    /// How long an executor lease lasts without renewal.
    pub lease_ms: u64,
    /// How often agents heartbeat (and leases are renewed). At most half the lease.
    pub heartbeat_ms: u64,
    /// An agent silent for longer than this is marked lost.
    pub agent_lost_ms: u64,
    /// A new leader gives agents this long to reconnect before marking any lost.
    pub leader_grace_ms: u64,
}

impl Default for FailoverConfig {
    fn default() -> Self {
        Self {
            lease_ms: 3000,
            heartbeat_ms: 250,
            agent_lost_ms: 3000,
            leader_grace_ms: 10_000,
        }
    }
}

/// `[alerts]`: thresholds from the runbook's monitor config.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// A missed opportunity worth more than this (ETH) raises an alert.
    pub missed_opportunity_eth: f64,
    /// A success rate under this fraction (0 to 1) raises an alert.
    pub min_success_rate: f64,
    /// RPC latency above this marks a node degraded and raises an alert.
    pub high_latency_ms: u64,
    /// p50 fee over this multiple of its trailing median is a gas spike.
    pub gas_spike_multiplier: f64,
    /// Disk usage over this percentage raises an alert and, inside a
    /// maintenance window, triggers disk cleanup.
    pub disk_percent: u8,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            missed_opportunity_eth: 0.1,
            min_success_rate: 0.5,
            high_latency_ms: 15,
            gas_spike_multiplier: 2.0,
            disk_percent: 85,
        }
    }
}

/// `[chains.<name>]`: fleet policy for one chain.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainPolicyConfig {
    /// The chain id; required for chains not known by name.
    pub chain_id: Option<u64>,
    /// Nominal block time; required for chains not known by name.
    pub block_time_ms: Option<u64>,
    /// A node more than this many blocks behind the corroborated head is lagging.
    pub lag_blocks: u64,
    /// A head block older than this many block times is stale.
    pub stale_after_blocks: u32,
    /// Fewer peers than this marks a node degraded (where peers are reported).
    pub min_peers: u32,
    /// Maintenance never leaves fewer healthy nodes than this for the chain.
    pub min_healthy: u32,
}

impl Default for ChainPolicyConfig {
    fn default() -> Self {
        Self {
            chain_id: None,
            block_time_ms: None,
            lag_blocks: 3,
            stale_after_blocks: 5,
            min_peers: 3,
            min_healthy: 1,
        }
    }
}

/// A chain policy with its id and block time resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChainPolicy {
    /// The policy as written.
    pub config: ChainPolicyConfig,
    /// The chain id.
    pub chain_id: u64,
    /// The nominal block time.
    pub block_time: Duration,
}

/// A checked coordinator config.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidCoordinatorConfig {
    /// The config as written (with defaults filled in).
    pub config: CoordinatorConfig,
    /// The initial members by node id.
    pub peers: BTreeMap<u64, HostPort>,
    /// Chain policies by name.
    pub chains: BTreeMap<String, ChainPolicy>,
}

impl ValidCoordinatorConfig {
    /// The lease duration.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.config.failover.lease_ms)
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.config.failover.heartbeat_ms)
    }
}

impl Validate for CoordinatorConfig {
    type Valid = ValidCoordinatorConfig;

    fn validate(self) -> Result<ValidCoordinatorConfig, KeyError> {
        if self.node_id == 0 {
            return Err(KeyError::new(
                "node_id",
                "is required: a positive integer, this member's key in [peers]",
            ));
        }
        check::required_path("data_dir", &self.data_dir)?;
        self.validate_raft_listen()?;
        self.tls.validate()?;
        let peers = self.validate_peers()?;
        self.validate_failover()?;
        self.validate_alerts()?;
        self.validate_routine()?;
        let chains = self.validate_chains()?;
        self.validate_http_tokens()?;
        check::in_range("enrollment.cert_days", self.enrollment.cert_days, 1, 3650)?;
        if let Some(key) = &self.enrollment.ca_key {
            check::required_path("enrollment.ca_key", key)?;
        }
        Ok(ValidCoordinatorConfig {
            config: self,
            peers,
            chains,
        })
    }
}

impl CoordinatorConfig {
    fn validate_raft_listen(&self) -> Result<(), KeyError> {
        let Some(raft) = self.raft_listen else {
            return Ok(());
        };
        let overlaps = |ip: std::net::IpAddr| {
            ip == raft.ip() || ip.is_unspecified() || raft.ip().is_unspecified()
        };
        if raft.port() != 0 && raft.port() == self.listen.port() && overlaps(self.listen.ip()) {
            return Err(KeyError::new(
                "raft_listen",
                format!(
                    "must not be the QUIC port `listen` ({}): give Raft a port of its own",
                    self.listen
                ),
            ));
        }
        Ok(())
    }

    fn validate_peers(&self) -> Result<BTreeMap<u64, HostPort>, KeyError> {
        let mut peers = BTreeMap::new();
        for (id, addr) in &self.peers {
            let node_id = id.parse::<u64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                KeyError::new(
                    format!("peers.{id}"),
                    "peer keys are node ids: positive integers",
                )
            })?;
            peers.insert(node_id, addr.clone());
        }
        if !peers.is_empty() && !peers.contains_key(&self.node_id) {
            return Err(KeyError::new(
                "peers",
                format!(
                    "node_id {} is not among the peers ({}): every member lists itself",
                    self.node_id,
                    join_keys(&peers)
                ),
            ));
        }
        Ok(peers)
    }

    fn validate_http_tokens(&self) -> Result<(), KeyError> {
        for (i, token) in self.http_tokens.iter().enumerate() {
            let key = |field: &str| format!("http_tokens[{i}].{field}");
            if token.name.is_empty() {
                return Err(KeyError::new(
                    key("name"),
                    "is required: who holds the token",
                ));
            }
            if !["admin", "operator", "viewer"].contains(&token.role.as_str()) {
                return Err(KeyError::new(
                    key("role"),
                    format!("`{}` is not admin, operator or viewer", token.role),
                ));
            }
            let hex =
                token.sha256.len() == 64 && token.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex {
                return Err(KeyError::new(
                    key("sha256"),
                    "must be the token's SHA-256 as 64 hex digits (not the token itself)",
                ));
            }
        }
        Ok(())
    }

    fn validate_failover(&self) -> Result<(), KeyError> {
        let failover = &self.failover;
        check::in_range("failover.lease_ms", failover.lease_ms, 100, 600_000)?;
        check::in_range("failover.heartbeat_ms", failover.heartbeat_ms, 10, 60_000)?;
        if failover.heartbeat_ms * 2 > failover.lease_ms {
            return Err(KeyError::new(
                "failover.heartbeat_ms",
                format!(
                    "{} ms must be shorter than the lease: at most half of failover.lease_ms ({} ms), so one lost heartbeat does not end a lease",
                    failover.heartbeat_ms, failover.lease_ms
                ),
            ));
        }
        check::in_range(
            "failover.agent_lost_ms",
            failover.agent_lost_ms,
            100,
            3_600_000,
        )?;
        if failover.agent_lost_ms < failover.heartbeat_ms * 2 {
            return Err(KeyError::new(
                "failover.agent_lost_ms",
                format!(
                    "{} ms is too short: at least two heartbeats (2 x failover.heartbeat_ms = {} ms), or one late heartbeat marks an agent lost",
                    failover.agent_lost_ms,
                    failover.heartbeat_ms * 2
                ),
            ));
        }
        check::in_range(
            "failover.leader_grace_ms",
            failover.leader_grace_ms,
            0,
            3_600_000,
        )?;
        Ok(())
    }

    fn validate_alerts(&self) -> Result<(), KeyError> {
        let alerts = &self.alerts;
        check::in_range(
            "alerts.missed_opportunity_eth",
            alerts.missed_opportunity_eth,
            0.0,
            1e6,
        )?;
        check::in_range("alerts.min_success_rate", alerts.min_success_rate, 0.0, 1.0)?;
        check::in_range("alerts.high_latency_ms", alerts.high_latency_ms, 1, 600_000)?;
        check::in_range(
            "alerts.gas_spike_multiplier",
            alerts.gas_spike_multiplier,
            1.0,
            1000.0,
        )?;
        check::in_range("alerts.disk_percent", alerts.disk_percent, 1, 100)
    }

    fn validate_routine(&self) -> Result<(), KeyError> {
        let routine = &self.routine;
        for (i, window) in routine.windows.iter().enumerate() {
            crate::fleet::routine::parse_window(window)
                .map_err(|err| KeyError::new(format!("routine.windows[{i}]"), err))?;
        }
        if routine.disk_action.trim().is_empty() {
            return Err(KeyError::new(
                "routine.disk_action",
                "is required: an action name",
            ));
        }
        check::in_range(
            "routine.emergency_disk_percent",
            routine.emergency_disk_percent,
            1,
            100,
        )?;
        for (i, job) in routine.jobs.iter().enumerate() {
            let key = |field: &str| format!("routine.jobs[{i}].{field}");
            if job.action.trim().is_empty() {
                return Err(KeyError::new(key("action"), "is required: an action name"));
            }
            check::in_range(&key("every_h"), job.every_h, 1, 24 * 365)?;
            mevfleet_common::command::Target::parse(&job.target)
                .map_err(|err| KeyError::new(key("target"), err.to_string()))?;
        }
        Ok(())
    }

    fn validate_chains(&self) -> Result<BTreeMap<String, ChainPolicy>, KeyError> {
        let mut chains = BTreeMap::new();
        for (name, policy) in &self.chains {
            let key = |field: &str| format!("chains.{name}.{field}");
            validate_name(name).map_err(|err| KeyError::new(format!("chains.{name}"), err))?;
            let known = known_chain(name);
            let chain_id = match (known, policy.chain_id) {
                (Some(k), Some(id)) if id != k.chain_id => {
                    return Err(KeyError::new(
                        key("chain_id"),
                        format!("{name} has chain id {}, not {id}", k.chain_id),
                    ));
                }
                (Some(k), _) => k.chain_id,
                (None, Some(id)) => id,
                (None, None) => {
                    return Err(KeyError::new(
                        key("chain_id"),
                        format!(
                            "`{name}` is not a known chain: give its chain_id and block_time_ms"
                        ),
                    ));
                }
            };
            let block_time = match (known, policy.block_time_ms) {
                (_, Some(ms)) => {
                    check::in_range(&key("block_time_ms"), ms, 10, 600_000)?;
                    Duration::from_millis(ms)
                }
                (Some(k), None) => k.block_time,
                (None, None) => {
                    return Err(KeyError::new(
                        key("block_time_ms"),
                        format!("`{name}` is not a known chain: give its block_time_ms"),
                    ));
                }
            };
            check::in_range(&key("lag_blocks"), policy.lag_blocks, 1, 1_000_000)?;
            check::in_range(
                &key("stale_after_blocks"),
                policy.stale_after_blocks,
                1,
                10_000,
            )?;
            check::in_range(&key("min_healthy"), policy.min_healthy, 0, 1000)?;
            chains.insert(
                name.clone(),
                ChainPolicy {
                    config: *policy,
                    chain_id,
                    block_time,
                },
            );
        }
        Ok(chains)
    }
}

fn join_keys(peers: &BTreeMap<u64, HostPort>) -> String {
    peers
        .keys()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
