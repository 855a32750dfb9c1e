//! The payment gateway: the merchant-facing API. Every request pays the
//! gateway's own hop (parsing, fraud screen, encryption), then:
//!
//! Order: `Get` reads straight away; a keyed mutating request goes through the
//! idempotency store (replay / mismatch / in flight / execute); a keyless
//! create goes through the dedup window. Execution routes card payments by
//! token -> vault -> fraud screen -> network -> issuer, QR payments to the
//! wallet provider, transfers to the bank rails; it records captures for
//! settlement, emits a webhook event for each status change and fires the
//! per-request callback.

mod create;
pub mod dedup;
pub mod fraud;
pub mod idempotency;
mod operations;
pub mod payments;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::api::Request;
use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{
    ApiError, ApiReply, CustomerId, DeclineReason, IssuerId, Operation, PaymentId, Status,
};
use crate::lock::Locked;
use crate::sim::Clock;

use super::acquirer::Acquirer;
use super::component::Component;
use super::config::{DedupPolicy, GatewayConfig};
use super::issuer::Issuer;
use super::network::Network;
use super::qr::QrProvider;
use super::sabotage::{Sabotage, Sabotages};
use super::tokens::TokenVault;
use super::transfer::BankRails;
use super::webhooks::Webhooks;
use dedup::DedupWindow;
use fraud::FraudRules;
use idempotency::{Begin, IdempotencyStore};
use payments::{PaymentRecord, PaymentTable};

/// What the gateway counts, for results.json.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GatewayStats {
    pub requests: u64,
    pub replays: u64,
    pub idempotency_mismatches: u64,
    pub in_flight_conflicts: u64,
    pub dedup_hits: u64,
    pub declines: BTreeMap<DeclineReason, u64>,
    pub callbacks: u64,
    pub holds_expired: u64,
    pub bank_batches: u64,
}

/// The downstream parties the gateway talks to.
pub struct Downstream {
    pub tokens: Arc<TokenVault>,
    pub networks: Vec<Arc<Network>>,
    pub issuers: Vec<Arc<Issuer>>,
    /// Which bank holds each customer's linked account.
    pub customer_bank: FxHashMap<CustomerId, IssuerId>,
    pub qr: Arc<QrProvider>,
    pub bank: Arc<BankRails>,
    pub acquirer: Arc<Acquirer>,
    pub webhooks: Arc<Webhooks>,
    /// Merchants are numbered 0..merchants.
    pub merchants: u32,
}

pub struct Gateway {
    component: Component,
    cfg: GatewayConfig,
    clock: Clock,
    observer: Arc<dyn Observer>,
    sabotage: Sabotages,
    idempotency: IdempotencyStore,
    dedup: DedupWindow,
    fraud: FraudRules,
    payments: Mutex<PaymentTable>,
    next_payment: AtomicU64,
    next_refund: AtomicU64,
    down: Downstream,
    stats: Mutex<GatewayStats>,
}

impl Gateway {
    pub fn new(
        component: Component,
        cfg: GatewayConfig,
        observer: Arc<dyn Observer>,
        sabotage: Sabotages,
        expected_payments: usize,
        down: Downstream,
    ) -> Gateway {
        Gateway {
            clock: component.clock(),
            component,
            cfg,
            observer,
            sabotage,
            idempotency: IdempotencyStore::new(
                cfg.idempotency.retention_s,
                sabotage.has(Sabotage::NoIdempotency),
                expected_payments * 5 / 4,
            ),
            dedup: DedupWindow::new(cfg.dedup.window_s),
            fraud: FraudRules::new(cfg.fraud),
            payments: Mutex::new(PaymentTable::with_capacity(expected_payments)),
            next_payment: AtomicU64::new(1),
            next_refund: AtomicU64::new(1),
            down,
            stats: Mutex::new(GatewayStats::default()),
        }
    }

    /// Serves one API request.
    pub async fn handle(&self, req: Request) -> Result<ApiReply, ApiError> {
        if let Some((start_us, end_us)) = self.cfg.stall_window_us() {
            let now = self.clock.now_us();
            if (start_us..end_us).contains(&now) {
                // Stalled: nothing starts until the window ends.
                self.clock.sleep_until_us(end_us).await;
            }
        }
        self.component.serve(|| ()).await;
        self.stats.locked().requests += 1;
        if let Operation::Get { payment } = req.op {
            return self.get(req.merchant, payment);
        }
        let Some(key) = req.key else {
            return self.execute_keyless(req).await;
        };
        let now = self.clock.now_us();
        match self
            .idempotency
            .begin(req.merchant, key, req.op.fingerprint(), now)
        {
            Begin::Replay(stored) => {
                self.stats.locked().replays += 1;
                let stored = if self.sabotage.has(Sabotage::ReplayDifferentResponse) {
                    self.rebuild_from_live(stored)
                } else {
                    stored
                };
                stored.map(|reply| ApiReply {
                    replayed: true,
                    ..reply
                })
            }
            Begin::Mismatch => {
                self.stats.locked().idempotency_mismatches += 1;
                Err(ApiError::IdempotencyMismatch)
            }
            Begin::InFlight => {
                self.stats.locked().in_flight_conflicts += 1;
                Err(ApiError::InFlight)
            }
            Begin::Execute => {
                let reply = self.execute(req).await;
                match reply {
                    Err(ApiError::Unavailable | ApiError::RateLimited) => {
                        self.idempotency.abandon(req.merchant, key)
                    }
                    _ => self.idempotency.complete(req.merchant, key, reply),
                }
                reply
            }
        }
    }

