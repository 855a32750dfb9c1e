//! Talking to the parties that move money (card networks, issuers, the QR
//! provider, the instant bank rail) when any call may fail, hang or lose its
//! answer.
//!
//! Every message goes through one path, [`Gateway::dispatch`]: it is written
//! to the outbox, sent, and its answer applied. A call refused or failed fast
//! did nothing: the operation fails cleanly — unless the boundary it first
//! crossed may deliver messages twice, for then a copy may get through. A
//! call that timed out (or such a failure) may or may not have acted, so the message stays in the outbox and is *reconciled*:
//! repeated with the same message id (the issuer's message log answers a
//! repeat with its first answer, moving no money twice) until an answer
//! comes, which is then applied exactly as if it had come the first time, and
//! stored against the request's idempotency key. Meanwhile the merchant gets
//! 504 and a retry with the key gets 409. The outbox survives a gateway crash
//! (it is part of the payment database), so the restarted gateway reconciles
//! whatever the crash interrupted.

use std::sync::Arc;
use std::time::Duration;

use crate::chaos::CallFault;
use crate::domain::{
    ApiError, ApiReply, CreateParams, DeclineReason, IdemKey, IssuerId, MerchantId, Pan, PaymentId,
    Rail, RefundId, Status,
};
use crate::lock::Locked;
use crate::sim::executor::boxed;
use crate::stack::component::Component;
use crate::stack::issuer::{HoldError, IssuerMsg, IssuerReply};

use super::{Gateway, DEADLINE_US};

/// Where a message goes.
#[derive(Clone, Copy, Debug)]
pub enum Route {
    /// A card authorization: the network routes it from the card number.
    CardAuth {
        network: usize,
        pan: Pan,
    },
    /// A message about an existing card authorization.
    Card {
        network: usize,
        issuer: IssuerId,
    },
    Qr(IssuerId),
    BankInstant(IssuerId),
    /// Straight to the customer's bank (a refund of a QR or bank payment).
    Bank(IssuerId),
}

/// What the answer to a message completes.
#[derive(Clone, Copy, Debug)]
pub enum Then {
    Create { params: CreateParams },
    Capture { amount_minor: i64 },
    Void,
    Refund { refund: RefundId, amount_minor: i64 },
}

/// A message sent (or about to be) whose answer is not applied yet.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub merchant: MerchantId,
    pub key: Option<IdemKey>,
    pub payment: PaymentId,
    pub route: Route,
    pub msg: IssuerMsg,
    pub then: Then,
}

/// An answer and the issuer that gave it.
#[derive(Clone, Copy, Debug)]
pub struct Answer {
    pub issuer: Option<IssuerId>,
    pub reply: IssuerReply,
}

/// Reconciliation keeps asking with capped exponential backoff; after this
/// many attempts (hours of simulated time) it gives up and the operation is
/// reported unresolved.
const RECONCILE_ATTEMPTS_MAX: u32 = 1_000;
const RECONCILE_BACKOFF_BASE_MS: f64 = 250.0;
const RECONCILE_BACKOFF_MAX_MS: f64 = 10_000.0;

impl Gateway {
    /// Sends the message once.
    async fn send(&self, p: &Pending) -> Result<Answer, CallFault> {
        let with = |issuer| move |reply| Answer { issuer, reply };
        match (p.route, p.msg) {
            (Route::CardAuth { network, pan }, IssuerMsg::Auth(req)) => {
                let (issuer, r) = boxed(self.down.networks[network].authorize(pan, req)).await;
                r.map(with(issuer))
            }
            (Route::Card { network, issuer }, msg) => {
                boxed(self.down.networks[network].relay(issuer, msg))
                    .await
                    .map(with(Some(issuer)))
            }
            (Route::Qr(i), IssuerMsg::Debit(d, _)) => boxed(self.down.qr.pay(self.issuer(i), d))
                .await
                .map(with(Some(i))),
            (Route::BankInstant(i), IssuerMsg::Debit(d, _)) => {
                boxed(self.down.bank.instant(self.issuer(i), d))
                    .await
                    .map(with(Some(i)))
            }
            (Route::Bank(i), msg) => boxed(self.issuer(i).receive(msg)).await.map(with(Some(i))),
            (route, msg) => unreachable!("no route {route:?} for {msg:?}"),
        }
    }

