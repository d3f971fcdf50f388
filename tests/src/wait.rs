//! Waiting on a condition with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

/// The default deadline for a condition in the suites: generous, because
/// the machines are shared and noisy; a passing test returns long before.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// Polls `check` until it returns `Some`, or fails after `deadline` with
/// `what` in the message.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if started.elapsed() > deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}
