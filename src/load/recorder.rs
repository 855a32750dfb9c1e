//! What the clients write down: the Jepsen-style history (to the observer),
//! the latency histograms, and the counts of every behaviour.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::audit::Observer;
use crate::domain::history::{HistoryEvent, HistoryKind};
use crate::domain::{Method, OpId};
use crate::lock::Locked;
use crate::metrics::{LatencyBook, OpKind};
use crate::sim::Clock;

/// Counts of what the clients did and saw; results.json's `counts`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Counts {
    /// Payments the clients tried to create (logical requests, not attempts).
    pub attempted: u64,
    pub succeeded: u64,
    pub declined: u64,
    /// Definite errors other than declines.
    pub failed: u64,
    /// No definite answer before the client gave up.
    pub unknown: u64,
    /// Attempts beyond the first, over all operations.
    pub retries: u64,
    pub timeouts: u64,
    pub abandoned_at_device: u64,
    pub double_submits: u64,
    pub key_reuse_mismatches: u64,
    pub keyless: u64,
    pub wrong_device: u64,
    pub pay_again: u64,
    pub captures: u64,
    pub partial_captures: u64,
    pub voids: u64,
    pub abandoned_holds: u64,
    pub refunds: u64,
    pub double_refunds: u64,
    pub gets: u64,
    pub replays_seen: u64,
    pub late_arrivals: u64,
    pub dropped_arrivals: u64,
}

pub struct Recorder {
    observer: Arc<dyn Observer>,
    clock: Clock,
    next_op: AtomicU64,
    latency: Mutex<LatencyBook>,
    counts: Mutex<Counts>,
}

impl Recorder {
    pub fn new(observer: Arc<dyn Observer>, clock: Clock) -> Recorder {
        Recorder {
            observer,
            clock,
            next_op: AtomicU64::new(1),
            latency: Mutex::new(LatencyBook::default()),
            counts: Mutex::new(Counts::default()),
        }
    }

    pub fn new_op(&self) -> OpId {
        OpId(self.next_op.fetch_add(1, Ordering::Relaxed))
    }

    pub fn history(&self, op: OpId, kind: HistoryKind) {
        self.observer.history(HistoryEvent {
            at_us: self.clock.now_us(),
            op,
            kind,
        });
    }

    pub fn corrected(&self, op: OpKind, _method: Method, since_us: u64) {
        let us = self.clock.now_us().saturating_sub(since_us);
        self.latency.locked().record_corrected(op, us);
    }

    pub fn service(&self, op: OpKind, _method: Method, since_us: u64) {
        let us = self.clock.now_us().saturating_sub(since_us);
        self.latency.locked().record_service(op, us);
    }

    pub fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.locked());
    }

    pub fn counts(&self) -> Counts {
        *self.counts.locked()
    }

    pub fn take_latency(&self) -> LatencyBook {
        std::mem::take(&mut *self.latency.locked())
    }
}
