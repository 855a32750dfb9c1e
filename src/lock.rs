//! One way to take a lock, and one to take a semaphore's permit. A poisoned
//! lock means another task panicked while holding it; the run is already
//! failing loudly, so keep going with the data.

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError};

pub trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A permit from a semaphore that is never closed (`None` only if it is):
/// at once when one is free, else in turn, first come first served.
///
/// Why not `acquire()` alone: it builds an `Acquire` future (a waiter node,
/// a waker slot, a drop that checks whether it queued) and polls through it
/// even when a permit is free, and every modelled hop of every payment
/// takes a slot. A free permit means nobody is queued (tokio hands a
/// released permit to the first waiter), so taking it at once jumps no
/// queue.
pub async fn permit(s: &Semaphore) -> Option<SemaphorePermit<'_>> {
    match s.try_acquire() {
        Ok(p) => Some(p),
        Err(TryAcquireError::NoPermits) => s.acquire().await.ok(),
        Err(TryAcquireError::Closed) => None,
    }
}

/// [`permit`], for a permit that outlives the borrow (a spawned task's).
pub async fn owned_permit(s: Arc<Semaphore>) -> Option<OwnedSemaphorePermit> {
    match s.clone().try_acquire_owned() {
        Ok(p) => Some(p),
        Err(TryAcquireError::NoPermits) => s.acquire_owned().await.ok(),
        Err(TryAcquireError::Closed) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A free permit is taken at once; when none is free, waiters are
    /// served in the order they came, and a late caller does not jump
    /// them.
    #[test]
    fn permits_come_at_once_or_in_turn() {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let done = crate::sim::executor::block_on(async {
            let s = Arc::new(Semaphore::new(1));
            let first = permit(&s).await.expect("free");
            assert_eq!(s.available_permits(), 0);
            let mut waiters = Vec::new();
            for n in 0..3 {
                let (s, order) = (s.clone(), order.clone());
                waiters.push(crate::sim::executor::spawn(async move {
                    let _p = owned_permit(s).await.expect("never closed");
                    order.borrow_mut().push(n);
                    crate::sim::executor::yield_now().await;
                }));
            }
            crate::sim::executor::yield_now().await;
            drop(first);
            // Released to waiter 0, not to this late caller.
            assert!(s.try_acquire().is_err());
            for w in waiters {
                w.await;
            }
            assert!(permit(&s).await.is_some());
            s.close();
            assert!(permit(&s).await.is_none());
        });
        assert!(done.is_ok());
        assert_eq!(*order.borrow(), vec![0, 1, 2]);
    }
}
