//! Awaiting a spawned task's output.
//!
//! A mutex rather than a `RefCell`: the handle must be `Send` wherever its
//! output is, because the stack's code (shared with live mode, on tokio's
//! multi-threaded runtime) keeps handles inside `Send` futures. In a sim run
//! the lock is never contended.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

struct State<T> {
    output: Option<T>,
    finished: bool,
    waiter: Option<Waker>,
}

/// The output of a task started with [`super::spawn`]. Dropping the handle
/// detaches the task; it runs on.
pub struct JoinHandle<T> {
    state: Arc<Mutex<State<T>>>,
}

pub(super) fn wrap<F: Future>(future: F) -> (JoinHandle<F::Output>, impl Future<Output = ()>) {
    let state = Arc::new(Mutex::new(State {
        output: None,
        finished: false,
        waiter: None,
    }));
    let handle = JoinHandle {
        state: state.clone(),
    };
    let task = async move {
        let out = future.await;
        let waiter = {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            s.output = Some(out);
            s.finished = true;
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.wake();
        }
    };
    (handle, task)
}

impl<T> JoinHandle<T> {
    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .finished
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match s.output.take() {
            Some(out) => Poll::Ready(out),
            None => {
                // A finished task whose output was taken is never polled
                // again by a correct caller; waiting forever would be a bug
                // the stall detector reports.
                s.waiter = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
