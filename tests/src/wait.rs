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
    wait_until_ok(what, deadline, || {
        let attempt = check();
        async move { attempt.await.ok_or_else(String::new) }
    })
    .await
}

/// Polls `check` until it returns `Ok`, or fails after `deadline` with
/// `what` and the last `Err` in the message: `check` says what it saw when
/// the condition did not hold, so a timeout tells where things stood.
pub async fn wait_until_ok<T, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        let seen = match check().await {
            Ok(value) => return Ok(value),
            Err(seen) => seen,
        };
        if started.elapsed() > deadline {
            let timed_out = anyhow::anyhow!("timed out after {deadline:?} waiting for {what}");
            if seen.is_empty() {
                return Err(timed_out);
            }
            return Err(timed_out.context(format!("last seen: {seen}")));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timeout_names_what_was_last_seen() {
        let mut polls = 0;
        let result: anyhow::Result<()> = wait_until_ok("never", Duration::ZERO, || {
            polls += 1;
            let seen = format!("poll {polls}");
            async move { Err(seen) }
        })
        .await;
        let message = result.err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(message.contains("last seen: poll 1"), "{message}");
        assert!(message.contains("never"), "{message}");
    }
}