    /// Whether the first boundary on the route may deliver the message
    /// twice (then a fast failure behind it proves nothing).
    fn may_be_duplicated(&self, route: &Route) -> bool {
        match *route {
            Route::CardAuth { network, .. } | Route::Card { network, .. } => {
                self.down.networks[network].can_duplicate()
            }
            Route::Qr(_) => self.down.qr.can_duplicate(),
            Route::BankInstant(_) => self.down.bank.can_duplicate(),
            Route::Bank(_) => false,
        }
    }

    fn issuer(&self, id: IssuerId) -> &Arc<crate::stack::issuer::Issuer> {
        &self.down.issuers[usize::from(id.0)]
    }

    /// Sends `p`, applies its answer, or hands it to reconciliation.
    ///
    /// What it calls takes `p` by reference: an async fn stores its
    /// arguments, so a `Pending` (160 bytes) passed down by value is kept at
    /// every level of the request's future, which is boxed and copied once
    /// per request.
    pub(super) async fn dispatch(&self, p: Pending) -> Result<ApiReply, ApiError> {
        if !self.journals {
            // Nothing can fail a call: send and apply.
            return match self.send(&p).await {
                Ok(answer) => {
                    self.ask_for_key(&p);
                    self.apply(&p, answer).await
                }
                // Only a fault or a resilience layer fails a call, and
                // either turns journalling on; nothing happened downstream.
                Err(_) => self.no_effect(p).await,
            };
        }
        self.outbox.locked().insert(p.msg.id(), p);
        match self.send_with_retries(&p).await {
            Ok(answer) => self.finish(&p, answer).await,
            Err(CallFault::Failed(_)) if !self.may_be_duplicated(&p.route) => {
                self.outbox.locked().remove(&p.msg.id());
                self.stats.locked().downstream_failures += 1;
                self.no_effect(p).await
            }
            Err(CallFault::Rejected) if !self.may_be_duplicated(&p.route) => {
                self.outbox.locked().remove(&p.msg.id());
                self.stats.locked().downstream_rejected += 1;
                self.no_effect(p).await
            }
            // A copy of the message may still get through: unknown.
            Err(CallFault::Failed(_) | CallFault::Rejected) => {
                self.stats.locked().downstream_failures += 1;
                self.reconcile_later(p);
                Err(ApiError::UpstreamTimeout)
            }
            Err(CallFault::TimedOut) => {
                self.stats.locked().downstream_timeouts += 1;
                self.reconcile_later(p);
                Err(ApiError::UpstreamTimeout)
            }
        }
    }

    /// Sends within what is left of the request's deadline, retrying a
    /// failed or timed-out message (same id: safe) while the retry budget
    /// and the deadline allow. A refusal by a breaker or bulkhead is not
    /// retried: it would only add load where there is too much.
    async fn send_with_retries(&self, p: &Pending) -> Result<Answer, CallFault> {
        let deadline = DEADLINE_US.try_with(|d| *d).ok();
        self.front.first_attempt(self.clock.now_us());
        let mut retry = 0;
        // Once an attempt may have acted, a later refusal proves nothing.
        let mut may_have_acted = false;
        loop {
            let sent = match self.front.call_budget(self.clock.now_us(), deadline) {
                None => self.send(p).await,
                Some(budget) => match self.clock.timeout(budget, self.send(p)).await.ok() {
                    Some(r) => r,
                    None => {
                        self.front.call_timed_out();
                        Err(CallFault::TimedOut)
                    }
                },
            };
            may_have_acted |= match sent {
                Err(CallFault::TimedOut) => true,
                Err(CallFault::Failed(_)) => self.may_be_duplicated(&p.route),
                _ => false,
            };
            match sent {
                Err(CallFault::Failed(_) | CallFault::TimedOut)
                    if deadline.is_none_or(|d| self.clock.now_us() < d)
                        && self.front.may_retry(self.clock.now_us(), retry + 1) =>
                {
                    retry += 1;
                    let pause = self
                        .component
                        .rng()
                        .with(|r| self.front.cfg.retry.backoff(r, retry));
                    self.clock.sleep(pause).await;
                }
                Err(_) if may_have_acted => return Err(CallFault::TimedOut),
                other => return other,
            }
        }
    }

