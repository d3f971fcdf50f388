//! t30 probes: the chain probe against real anvil nodes. The head it
//! reports matches the node's; a killed node turns down and a restarted one
//! healthy again; a node of another chain id is wrong_chain.

use std::time::Duration;

use alloy::providers::{Provider, ProviderBuilder};
use mevfleet_agent::probe::chain::{self, ChainStatus, ProbeSettings};
use mevfleet_agent::probe::verdict::VerdictPolicy;
use mevfleet_common::chain::HealthState;
use mevfleet_common::shutdown::Shutdown;
use mevfleet_tests::{init_logs, Anvil, DEFAULT_DEADLINE};
use tokio::sync::watch;

fn settings(anvil: &Anvil, chain_id: u64) -> ProbeSettings {
    ProbeSettings {
        chain: "ethereum".into(),
        rpc: anvil.url(),
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(500),
        policy: VerdictPolicy {
            chain_id,
            block_time: Duration::from_secs(12),
            stale_after_blocks: 5,
            min_peers: 0,
            // Generous: the suite runs on a loaded 2-core machine.
            high_latency: Duration::from_secs(1),
            failures_before_down: 3,
            successes_before_up: 2,
        },
    }
}

async fn wait_state(
    status: &mut watch::Receiver<ChainStatus>,
    state: HealthState,
) -> anyhow::Result<ChainStatus> {
    let waited = tokio::time::timeout(
        DEFAULT_DEADLINE,
        status.wait_for(|s| s.health.state == state),
    )
    .await
    .map(|seen| seen.map(|s| s.clone()));
    match waited {
        Ok(seen) => Ok(seen?),
        Err(_) => anyhow::bail!("the probe never reported {state}: {:?}", status.borrow()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_follows_a_real_node_through_a_crash_and_a_restart() -> anyhow::Result<()> {
    init_logs();
    let mut anvil = Anvil::start(1, Some(0.5))?;
    let shutdown = Shutdown::new();
    let mut status = chain::spawn(settings(&anvil, 1), &shutdown).status();

    // --- healthy, with the node's head (within one block: the chain moves)
    let seen = wait_state(&mut status, HealthState::Healthy).await?;
    let node = ProviderBuilder::new()
        .disable_recommended_fillers()
        .connect_hyper_http(anvil.url());
    let head = node.get_block_number().await?;
    let reported = seen
        .health
        .last
        .as_ref()
        .map(|r| r.head)
        .unwrap_or_default();
    assert!(
        head.abs_diff(reported) <= 1,
        "probe head {reported}, node head {head}"
    );
    assert_eq!(
        seen.health.last.as_ref().and_then(|r| r.peers),
        None,
        "anvil reports no peer count"
    );

    // --- the node is killed: down, with the reason
    anvil.kill()?;
    let down = wait_state(&mut status, HealthState::Down).await?;
    assert!(down.health.failures >= 3, "{down:?}");
    assert!(down.health.last_error.is_some(), "{down:?}");

    // --- the node comes back on the same port: healthy again
    anvil.restart()?;
    wait_state(&mut status, HealthState::Healthy).await?;

    shutdown.cancel();
    assert!(shutdown.wait(Duration::from_secs(10)).await);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_chain_is_wrong_chain() -> anyhow::Result<()> {
    init_logs();
    // --- the config says ethereum (chain id 1); the node is a devnet
    let anvil = Anvil::start(31337, Some(0.5))?;
    let shutdown = Shutdown::new();
    let mut status = chain::spawn(settings(&anvil, 1), &shutdown).status();
    let seen = wait_state(&mut status, HealthState::WrongChain).await?;
    assert_eq!(seen.health.last.as_ref().map(|r| r.chain_id), Some(31337));
    shutdown.cancel();
    assert!(shutdown.wait(Duration::from_secs(10)).await);
    Ok(())
}
