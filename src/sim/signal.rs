//! A one-shot signal that wakes its waiters in a fixed order, for stopping
//! the background tasks at the end of a run.
//!
//! Not `tokio::sync::watch`: a watch receiver waits on one of eight
//! notifiers chosen by the runtime's random number generator (to spread
//! contention), so which task wakes first differs between two runs of the
//! same seed — and a run must be byte-identical. `Notify` keeps one list,
//! woken in the order tasks began to wait.

use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

#[derive(Clone, Default)]
pub struct Signal {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    fired: AtomicBool,
    notify: Notify,
}

impl Signal {
    pub fn new() -> Signal {
        Signal::default()
    }

    /// Fires it: every waiter wakes, and later waits return at once.
    pub fn fire(&self) {
        self.inner.fired.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    pub fn fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Waits until it has fired.
    pub async fn wait(&self) {
        let mut notified = pin!(self.inner.notify.notified());
        // Registered before the flag is read, so a fire in between is seen.
        notified.as_mut().enable();
        if self.fired() {
            return;
        }
        notified.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waiters_wake_when_it_fires_and_later_waits_return_at_once() {
        let s = Signal::new();
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (s, order) = (s.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                s.wait().await;
                order.lock().unwrap().push(i);
            }));
        }
        tokio::task::yield_now().await;
        assert!(order.lock().unwrap().is_empty());
        s.fire();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(order.lock().unwrap().len(), 5);
        s.wait().await; // already fired: returns at once
    }
}