    /// Starts reconciling `p` in a task of its own.
    pub(super) fn reconcile_later(&self, p: Pending) {
        if let Some(me) = self.me.get().and_then(std::sync::Weak::upgrade) {
            crate::sim::task::spawn_detached(async move {
                let _ = me.clone().crash_guarded(me.reconcile(p)).await;
            });
        }
    }

    async fn reconcile(&self, p: Pending) {
        for attempt in 1..=RECONCILE_ATTEMPTS_MAX {
            let ceiling = (RECONCILE_BACKOFF_BASE_MS * 2f64.powi(attempt.min(16) as i32 - 1))
                .min(RECONCILE_BACKOFF_MAX_MS);
            let ms = self
                .component
                .rng()
                .with(|r| r.range_f64(ceiling / 2.0, ceiling));
            self.clock
                .sleep(Duration::from_micros((ms * 1000.0) as u64))
                .await;
            if let Ok(answer) = self.send(&p).await {
                let reply = self.finish(&p, answer).await;
                if let Some(key) = p.key {
                    match reply {
                        Err(ApiError::Unavailable | ApiError::RateLimited { .. }) => {
                            self.idempotency.abandon(p.merchant, key)
                        }
                        _ => self.idempotency.complete(p.merchant, key, reply),
                    }
                }
                self.stats.locked().reconciled += 1;
                return;
            }
        }
        self.stats.locked().reconcile_gave_up += 1;
    }

    /// Messages still waiting for an answer.
    pub fn unresolved(&self) -> usize {
        self.outbox.locked().len()
    }

    /// Applies the answer to `p`: the payment's new state, its settlement
    /// line, the merchant's webhook and callback, and the reply. Everything
    /// before the first `.await` happens at once, so a crash cannot apply an
    /// answer twice (the outbox entry goes with the state change).
    async fn finish(&self, p: &Pending, answer: Answer) -> Result<ApiReply, ApiError> {
        self.ask_for_key(p);
        if self.outbox.locked().remove(&p.msg.id()).is_none() {
            // Applied already (a reconciliation raced a late answer).
            return self.get(p.merchant, p.payment);
        }
        self.apply(p, answer).await
    }

    /// The request's key is stored once its answer is applied, later in the
    /// step that has the answer: asks for the key's line at the step's start.
    /// Only under the sim, as the hints are: finding the line takes the
    /// store's lock, which live mode's threads would contend for.
    fn ask_for_key(&self, p: &Pending) {
        let Some(key) = p.key else {
            return;
        };
        let line = Component::hint_line(|| self.idempotency.line(p.merchant, key));
        if line != 0 {
            crate::prefetch::line(line as *const u8);
        }
    }

