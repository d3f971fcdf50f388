//! The thread Raft runs on. openraft's core, its replication streams, the
//! write batcher, the store's synchronous writes, and the Raft port (the
//! endpoint this member dials its peers from and answers their openraft
//! calls on, with its connections) all run on one worker thread of their
//! own, apart from the runtime that serves agents, admins and HTTP. Thousands of agents' heartbeats then cannot hold up the
//! leader's heartbeats to its followers (which would make them elect
//! another leader) nor its followers' answers (which would stop commits),
//! and a store sync cannot stop agent traffic while it runs.

use std::future::Future;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;

/// The thread's name (and its tasks' thread in `top -H` and profiles).
pub const RAFT_THREAD_NAME: &str = "mevfleet-raft";

/// Why the Raft thread could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the Raft thread: {0}")]
pub struct RaftThreadError(#[from] std::io::Error);

/// A one-worker runtime for Raft; stops its tasks when dropped.
#[derive(Debug)]
pub struct RaftThread {
    runtime: Option<Runtime>,
    handle: Handle,
}

impl RaftThread {
    /// Starts the thread.
    pub fn start() -> Result<Self, RaftThreadError> {
        let runtime = Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(RAFT_THREAD_NAME)
            .enable_all()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    /// Runs `task` on the Raft thread.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }

    /// Where to spawn onto the Raft thread from elsewhere.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for RaftThread {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks end, which a runtime
        // thread must not do; by now `NodeCore::shutdown` has stopped Raft.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_the_raft_thread_and_stop_with_it() {
        let thread = RaftThread::start().expect("start");
        let name = thread
            .spawn(async { std::thread::current().name().map(str::to_owned) })
            .await
            .expect("task ran");
        assert_eq!(name.as_deref(), Some(RAFT_THREAD_NAME));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let pending = thread.spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await
        });
        drop(thread);
        assert!(
            rx.await.is_err(),
            "the task's state is dropped with the thread"
        );
        assert!(pending.await.is_err_and(|err| err.is_cancelled()));
    }
}