    async fn execute(&self, req: Request) -> Result<ApiReply, ApiError> {
        match req.op {
            Operation::Create(params) => self.create(params, req.key, None).await,
            Operation::Capture {
                payment,
                amount_minor,
            } => {
                self.capture(req.merchant, payment, amount_minor, req.key)
                    .await
            }
            Operation::Void { payment } => self.void(req.merchant, payment, req.key).await,
            Operation::Refund {
                payment,
                amount_minor,
            } => {
                self.refund(req.merchant, payment, amount_minor, req.key)
                    .await
            }
            Operation::Get { payment } => self.get(req.merchant, payment),
        }
    }

    /// A request without an idempotency key: only the dedup window guards it.
    async fn execute_keyless(&self, req: Request) -> Result<ApiReply, ApiError> {
        let Operation::Create(params) = req.op else {
            return self.execute(req).await;
        };
        let id = PaymentId(self.next_payment.fetch_add(1, Ordering::Relaxed));
        let earlier = self.dedup.check_or_insert(
            params.customer,
            params.merchant,
            params.amount.minor,
            self.clock.now_us(),
            id,
        );
        match (earlier, self.cfg.dedup.policy) {
            (Some(_), DedupPolicy::Reject) => {
                self.stats.locked().dedup_hits += 1;
                Err(ApiError::DuplicateRequest)
            }
            (Some(earlier), DedupPolicy::ReturnExisting) => {
                self.stats.locked().dedup_hits += 1;
                let payment = self.get(req.merchant, earlier)?.payment;
                Ok(ApiReply {
                    payment,
                    refund: None,
                    replayed: true,
                })
            }
            (Some(_), DedupPolicy::Allow) => {
                self.stats.locked().dedup_hits += 1;
                self.create(params, None, Some(id)).await
            }
            (None, _) => self.create(params, None, Some(id)).await,
        }
    }

    fn get(
        &self,
        merchant: crate::domain::MerchantId,
        payment: PaymentId,
    ) -> Result<ApiReply, ApiError> {
        match self.payments.locked().get(&payment) {
            Some(rec) if rec.merchant == merchant => Ok(ApiReply {
                payment: rec.view(),
                refund: None,
                replayed: false,
            }),
            _ => Err(ApiError::NotFound),
        }
    }

    /// The `replay-different-response` sabotage: a replay re-reads the live
    /// payment instead of returning what was stored.
    fn rebuild_from_live(&self, stored: Result<ApiReply, ApiError>) -> Result<ApiReply, ApiError> {
        match stored {
            Ok(reply) => match self.payments.locked().get(&reply.payment.id) {
                Some(rec) => Ok(ApiReply {
                    payment: rec.view(),
                    ..reply
                }),
                None => Ok(reply),
            },
            err => err,
        }
    }

    pub fn stats(&self) -> GatewayStats {
        self.stats.locked().clone()
    }

    pub fn retained_keys(&self) -> usize {
        self.idempotency.len()
    }

    /// Prunes idempotency keys past their retention.
    pub fn prune_keys(&self) -> usize {
        self.idempotency.prune(self.clock.now_us())
    }

    /// End-of-run read of the payment table, in id order.
    pub fn read_payments(&self) {
        let rows: Vec<PaymentRecord> = self.payments.locked().values().copied().collect();
        for r in rows {
            self.observer.audit(AuditRecord::PaymentFinal {
                payment: r.id,
                status: r.status,
                amount_minor: r.amount.minor,
                captured_minor: r.captured_minor,
                refunded_minor: r.refunded_minor,
            });
        }
    }

    /// Payments that are still waiting on something (authorized holds,
    /// batch transfers), for the drain phase.
    pub fn open_payments(&self) -> usize {
        self.payments
            .locked()
            .values()
            .filter(|r| matches!(r.status, Status::Authorized | Status::Processing))
            .count()
    }
}
