//! The shared test harness: a fleet PKI in a temp folder, in-process
//! coordinators on `127.0.0.1:0`, the built binaries, and waiting on
//! conditions with deadlines (never fixed ports, never bare sleeps).

pub mod anvil;
pub mod cluster;
pub mod coordinator;
pub mod fleet;
pub mod http;
pub mod pki;
pub mod process;
pub mod processes;
pub mod relay;
pub mod wait;

pub use anvil::Anvil;
pub use cluster::TestCluster;
pub use coordinator::{admin_request, dial, dial_as, hello_as_agent, LOCALHOST};
pub use fleet::{AgentNode, TestFleet};
pub use http::{
    http_get, http_post, json_rpc, json_rpc_with_headers, metric_at, metric_in,
    promtool_check_metrics,
};
pub use pki::TestPki;
pub use process::{bin_path, ChildProcess};
pub use processes::{coordinator_configs, data_dirs, free_ports, ProcessMember};
pub use wait::{wait_until, wait_until_ok, DEFAULT_DEADLINE};

/// Installs a test log subscriber once (`RUST_LOG` to see it).
pub fn init_logs() {
    mevfleet_common::telemetry::init(mevfleet_common::telemetry::LogFormat::Text, "warn");
}
