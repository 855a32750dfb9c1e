//! A bulkhead: at most `max_concurrent` calls into one downstream at once; a
//! call waits at most `max_wait_ms` for a slot, then is refused. A slow
//! issuer then ties up only its own slots, and payments routed elsewhere
//! keep flowing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sim::Clock;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BulkheadConfig {
    pub enabled: bool,
    /// Calls in flight into one issuer (from its networks and the bank
    /// rails). Well under `stack.networks.links`, so one slow issuer
    /// cannot hold every link its network has.
    pub max_concurrent: u32,
    /// Calls in flight from the gateway into one card network.
    pub network_max_concurrent: u32,
    /// How long a call waits for a slot before it is refused.
    pub max_wait_ms: f64,
}

impl Default for BulkheadConfig {
    fn default() -> BulkheadConfig {
        BulkheadConfig {
            enabled: true,
            max_concurrent: 2_500,
            network_max_concurrent: 10_000,
            max_wait_ms: 100.0,
        }
    }
}

/// No slot within the wait: refused, nothing happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadFull;

pub struct Bulkhead {
    slots: crate::slots::Slots,
    max_wait: Duration,
    clock: Clock,
    rejected: AtomicU64,
}

impl Bulkhead {
    pub fn new(slots: u32, max_wait_ms: f64, clock: Clock) -> Bulkhead {
        Bulkhead {
            slots: crate::slots::Slots::new(slots as usize),
            max_wait: crate::sim::clock::ms_f64(max_wait_ms),
            clock,
            rejected: AtomicU64::new(0),
        }
    }

    /// A slot, held until it is dropped, or a refusal.
    pub async fn enter(&self) -> Result<crate::slots::Slot<'_>, BulkheadFull> {
        if let Some(slot) = self.slots.try_take() {
            return Ok(slot);
        }
        match self
            .clock
            .timeout(self.max_wait, self.slots.take())
            .await
            .ok()
        {
            Some(slot) => Ok(slot),
            None => {
                self.rejected.fetch_add(1, Ordering::Relaxed);
                Err(BulkheadFull)
            }
        }
    }

    pub fn rejected(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_bulkhead_refuses_after_its_wait() {
        let clock = Clock::start();
        let b = Bulkhead::new(2, 50.0, clock);
        let p1 = b.enter().await.unwrap();
        let _p2 = b.enter().await.unwrap();
        let t0 = clock.now_us();
        assert_eq!(b.enter().await.err(), Some(BulkheadFull));
        assert_eq!(clock.now_us() - t0, 50_000, "it waited its 50 ms");
        drop(p1);
        assert!(b.enter().await.is_ok(), "a freed slot is taken at once");
        assert_eq!(b.rejected(), 1);
    }
}
