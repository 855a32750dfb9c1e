//! Spawning for code that runs in both modes: on the sim executor when this
//! thread is running one (sim mode), on tokio otherwise (live mode, and
//! unit tests on tokio's runtime). The stack never calls `tokio::spawn`
//! itself, so the same components serve both.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::executor;

/// A spawned task's output, from either engine.
pub enum Task<T> {
    Sim(executor::JoinHandle<T>),
    Tokio(tokio::task::JoinHandle<T>),
}

/// Starts `future` as a task of its own.
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if executor::active() {
        Task::Sim(executor::spawn(future))
    } else {
        Task::Tokio(tokio::spawn(future))
    }
}

/// Starts `future` and forgets it (cheaper than [`spawn`] in sim mode: no
/// join state).
pub fn spawn_detached<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if executor::active() {
        executor::spawn_detached(future);
    } else {
        drop(tokio::spawn(future));
    }
}

/// Starts `future` if this thread has an engine to run it on; drops it
/// otherwise (the runtime is being torn down and nobody is left to see it).
pub fn spawn_if_running<F>(future: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    if executor::active() {
        executor::spawn_detached(future);
    } else if let Ok(rt) = tokio::runtime::Handle::try_current() {
        drop(rt.spawn(future));
    }
}

impl<T> Future for Task<T> {
    /// `None` if the task did not finish: tokio cancelled it (its runtime
    /// shut down) or it panicked.
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.get_mut() {
            Task::Sim(h) => Pin::new(h).poll(cx).map(Some),
            Task::Tokio(h) => Pin::new(h).poll(cx).map(Result::ok),
        }
    }
}
