//! The stack's front door as its clients reach it: every request the
//! gateway answers (and every wallet authentication), by operation and
//! outcome, its latency and how many are in progress. This is the server's
//! side of RED (rate, errors, duration) per attempt, where the client
//! metrics count logical requests.
//!
//! [`Timed`] wraps any [`PaymentApi`] (the in-process transport in sim
//! mode) and records around each call; an HTTP server records the same
//! with [`ServerMetrics::begin`] and [`InFlight::finish`]. Per request it
//! costs two clock reads, a few atomic adds and one histogram observation:
//! no allocation, no label formatting. A call whose caller stops waiting
//! (a client timeout drops it) counts as `abandoned` and has no latency.

use std::future::Future;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus::{Histogram, HistogramOpts, HistogramVec};

use crate::domain::api::{PaymentApi, Request, WalletPresentation};
use crate::domain::{ApiError, ApiReply, CustomerId, Operation, Served, Status};
use crate::metrics::OpKind;
use crate::sim::Clock;

use super::family::{Family, Spec};
use super::labels::{op_index, OPS};

pub const REQUESTS: Spec = Spec::counter(
    "paystorm_component_requests_total",
    &["component", "operation", "outcome"],
    "Requests a component answered, by operation and outcome: the gateway and wallet per attempt (ok, declined, rejected, failed, abandoned), each downstream behind a circuit breaker per call (ok, failed, rejected).",
);
pub const DURATION: Spec = Spec::histogram(
    "paystorm_component_duration_seconds",
    &["component", "operation"],
    "Time a component took to answer a request, by operation: the gateway and wallet per attempt (attempts the caller abandoned are not observed), each guarded downstream per call (operation call).",
);
pub const IN_FLIGHT: Spec = Spec::gauge(
    "paystorm_component_in_flight",
    &["component"],
    "Requests a component is working on now.",
);

/// How the server answered one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Declined,
    /// A 4xx.
    Rejected,
    /// A 5xx.
    Failed,
    /// The caller stopped waiting first.
    Abandoned,
}

impl Answer {
    pub const ALL: [Answer; 5] = [
        Answer::Ok,
        Answer::Declined,
        Answer::Rejected,
        Answer::Failed,
        Answer::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Ok => "ok",
            Answer::Declined => "declined",
            Answer::Rejected => "rejected",
            Answer::Failed => "failed",
            Answer::Abandoned => "abandoned",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// How a reply sorts.
    pub fn of(reply: &Result<ApiReply, ApiError>) -> Answer {
        match reply {
            Ok(r) if matches!(r.payment.status, Status::Declined | Status::Failed) => {
                Answer::Declined
            }
            Ok(_) => Answer::Ok,
            Err(e) if (400..500).contains(&e.http_status()) => Answer::Rejected,
            Err(_) => Answer::Failed,
        }
    }
}

/// Which component answers an operation: the wallet authenticates on the
/// device, the gateway does the rest.
pub fn component_of(op: OpKind) -> &'static str {
    match op {
        OpKind::DeviceAuth => "wallet",
        _ => "gateway",
    }
}

pub fn op_of(op: &Operation) -> OpKind {
    match op {
        Operation::Create(_) => OpKind::Create,
        Operation::Capture { .. } => OpKind::Capture,
        Operation::Void { .. } => OpKind::Void,
        Operation::Refund { .. } => OpKind::Refund,
        Operation::Get { .. } => OpKind::Get,
    }
}

pub struct ServerMetrics {
    answers: [[AtomicU64; 5]; OPS],
    /// Gateway, wallet.
    in_flight: [AtomicI64; 2],
    duration: HistogramVec,
    histograms: [OnceLock<Histogram>; OPS],
}

