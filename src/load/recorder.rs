//! What the clients write down: the Jepsen-style history (to the observer),
//! the latency histograms, and the counts of every behaviour.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::audit::Observer;
use crate::domain::history::{HistoryEvent, HistoryKind};
use crate::domain::IssuerId;
use crate::domain::{Method, OpId};
use crate::lock::Locked;
use crate::metrics::{LatencyBook, OpKind, TimeSeries};
use crate::sim::Clock;
use crate::slo::{OutcomeClass, Slo, SloBook};

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
    /// Answers 429: each retried no sooner than its `Retry-After`.
    pub rate_limited: u64,
    pub late_arrivals: u64,
    pub dropped_arrivals: u64,
}

/// Counters another thread may read while the run goes on (the progress
/// line): plain atomics, stored by the simulation and never waited on.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Simulated time of the latest arrival or completed payment.
    pub sim_us: AtomicU64,
    /// Payments (logical creates) completed so far.
    pub payments: AtomicU64,
    /// Of those, failed (other than declined) or unknown.
    pub errors: AtomicU64,
    /// The run has ended (set by `sim::cells::run`; a run in cells counts
    /// them on its progress line).
    pub done: AtomicBool,
}

impl LiveCounters {
    /// (simulated µs, payments, errors) as last stored.
    pub fn read(&self) -> (u64, u64, u64) {
        (
            self.sim_us.load(Ordering::Relaxed),
            self.payments.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed),
        )
    }
}

pub struct Recorder {
    observer: Arc<dyn Observer>,
    clock: Clock,
    next_op: AtomicU64,
    latency: Mutex<LatencyBook>,
    series: Mutex<TimeSeries>,
    counts: Mutex<Counts>,
    live: Arc<LiveCounters>,
    /// The run's objectives (empty: nothing recorded).
    slo: Mutex<SloBook>,
    /// Whether there are any: checked before taking the lock, so a run
    /// without objectives pays nothing per request.
    has_slos: bool,
    /// Set when an `abort_on_fail` objective is breached: stop the load.
    abort: AtomicBool,
    /// Prometheus metrics of the logical requests, when the run exports
    /// them (`None`: nothing recorded, nothing paid).
    telemetry: Option<Arc<crate::telemetry::client::ClientMetrics>>,
}

impl Recorder {
    pub fn new(
        observer: Arc<dyn Observer>,
        clock: Clock,
        live: Arc<LiveCounters>,
        slos: Vec<Slo>,
    ) -> Recorder {
        Recorder {
            observer,
            clock,
            next_op: AtomicU64::new(1),
            latency: Mutex::new(LatencyBook::default()),
            series: Mutex::new(TimeSeries::default()),
            counts: Mutex::new(Counts::default()),
            live,
            has_slos: !slos.is_empty(),
            slo: Mutex::new(SloBook::new(slos)),
            abort: AtomicBool::new(false),
            telemetry: None,
        }
    }

    /// Records every logical request into `metrics` too.
    pub fn with_telemetry(
        mut self,
        metrics: Option<Arc<crate::telemetry::client::ClientMetrics>>,
    ) -> Recorder {
        self.telemetry = metrics;
        self
    }

    /// A logical request (`intended_us`: when it was meant to start) ended
    /// now as `class`, for the SLOs.
    pub fn outcome(&self, op: OpKind, method: Method, class: OutcomeClass, intended_us: u64) {
        if !self.has_slos && self.telemetry.is_none() {
            return;
        }
        let now = self.clock.now_us();
        if let Some(t) = &self.telemetry {
            t.request_ended(op, method, class, now.saturating_sub(intended_us), now);
        }
        if !self.has_slos {
            return;
        }
        if self
            .slo
            .locked()
            .record(op, method, class, now.saturating_sub(intended_us), now)
        {
            self.abort.store(true, Ordering::Relaxed);
        }
    }

    /// Whether an `abort_on_fail` objective stopped the run.
    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    pub fn take_slo(&self) -> SloBook {
        std::mem::replace(&mut *self.slo.locked(), SloBook::new(Vec::new()))
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

    pub fn corrected(&self, op: OpKind, method: Method, since_us: u64) {
        let us = self.clock.now_us().saturating_sub(since_us);
        self.latency.locked().record_corrected(op, method, us);
    }

    pub fn service(&self, op: OpKind, method: Method, since_us: u64) {
        let now = self.clock.now_us();
        let us = now.saturating_sub(since_us);
        self.series.locked().served(now, us);
        self.latency.locked().record_service(op, method, us);
    }

    /// A 429 (`rate_limited`) or 503 answer a client saw now.
    pub fn refused(&self, rate_limited: bool) {
        let now = self.clock.now_us();
        self.series.locked().refused(now, rate_limited);
    }

    /// An arrival offered by the generator, at its intended time.
    pub fn offered(&self, at_us: u64) {
        self.series.locked().offered(at_us);
        self.live.sim_us.fetch_max(at_us, Ordering::Relaxed);
    }

    /// A payment (logical create, intended at `intended_us`) ended now;
    /// `error` for a definite failure other than a decline, or unknown.
    /// `issuer`: the customer's bank, for the latency by issuer.
    pub fn payment_done(&self, intended_us: u64, issuer: Option<IssuerId>, error: bool) {
        let now = self.clock.now_us();
        if let Some(issuer) = issuer {
            self.latency
                .locked()
                .record_by_issuer(issuer, now.saturating_sub(intended_us));
        }
        self.series
            .locked()
            .completed(now, now.saturating_sub(intended_us), error);
        self.live.sim_us.fetch_max(now, Ordering::Relaxed);
        self.live.payments.fetch_add(1, Ordering::Relaxed);
        if error {
            self.live.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn count(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.locked());
    }

    pub fn counts(&self) -> Counts {
        *self.counts.locked()
    }

    /// The latency book, settled (every value counted), leaving an empty one.
    pub fn take_latency(&self) -> LatencyBook {
        let mut book = std::mem::take(&mut *self.latency.locked());
        book.settle();
        book
    }

    pub fn take_series(&self) -> TimeSeries {
        std::mem::take(&mut *self.series.locked())
    }
}
