//! One customer's payment, start to finish: authenticate on the phone, pay
//! (maybe double-clicking, maybe without a key, maybe from the wrong device),
//! press pay again after a decline; then what the merchant does with it —
//! poll it, capture it (in part), void it, forget it, refund it (maybe twice
//! at once).

use std::sync::Arc;
use std::time::Duration;

use crate::domain::api::PaymentApi;
use crate::domain::{
    CaptureMode, CreateParams, CustomerId, DeviceId, IdemKey, MerchantId, Method, Money, Operation,
    PaymentId, Status,
};
use crate::metrics::OpKind;
use crate::sim::executor::boxed;
use crate::sim::SimRng;

use super::client::{Call, Client, Outcome};
use super::spec::FixedPayment;
use super::Plan;

/// Low bits of an idempotency key that number the keys of one journey.
pub const KEY_NUMBER_BITS: u32 = 16;

/// The base of journey `index`'s keys: its `n`th key is `base | n`, from 1
/// (the checker's key table and the gateway's idempotency store lean on
/// this, see [`key_index`]).
pub fn key_base(index: u64) -> u64 {
    (index + 1) << KEY_NUMBER_BITS
}

/// Keys per journey that [`key_index`] gives a place: its payment's, then
/// one for a capture, void or refund. A journey's third key (a capture,
/// then a refund) has none.
pub const KEYS_PER_JOURNEY: u64 = 2;

/// Where a key made by a journey goes in a table indexed by keys: journey
/// `j`'s `n`th key is `j * KEYS_PER_JOURNEY + n - 1`. `None` for any other
/// key (one a live client made, or a journey's third).
pub fn key_index(key: u64) -> Option<u64> {
    let journey = key >> KEY_NUMBER_BITS;
    let n = key & ((1 << KEY_NUMBER_BITS) - 1);
    if journey == 0 || n == 0 || n > KEYS_PER_JOURNEY {
        return None;
    }
    // `journey` is below 2^48: no overflow.
    Some((journey - 1) * KEYS_PER_JOURNEY + n - 1)
}

/// The key at `index` in such a table: [`key_index`]'s inverse.
pub fn key_at(index: u64) -> u64 {
    key_base(index / KEYS_PER_JOURNEY) | (index % KEYS_PER_JOURNEY + 1)
}

pub struct Journey<A> {
    pub client: Arc<Client<A>>,
    pub plan: Arc<Plan>,
    pub rng: SimRng,
    /// Keys are unique per journey: its index in the high bits.
    pub key_base: u64,
    pub keys_used: u64,
    /// Requests running beside the journey (the second click of a
    /// double-submit), awaited when the journey ends so the run waits for them.
    pub beside: Vec<crate::sim::task::Task<()>>,
    /// Set when replaying a trace: the payment to make instead of a draw.
    pub fixed: Option<FixedPayment>,
}

impl<A: PaymentApi> Journey<A> {
    fn new_key(&mut self) -> IdemKey {
        self.keys_used += 1;
        IdemKey(self.key_base | self.keys_used)
    }

    pub async fn run(mut self) {
        let plan = self.plan.clone();
        // Draws happen in the same order whether or not a trace fixes the
        // payment, so the rest of the journey's stream does not shift.
        let drawn = plan.traffic.draw(&mut self.rng);
        let (method, merchant, customer, amount) = match self.fixed {
            Some(f) => (
                f.method,
                MerchantId(f.merchant),
                CustomerId(f.customer),
                f.amount_minor,
            ),
            None => (
                drawn.method,
                MerchantId(drawn.merchant),
                CustomerId(drawn.customer),
                drawn.amount_minor,
            ),
        };
        let mut token = None;
        if method.is_card() {
            match boxed(self.authenticate(customer, method)).await {
                Some((t, mut device)) => {
                    if self.rng.chance(plan.clients.wrong_device_share) {
                        self.client.rec.count(|c| c.wrong_device += 1);
                        device = DeviceId(device.0 ^ 0x5a5a_5a5a);
                    }
                    token = Some((t, device));
                }
                None => {
                    self.client.rec.count(|c| c.abandoned_at_device += 1);
                    return;
                }
            }
        }
        let capture = if method.is_card() && self.rng.chance(plan.lifecycle.manual_capture_share) {
            CaptureMode::Manual
        } else {
            CaptureMode::Automatic
        };
        let params = CreateParams {
            merchant,
            customer,
            amount: Money::new(amount, plan.currency),
            method,
            capture,
            token,
            callback: self.rng.chance(plan.clients.callback_share),
        };
        // Sub-futures are boxed so a journey that sleeps between steps (for
        // minutes of simulated time) holds only its own few fields.
        let mut outcome = boxed(self.create(params)).await;
        if matches!(outcome, Outcome::Declined(_)) && self.rng.chance(plan.clients.pay_again_share)
        {
            // The customer presses pay again: a new attempt, so a new key.
            self.client.rec.count(|c| c.pay_again += 1);
            outcome = boxed(self.create(params)).await;
        }
        if let Outcome::Ok(reply) = outcome {
            boxed(self.after_success(
                method,
                merchant,
                reply.payment.id,
                reply.payment.status,
                amount,
            ))
            .await;
        }
    }

