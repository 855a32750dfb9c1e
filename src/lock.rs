//! One way to take a lock. A poisoned lock means another task panicked while
//! holding it; the run is already failing loudly, so keep going with the
//! data. (Slots, the semaphore every modelled hop takes, are in
//! `crate::slots`.)

use std::sync::{Mutex, MutexGuard};

pub trait Locked<T> {
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> Locked<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|e| e.into_inner())
    }
}
