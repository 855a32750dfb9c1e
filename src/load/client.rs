//! One logical request, as a careful client sends it: with its idempotency
//! key, a timeout per attempt, retries (same key) after exponential backoff
//! with full jitter for timeouts and retryable errors, and a deadline after
//! which it gives up and records the outcome as unknown.
//! Each attempt first waits for one of the generator's connections
//! (`clients.connections_max`), as wrk2's clients do.

use std::sync::Arc;
use std::time::Duration;

use crate::domain::api::{PaymentApi, Request};
use crate::domain::history::{Failure, HistoryKind, InfoReason, Invocation, ReplySummary};
use crate::domain::{ApiError, ApiReply, IdemKey, MerchantId, Method, Operation, Status};
use crate::metrics::OpKind;
use crate::sim::executor::boxed;
use crate::sim::{Clock, SimRng};
use crate::slo::OutcomeClass;

use super::recorder::Recorder;
use super::spec::Clients;

/// How a logical request ended.
#[derive(Clone, Copy, Debug)]
pub enum Outcome {
    Ok(ApiReply),
    /// A payment with status `declined` or `failed`: a definite "no effect"
    /// either way (see [`Outcome::payment_failed`]).
    Declined(ApiReply),
    Failed(ApiError),
    Unknown,
}

impl Outcome {
    /// A payment the stack could not process (status `failed`: a bulkhead
    /// or breaker refused the call downstream, the call failed with no
    /// effect, or a crash cut it off). It ends like a decline for the
    /// client, but it is the stack's failure: counted as failed, and bad for
    /// availability, not a decline.
    pub fn payment_failed(&self) -> bool {
        matches!(self, Outcome::Declined(r) if r.payment.status == Status::Failed)
    }
}

/// One logical request: what to send, under which key, and how hard to try.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub merchant: MerchantId,
    pub key: Option<IdemKey>,
    pub op: Operation,
    /// Which latency histogram the request counts in.
    pub kind: OpKind,
    /// The payment's method, for the per-method histograms.
    pub method: Method,
    pub attempts_max: u32,
}

pub struct Client<A> {
    pub api: Arc<A>,
    pub rec: Arc<Recorder>,
    pub clock: Clock,
    pub cfg: Clients,
    /// The generator's connections (`clients.connections_max` permits): an
    /// attempt holds one from its actual send until its answer or timeout.
    pub connections: crate::slots::Slots,
}

impl<A: PaymentApi> Client<A> {
    /// Sends `call.op` until it gets a definite answer, runs out of
    /// attempts, or passes its deadline. Keyless requests are never retried:
    /// without a key a retry could charge twice.
    pub async fn send(&self, rng: &mut SimRng, call: Call) -> Outcome {
        // Boxed: a journey keeps only a pointer to the request in flight, so
        // the many journeys asleep between steps stay small.
        boxed(self.send_inline(rng, call)).await
    }

    async fn send_inline(&self, rng: &mut SimRng, call: Call) -> Outcome {
        let Call {
            merchant,
            key,
            op,
            kind,
            method,
            attempts_max,
        } = call;
        let intended = self.clock.now_us();
        let deadline = intended + (self.cfg.give_up_after_ms * 1000.0) as u64;
        let attempts_max = if key.is_some() {
            attempts_max.max(1)
        } else {
            1
        };
        let mut outcome = Outcome::Unknown;
        for attempt in 1..=attempts_max {
            // Wait for a free connection (FIFO). A request whose deadline
            // passed while it waited is never sent: the client has already
            // given up.
            let connection = self.connections.take().await;
            if self.clock.now_us() >= deadline {
                break;
            }
            let mut retry_after = None;
            let id = self.rec.new_op();
            self.rec.history(
                id,
                HistoryKind::Invoke(Invocation {
                    merchant,
                    key,
                    op,
                    attempt: attempt as u16,
                }),
            );
            if attempt > 1 {
                self.rec.count(|c| c.retries += 1);
            }
            let sent = self.clock.now_us();
            let left_us = deadline.saturating_sub(sent);
            let timeout =
                Duration::from_micros(((self.cfg.timeout_ms * 1000.0) as u64).min(left_us));
            let reply = self
                .clock
                .timeout(timeout, self.api.call(Request { merchant, key, op }))
                .await
                .ok();
            drop(connection);
            self.rec.service(kind, method, sent);
            let retry = match reply {
                None => {
                    self.rec.history(id, HistoryKind::Info(InfoReason::Timeout));
                    self.rec.count(|c| c.timeouts += 1);
                    outcome = Outcome::Unknown;
                    true
                }
                Some(Ok(reply)) => {
                    let summary = summarize(&reply);
                    if reply.replayed {
                        self.rec.count(|c| c.replays_seen += 1);
                    }
                    // Declined and failed payments are definite "no effect".
                    if matches!(reply.payment.status, Status::Declined | Status::Failed) {
                        self.rec.history(
                            id,
                            HistoryKind::Fail(Failure::Declined {
                                reply: summary,
                                reason: reply.payment.decline,
                            }),
                        );
                        outcome = Outcome::Declined(reply);
                    } else {
                        self.rec.history(id, HistoryKind::Ok(summary));
                        outcome = Outcome::Ok(reply);
                    }
                    false
                }
                Some(Err(e)) => {
                    retry_after = e.retry_after();
                    if retry_after.is_some() {
                        self.rec.count(|c| c.rate_limited += 1);
                        self.rec.refused(true);
                    } else if e == ApiError::Unavailable {
                        self.rec.refused(false);
                    }
                    self.rec.history(id, HistoryKind::Fail(Failure::Api(e)));
                    outcome = if e.is_retryable() {
                        Outcome::Unknown
                    } else {
                        Outcome::Failed(e)
                    };
                    e.is_retryable()
                }
            };
            if !retry || attempt == attempts_max {
                break;
            }
            // A 429's Retry-After is a floor under the backoff: retrying
            // sooner would only be refused again.
            let backoff = match &retry_after {
                Some(wait) => self.backoff(rng, attempt).max(*wait),
                None => self.backoff(rng, attempt),
            };
            if self.clock.now_us() + backoff.as_micros() as u64 >= deadline {
                break;
            }
            self.clock.sleep(backoff).await;
        }
        self.rec.corrected(kind, method, intended);
        let class = match &outcome {
            Outcome::Ok(_) => OutcomeClass::Ok,
            // The stack's failure, not the issuer's no: an availability
            // objective must count it against the stack.
            Outcome::Declined(_) if outcome.payment_failed() => {
                OutcomeClass::Failed(ApiError::Unavailable)
            }
            Outcome::Declined(r) => OutcomeClass::Declined(
                r.payment
                    .decline
                    .unwrap_or(crate::domain::DeclineReason::UnknownAccount),
            ),
            Outcome::Failed(e) => OutcomeClass::of_error(*e),
            Outcome::Unknown => OutcomeClass::Unknown,
        };
        self.rec.outcome(kind, method, class, intended);
        outcome
    }

    /// Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
    fn backoff(&self, rng: &mut SimRng, attempt: u32) -> Duration {
        let ceiling =
            (self.cfg.backoff_base_ms * 2f64.powi(attempt as i32 - 1)).min(self.cfg.backoff_max_ms);
        Duration::from_micros((rng.range_f64(0.0, ceiling) * 1000.0) as u64)
    }
}

pub fn summarize(reply: &ApiReply) -> ReplySummary {
    ReplySummary {
        payment: reply.payment.id,
        refund: reply.refund,
        amount_minor: reply.payment.amount.minor,
        status: reply.payment.status,
        replayed: reply.replayed,
    }
}