    async fn authenticate(
        &mut self,
        customer: CustomerId,
        method: Method,
    ) -> Option<(crate::domain::Token, DeviceId)> {
        let start = self.client.clock.now_us();
        let mut presented = None;
        for _ in 0..self.plan.wallet_attempts_max.max(1) {
            if let Some(p) = self.client.api.authenticate(customer).await {
                presented = Some((p.token, p.device));
                break;
            }
        }
        self.client.rec.corrected(OpKind::DeviceAuth, method, start);
        presented
    }

    /// One logical create, with its double-click and key-reuse variants.
    async fn create(&mut self, params: CreateParams) -> Outcome {
        let plan = self.plan.clone();
        let keyless = self.rng.chance(plan.clients.keyless_share);
        let key = if keyless { None } else { Some(self.new_key()) };
        self.client.rec.count(|c| {
            c.attempted += 1;
            c.keyless += u64::from(keyless);
        });
        // The logical create starts now (nothing below awaits before the
        // send), so this is the intended time its corrected latency uses.
        let intended = self.client.clock.now_us();
        let op = Operation::Create(params);
        let double = self.rng.chance(plan.clients.double_submit_share);
        let twin = double.then(|| {
            self.client.rec.count(|c| c.double_submits += 1);
            let delay_ms = self
                .rng
                .range_f64(0.0, plan.clients.double_submit_delay_max_ms);
            let mut rng = SimRng::clone(&self.rng);
            rng.unit(); // diverge from the first submit's stream
            let client = self.client.clone();
            let attempts = plan.clients.attempts_max;
            crate::sim::task::spawn(async move {
                client
                    .clock
                    .sleep(Duration::from_micros((delay_ms * 1000.0) as u64))
                    .await;
                client
                    .send(
                        &mut rng,
                        Call {
                            merchant: params.merchant,
                            key,
                            op,
                            kind: OpKind::Create,
                            method: params.method,
                            attempts_max: attempts,
                        },
                    )
                    .await;
            })
        });
        let outcome = self
            .client
            .send(
                &mut self.rng,
                Call {
                    merchant: params.merchant,
                    key,
                    op,
                    kind: OpKind::Create,
                    method: params.method,
                    attempts_max: plan.clients.attempts_max,
                },
            )
            .await;
        self.client.rec.count(|c| match outcome {
            Outcome::Ok(_) => c.succeeded += 1,
            Outcome::Declined(_) if outcome.payment_failed() => c.failed += 1,
            Outcome::Declined(_) => c.declined += 1,
            Outcome::Failed(_) => c.failed += 1,
            Outcome::Unknown => c.unknown += 1,
        });
        self.client.rec.payment_done(
            intended,
            plan.customer_issuers
                .get(params.customer.0 as usize)
                .copied(),
            matches!(outcome, Outcome::Failed(_) | Outcome::Unknown) || outcome.payment_failed(),
        );
        // The merchant goes on (captures, refunds) while the second click is
        // still being retried: its replay may come after the status changed.
        self.beside.extend(twin);
        // Only after an answer the key was stored with (approved or
        // declined): a key whose every attempt was refused at the door
        // (429, 503) or never answered may never have reached the store,
        // and then, as with Stripe, it is unused and another request under
        // it rightly executes.
        let stored = matches!(outcome, Outcome::Ok(_) | Outcome::Declined(_));
        if key.is_some() && stored && self.rng.chance(plan.clients.key_reuse_mismatch_share) {
            // A buggy integration reuses the key for another amount; the
            // gateway must refuse it without executing anything.
            self.client.rec.count(|c| c.key_reuse_mismatches += 1);
            let other = CreateParams {
                amount: Money::new(params.amount.minor + 1, params.amount.currency),
                ..params
            };
            self.client
                .send(
                    &mut self.rng,
                    Call {
                        merchant: params.merchant,
                        key,
                        op: Operation::Create(other),
                        kind: OpKind::Create,
                        method: params.method,
                        attempts_max: 1,
                    },
                )
                .await;
        }
        outcome
    }