impl ServerMetrics {
    pub fn new() -> prometheus::Result<ServerMetrics> {
        Ok(ServerMetrics {
            answers: Default::default(),
            in_flight: Default::default(),
            duration: HistogramVec::new(
                HistogramOpts::new(DURATION.name, DURATION.help)
                    .buckets(super::buckets::LATENCY_S.to_vec()),
                DURATION.labels,
            )?,
            histograms: Default::default(),
        })
    }

    /// A request for `op` arrived at `now_us`; finish the returned guard
    /// with its answer (dropping it unfinished counts it abandoned).
    pub fn begin(self: &Arc<Self>, op: OpKind, now_us: u64) -> InFlight {
        self.in_flight[usize::from(op != OpKind::DeviceAuth)].fetch_add(1, Ordering::Relaxed);
        InFlight {
            metrics: self.clone(),
            op,
            started_us: now_us,
            done: false,
        }
    }

    /// An observer of a downstream's call durations (µs), for its guard:
    /// the label handle is resolved here, once.
    pub fn downstream_observer(&self, downstream: &str) -> crate::resilience::CallObserver {
        let h = self.duration.with_label_values(&[downstream, "call"]);
        Arc::new(move |us| h.observe(us as f64 / 1e6))
    }

    pub(super) fn collector(&self) -> Box<dyn prometheus::core::Collector> {
        Box::new(self.duration.clone())
    }

    /// The request counts and in-flight gauges, for the stack collector
    /// (downstream components join the same families there).
    pub(super) fn fill(&self, requests: &mut Family, in_flight: &mut Family) {
        for op in OpKind::ALL {
            for a in Answer::ALL {
                let n = self.answers[op_index(op)][a.index()].load(Ordering::Relaxed);
                if n > 0 {
                    requests.add_u64(&[component_of(op), op.as_str(), a.as_str()], n);
                }
            }
        }
        for (i, component) in ["wallet", "gateway"].iter().enumerate() {
            in_flight.add(
                &[component],
                self.in_flight[i].load(Ordering::Relaxed).max(0) as f64,
            );
        }
    }
}

/// One request in progress (see [`ServerMetrics::begin`]).
pub struct InFlight {
    metrics: Arc<ServerMetrics>,
    op: OpKind,
    started_us: u64,
    done: bool,
}

impl InFlight {
    /// It was answered at `now_us`.
    pub fn finish(mut self, answer: Answer, now_us: u64) {
        self.done = true;
        self.count(answer);
        let o = op_index(self.op);
        let op = self.op;
        self.metrics.histograms[o]
            .get_or_init(|| {
                self.metrics
                    .duration
                    .with_label_values(&[component_of(op), op.as_str()])
            })
            .observe(now_us.saturating_sub(self.started_us) as f64 / 1e6);
    }

    fn count(&self, answer: Answer) {
        self.metrics.answers[op_index(self.op)][answer.index()].fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.done {
            self.count(Answer::Abandoned);
        }
        self.metrics.in_flight[usize::from(self.op != OpKind::DeviceAuth)]
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// A [`PaymentApi`] that records every call into [`ServerMetrics`].
#[derive(Clone)]
pub struct Timed<A> {
    pub inner: A,
    pub metrics: Arc<ServerMetrics>,
    pub clock: Clock,
}

impl<A: PaymentApi> PaymentApi for Timed<A> {
    fn serve(&self, req: Request) -> impl Future<Output = Served> + Send {
        let op = op_of(&req.op);
        async move {
            let guard = self.metrics.begin(op, self.clock.now_us());
            let out = self.inner.serve(req).await;
            guard.finish(Answer::of(&out.result), self.clock.now_us());
            out
        }
    }

    async fn authenticate(&self, customer: CustomerId) -> Option<WalletPresentation> {
        let guard = self.metrics.begin(OpKind::DeviceAuth, self.clock.now_us());
        let out = self.inner.authenticate(customer).await;
        let answer = if out.is_some() {
            Answer::Ok
        } else {
            Answer::Failed
        };
        guard.finish(answer, self.clock.now_us());
        out
    }
}
