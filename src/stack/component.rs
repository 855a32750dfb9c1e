//! What every modelled component shares: a latency drawn from its model and a
//! capacity (calls served at once). A call waits for a free slot, spends the
//! sampled latency, then performs its effect — so queueing under load shows up
//! in the latency the clients measure, as it would in production.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::sim::rng::SharedRng;
use crate::sim::{Clock, LatencyModel, Seed};

pub struct Component {
    name: &'static str,
    latency: LatencyModel,
    slots: crate::slots::Slots,
    rng: SharedRng,
    clock: Clock,
    calls: AtomicU64,
}

impl Component {
    pub fn new(
        name: &'static str,
        index: u64,
        latency: LatencyModel,
        capacity: u32,
        seed: Seed,
        clock: Clock,
    ) -> Component {
        Component {
            name,
            latency,
            slots: crate::slots::Slots::new(capacity as usize),
            rng: seed.shared(name, index),
            clock,
            calls: AtomicU64::new(0),
        }
    }

    /// Waits for a slot, spends one latency draw, then runs `effect`.
    pub async fn serve<T>(&self, effect: impl FnOnce() -> T) -> T {
        self.serve_touching(crate::sim::executor::NO_HINT, effect)
            .await
    }

    /// [`Component::serve`], for an `effect` that reads the lines at
    /// addresses `entries` first (up to four table entries whose places are
    /// known before the call; 0 for none): the sim executor asks for them
    /// ahead of the wake (`executor::hint_next_sleep`). Addresses, not
    /// pointers: a hint, never read through, and a future holding it stays
    /// `Send`. Callers find them through [`Component::hint`]: only in the
    /// sim, as under tokio nothing reads them, and finding them takes locks.
    pub async fn serve_touching<T>(
        &self,
        entries: crate::sim::executor::Hint,
        effect: impl FnOnce() -> T,
    ) -> T {
        let _slot = self.slots.take().await;
        let delay = self.rng.with(|r| self.latency.sample(r));
        if !delay.is_zero() {
            crate::sim::executor::hint_next_sleep(entries);
        }
        self.clock.sleep(delay).await;
        self.calls.fetch_add(1, Ordering::Relaxed);
        effect()
    }

    /// A hint for [`Component::serve_touching`]: `find` under the sim
    /// executor, the only reader of hints; 0 (none) otherwise.
    pub fn hint(find: impl FnOnce() -> crate::sim::executor::Hint) -> crate::sim::executor::Hint {
        match crate::sim::executor::active() {
            true => find(),
            false => crate::sim::executor::NO_HINT,
        }
    }

    /// [`Component::hint`] for one line.
    pub fn hint_line(find: impl FnOnce() -> usize) -> usize {
        Component::hint(|| [find(), 0, 0, 0])[0]
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Draws from this component's own random stream.
    pub fn rng(&self) -> &SharedRng {
        &self.rng
    }
}
