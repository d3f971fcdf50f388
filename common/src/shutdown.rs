//! One cancellation token and one task tracker for the whole process: every
//! long-lived task is spawned through [`Shutdown`], watches its token, and is
//! waited for with a grace deadline when the process stops.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn, Instrument};

/// The process's shutdown handle. Clones share the same token and tracker.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tracker: TaskTracker,
    failed: Arc<AtomicBool>,
}

impl Shutdown {
    /// A fresh, not yet cancelled handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token long-lived loops select on (first, before their work).
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// Whether shutdown has begun.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves once shutdown has begun.
    pub async fn cancelled(&self) {
        self.token.cancelled().await
    }

    /// Begins shutdown: every task watching the token winds down.
    pub fn cancel(&self) {
        self.token.cancel()
    }

    /// Whether a critical task failed (the process should exit non-zero so
    /// its supervisor restarts it).
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// A child handle whose cancellation does not stop the parent, for a
    /// component that may be stopped on its own (one connection, one server).
    pub fn child(&self) -> Shutdown {
        Shutdown {
            token: self.token.child_token(),
            tracker: self.tracker.clone(),
            failed: self.failed.clone(),
        }
    }

    /// Spawns a tracked task inside a span named `name`.
    pub fn spawn<F>(&self, name: &'static str, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker
            .spawn(task.instrument(tracing::info_span!("task", name = name)))
    }

    /// Like [`Shutdown::spawn`], on the runtime behind `handle` (a thread of
    /// the process's own, such as Raft's).
    pub fn spawn_on<F>(
        &self,
        name: &'static str,
        handle: &tokio::runtime::Handle,
        task: F,
    ) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn_on(
            task.instrument(tracing::info_span!("task", name = name)),
            handle,
        )
    }

    /// Spawns a task the process cannot live without: if it returns an error
    /// or panics, the whole process shuts down instead of running half alive.
    pub fn spawn_critical<F, E>(&self, name: &'static str, task: F) -> tokio::task::JoinHandle<()>
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let token = self.token.clone();
        let failed = self.failed.clone();
        let inner = tokio::spawn(task.instrument(tracing::info_span!("task", name = name)));
        self.tracker.spawn(async move {
            match inner.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    error!(task = name, error = %err, "critical task failed; shutting down");
                    failed.store(true, Ordering::SeqCst);
                    token.cancel();
                }
                Err(join) => {
                    error!(task = name, error = %join, "critical task panicked; shutting down");
                    failed.store(true, Ordering::SeqCst);
                    token.cancel();
                }
            }
        })
    }

    /// Closes the tracker and waits for every tracked task, at most `grace`.
    /// Returns false when tasks were still running at the deadline.
    pub async fn wait(&self, grace: Duration) -> bool {
        self.tracker.close();
        match tokio::time::timeout(grace, self.tracker.wait()).await {
            Ok(()) => true,
            Err(_) => {
                warn!(
                    remaining = self.tracker.len(),
                    grace_ms = grace.as_millis() as u64,
                    "tasks still running at the shutdown deadline"
                );
                false
            }
        }
    }

    /// Cancels the token on SIGTERM or SIGINT. Spawned as a tracked task.
    pub fn cancel_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let token = self.token.clone();
        self.spawn("signals", async move {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = term.recv() => info!(signal = "SIGTERM", "shutting down"),
                _ = int.recv() => info!(signal = "SIGINT", "shutting down"),
            }
            token.cancel();
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_critical_task_cancels_the_process() {
        let shutdown = Shutdown::new();
        shutdown.spawn_critical("doomed", async { Err::<(), _>("store failed") });
        tokio::time::timeout(Duration::from_secs(5), shutdown.cancelled())
            .await
            .expect("critical failure cancels the token");
        assert!(shutdown.has_failed());
        assert!(shutdown.wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn wait_returns_once_tasks_see_the_token() {
        let shutdown = Shutdown::new();
        let token = shutdown.token().clone();
        shutdown.spawn("loop", async move { token.cancelled().await });
        shutdown.cancel();
        assert!(shutdown.wait(Duration::from_secs(5)).await);
        assert!(!shutdown.has_failed());
    }

    #[tokio::test]
    async fn a_child_stops_without_stopping_the_parent() {
        let parent = Shutdown::new();
        let child = parent.child();
        child.cancel();
        assert!(child.is_cancelled());
        assert!(!parent.is_cancelled());
    }
}