    async fn after_success(
        &mut self,
        method: Method,
        merchant: MerchantId,
        payment: PaymentId,
        status: Status,
        amount: i64,
    ) {
        let plan = self.plan.clone();
        let attempts = plan.clients.attempts_max;
        if self.rng.chance(plan.clients.get_share) {
            self.client.rec.count(|c| c.gets += 1);
            self.client
                .send(
                    &mut self.rng,
                    Call {
                        merchant,
                        key: None,
                        op: Operation::Get { payment },
                        kind: OpKind::Get,
                        method,
                        attempts_max: 1,
                    },
                )
                .await;
        }
        let mut captured = if status == Status::Captured {
            amount
        } else {
            0
        };
        if status == Status::Authorized {
            let delay = self
                .rng
                .range_f64(0.0, plan.lifecycle.fulfilment_delay_max_s);
            self.client
                .clock
                .sleep(Duration::from_secs_f64(delay))
                .await;
            let roll = self.rng.unit();
            if roll < plan.lifecycle.void_share {
                self.client.rec.count(|c| c.voids += 1);
                let key = Some(self.new_key());
                self.client
                    .send(
                        &mut self.rng,
                        Call {
                            merchant,
                            key,
                            op: Operation::Void { payment },
                            kind: OpKind::Void,
                            method,
                            attempts_max: attempts,
                        },
                    )
                    .await;
                return;
            }
            if roll < plan.lifecycle.void_share + plan.lifecycle.abandon_share {
                self.client.rec.count(|c| c.abandoned_holds += 1);
                return;
            }
            let partial = self.rng.chance(plan.lifecycle.partial_capture_share);
            let amount_minor = if partial {
                ((amount as f64 * self.rng.range_f64(0.5, 0.95)) as i64).clamp(1, amount)
            } else {
                amount
            };
            self.client.rec.count(|c| {
                c.captures += 1;
                c.partial_captures += u64::from(partial);
            });
            let key = Some(self.new_key());
            let op = Operation::Capture {
                payment,
                amount_minor,
            };
            if let Outcome::Ok(reply) = self
                .client
                .send(
                    &mut self.rng,
                    Call {
                        merchant,
                        key,
                        op,
                        kind: OpKind::Capture,
                        method,
                        attempts_max: attempts,
                    },
                )
                .await
            {
                captured = reply.payment.captured_minor;
            }
        }
        if captured > 0 && self.rng.chance(plan.lifecycle.refund_share) {
            let delay = self.rng.range_f64(0.0, plan.lifecycle.refund_delay_max_s);
            self.client
                .clock
                .sleep(Duration::from_secs_f64(delay))
                .await;
            let double = self.rng.chance(plan.lifecycle.double_refund_share);
            let amount_minor = if double || self.rng.chance(0.5) {
                captured
            } else {
                (captured / 2).max(1)
            };
            let op = Operation::Refund {
                payment,
                amount_minor,
            };
            self.client.rec.count(|c| {
                c.refunds += 1;
                c.double_refunds += u64::from(double);
            });
            let key = Some(self.new_key());
            let call = Call {
                merchant,
                key,
                op,
                kind: OpKind::Refund,
                method,
                attempts_max: attempts,
            };
            // Two agents may refund the same payment at once, each with its
            // own key: at most one may succeed.
            let other = double.then(|| {
                let second = Call {
                    key: Some(self.new_key()),
                    ..call
                };
                let mut rng2 = SimRng::clone(&self.rng);
                rng2.unit();
                let client = self.client.clone();
                crate::sim::task::spawn(async move {
                    client.send(&mut rng2, second).await;
                })
            });
            self.client.send(&mut self.rng, call).await;
            if let Some(other) = other {
                let _ = other.await;
            }
        }
    }
}
