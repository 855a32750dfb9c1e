//! The load generator's view: every logical request (retries included) by
//! how it ended, and its latency from the intended send time (coordinated
//! omission corrected). These are the two series `paystorm rules` reads, so
//! a run's objectives page in Prometheus exactly as the run judged them.
//!
//! Recorded on the hot path, once per logical request, so the handles are
//! resolved once per (operation, method, outcome) slot and kept in arrays:
//! a request costs an array index, an atomic add and a histogram
//! observation, with no label formatting or allocation. Slots are filled
//! on first use, so only series that happened are exported.

use std::sync::OnceLock;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts};

use crate::domain::Method;
use crate::metrics::OpKind;
use crate::slo::{OutcomeClass, Slo};

use super::family::Spec;
use super::labels::{self, CLASSES, METHODS, OPS};
use super::slo::SloMeters;

pub const REQUESTS: Spec = Spec::counter(
    "paystorm_requests_total",
    &["operation", "method", "outcome", "reason"],
    "Logical requests the load generator made (retries included), by how they ended: outcome ok, declined, rejected (4xx), failed (5xx) or unknown (no definite answer); reason is the decline reason or error code, empty when none.",
);
pub const DURATION: Spec = Spec::histogram(
    "paystorm_request_duration_seconds",
    &["operation", "method"],
    "Latency of logical requests from their intended send time to their last answer (coordinated omission corrected), with a bucket at each latency objective's limit.",
);

pub struct ClientMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    counters: Vec<OnceLock<IntCounter>>,
    histograms: Vec<OnceLock<Histogram>>,
    slo: SloMeters,
}

impl ClientMetrics {
    /// The metrics for a run with these objectives (their latency limits
    /// become buckets; their burn rates are metered).
    pub fn new(slos: &[Slo]) -> prometheus::Result<ClientMetrics> {
        let requests =
            IntCounterVec::new(Opts::new(REQUESTS.name, REQUESTS.help), REQUESTS.labels)?;
        let duration = HistogramVec::new(
            HistogramOpts::new(DURATION.name, DURATION.help)
                .buckets(super::buckets::request_buckets(slos)),
            DURATION.labels,
        )?;
        Ok(ClientMetrics {
            requests,
            duration,
            counters: (0..OPS * METHODS * CLASSES)
                .map(|_| OnceLock::new())
                .collect(),
            histograms: (0..OPS * METHODS).map(|_| OnceLock::new()).collect(),
            slo: SloMeters::new(slos),
        })
    }

    /// A logical request ended at `now_us`, `latency_us` after it was meant
    /// to start.
    pub fn request_ended(
        &self,
        op: OpKind,
        method: Method,
        class: OutcomeClass,
        latency_us: u64,
        now_us: u64,
    ) {
        let (o, m, c) = (
            labels::op_index(op),
            labels::method_index(method),
            labels::class_index(class),
        );
        let pair = o * METHODS + m;
        if let Some(slot) = self.counters.get(pair * CLASSES + c) {
            slot.get_or_init(|| {
                let (outcome, reason) = labels::class_labels(c);
                self.requests
                    .with_label_values(&[op.as_str(), method.as_str(), outcome, reason])
            })
            .inc();
        }
        if let Some(slot) = self.histograms.get(pair) {
            slot.get_or_init(|| {
                self.duration
                    .with_label_values(&[op.as_str(), method.as_str()])
            })
            .observe(latency_us as f64 / 1e6);
        }
        if !self.slo.is_empty() {
            self.slo.record(op, method, class, latency_us, now_us);
        }
    }

    pub(super) fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 2] {
        [
            Box::new(self.requests.clone()),
            Box::new(self.duration.clone()),
        ]
    }

    pub(super) fn slo(&self) -> &SloMeters {
        &self.slo
    }
}