    /// Applies an answer (the outbox entry, if any, is gone already).
    async fn apply(&self, p: &Pending, answer: Answer) -> Result<ApiReply, ApiError> {
        match p.then {
            Then::Create { params } => {
                let rail = match p.route {
                    Route::CardAuth { network, .. } | Route::Card { network, .. } => {
                        Rail::Card(self.down.networks[network].id())
                    }
                    Route::Qr(_) => Rail::Qr,
                    Route::BankInstant(_) | Route::Bank(_) => Rail::BankInstant,
                };
                let outcome = match answer.reply {
                    IssuerReply::Done => Outcome {
                        status: if params.capture == crate::domain::CaptureMode::Automatic
                            || !params.method.is_card()
                        {
                            Status::Captured
                        } else {
                            Status::Authorized
                        },
                        decline: None,
                        rail: Some(rail),
                        issuer: answer.issuer,
                    },
                    IssuerReply::Declined(reason) => Outcome::declined(reason),
                    IssuerReply::Hold(_) => Outcome::failed(),
                };
                self.complete_create(p.payment, outcome).await
            }
            Then::Capture { amount_minor } => {
                let result = match answer.reply {
                    IssuerReply::Done => Ok(()),
                    IssuerReply::Hold(HoldError::AboveHold) => Err(ApiError::AmountTooLarge),
                    IssuerReply::Hold(HoldError::NoHold) | IssuerReply::Declined(_) => {
                        Err(ApiError::InvalidState)
                    }
                };
                self.complete_capture(p.merchant, p.payment, amount_minor, result)
                    .await
            }
            Then::Void => {
                let result = match answer.reply {
                    IssuerReply::Done => Ok(()),
                    _ => Err(ApiError::InvalidState),
                };
                self.complete_void(p.payment, result).await
            }
            Then::Refund {
                refund,
                amount_minor,
            } => self.complete_refund(p.payment, refund, amount_minor).await,
        }
    }

    /// The call was refused or failed fast: nothing happened downstream.
    async fn no_effect(&self, p: Pending) -> Result<ApiReply, ApiError> {
        match p.then {
            Then::Create { .. } => self.complete_create(p.payment, Outcome::failed()).await,
            Then::Capture { .. } | Then::Void => {
                self.commit(p.payment, |_| {});
                Err(ApiError::Unavailable)
            }
            Then::Refund { amount_minor, .. } => {
                self.release_refund_reservation(p.payment, amount_minor);
                Err(ApiError::Unavailable)
            }
        }
    }

    /// Recovery after a restart: whatever the crash interrupted before a
    /// message was written to the outbox never reached anyone downstream, so
    /// its reservations are released, its keys forgotten and a half-made
    /// payment fails; every message in the outbox is reconciled.
    pub(super) async fn recover(&self) {
        let pending: Vec<Pending> = self.outbox.locked().values().copied().collect();
        let mut owned = crate::domain::fingerprint::FxHashSet::default();
        let mut busy = crate::domain::fingerprint::FxHashSet::default();
        for p in &pending {
            busy.insert(p.payment);
            if let Some(k) = p.key {
                owned.insert((p.merchant, k));
            }
        }
        let forgotten = self
            .idempotency
            .abandon_orphans(|m, k| owned.contains(&(m, k)));
        let mut cut_creates: Vec<PaymentId> = Vec::new();
        self.payments.locked().update_all(|r| {
            if busy.contains(&r.id) {
                return;
            }
            r.busy = false;
            r.refund_reserved_minor = 0;
            if r.status == Status::Processing && r.rail != Some(Rail::BankBatch) {
                cut_creates.push(r.id);
            }
        });
        {
            let mut s = self.stats.locked();
            s.recovered_messages += pending.len() as u64;
            s.keys_forgotten_at_restart += forgotten as u64;
            s.payments_failed_at_restart += cut_creates.len() as u64;
        }
        for payment in cut_creates {
            let _ = self.complete_create(payment, Outcome::failed()).await;
        }
        for p in pending {
            self.reconcile_later(p);
        }
    }
}

/// How a create ended downstream.
pub(super) struct Outcome {
    pub status: Status,
    pub decline: Option<DeclineReason>,
    pub rail: Option<Rail>,
    pub issuer: Option<IssuerId>,
}

impl Outcome {
    pub fn declined(reason: DeclineReason) -> Outcome {
        Outcome {
            status: Status::Declined,
            decline: Some(reason),
            rail: None,
            issuer: None,
        }
    }

    /// Nothing happened: the payment failed without moving money.
    pub fn failed() -> Outcome {
        Outcome {
            status: Status::Failed,
            decline: None,
            rail: None,
            issuer: None,
        }
    }
}
