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
mod downstream;
pub mod fraud;
pub mod idempotency;
mod operations;
pub mod payments;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use crate::chaos::{Durability, FaultLayer, Skew};
use crate::sim::executor::boxed;

use crate::domain::api::{Request, Served};
use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::dense_table::DenseTable;
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{
    ApiError, ApiReply, CustomerId, DeclineReason, IssuerId, Operation, PaymentId, PaymentView,
    Status,
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
use payments::PaymentTable;

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
    /// Downstream calls refused or failed fast (nothing happened).
    pub downstream_failures: u64,
    /// Downstream calls that timed out (outcome unknown: reconciled).
    pub downstream_timeouts: u64,
    /// Downstream calls refused by the gateway's own breaker or bulkhead.
    pub downstream_rejected: u64,
    /// Timed-out messages whose answer reconciliation later applied.
    pub reconciled: u64,
    /// Messages reconciliation gave up on (left unresolved).
    pub reconcile_gave_up: u64,
    /// Requests refused because the idempotency store failed.
    pub store_failures: u64,
    /// Crashes, and what the restarted gateway found.
    pub crashes: u64,
    pub requests_cut_by_crash: u64,
    pub recovered_messages: u64,
    pub keys_forgotten_at_restart: u64,
    pub payments_failed_at_restart: u64,
    pub refused_while_down: u64,
}

/// The downstream parties the gateway talks to.
pub struct Downstream {
    pub tokens: Arc<TokenVault>,
    pub networks: Vec<Arc<Network>>,
    pub issuers: Vec<Arc<Issuer>>,
    /// Which bank holds each customer's linked account.
    pub customer_bank: DenseTable<CustomerId, IssuerId>,
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
    /// Messages sent downstream whose answer is not applied yet (see
    /// `downstream`). Part of the payment database: survives a crash.
    outbox: Mutex<FxHashMap<u64, downstream::Pending>>,
    /// Whether to journal messages in the outbox (see
    /// `Chaos::can_repeat_messages`): without faults every call answers.
    journals: bool,
    /// This gateway, for spawning reconciliations.
    me: OnceLock<Weak<Gateway>>,
    crash: CrashState,
    /// Faults aimed at the idempotency store, and its clock.
    store_faults: Option<Arc<FaultLayer>>,
    store_clock: Skew,
    /// Shedding and rate limits at the door, deadlines and retries inside.
    front: crate::resilience::Frontline,
}

tokio::task_local! {
    /// When the request being served must be answered by (virtual µs): the
    /// deadline every downstream call of the request inherits. Scoped to
    /// the request's future, so it follows the work wherever it runs.
    static DEADLINE_US: u64;
}

/// What a crash of the gateway process does, when a chaos plan crashes it:
/// every request and reconciliation in progress is cut at its next step
/// (they all wait on `cut`), and requests are refused until the restart.
/// A `Notify`, not a `watch`: a watch wakes its receivers in an order drawn
/// from the runtime's random generator, and a run must be reproducible.
struct CrashState {
    enabled: bool,
    cut: tokio::sync::Notify,
    down_until_us: AtomicU64,
    durability: Durability,
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
        let (component_clock, down_merchants) = (component.clock(), down.merchants);
        Gateway {
            clock: component.clock(),
            component,
            cfg,
            observer,
            sabotage,
            idempotency: IdempotencyStore::new(
                cfg.idempotency.retention_s,
                sabotage.has(Sabotage::NoIdempotency),
                expected_payments,
            ),
            dedup: DedupWindow::new(cfg.dedup.window_s),
            fraud: FraudRules::new(cfg.fraud),
            payments: Mutex::new(PaymentTable::with_capacity(expected_payments)),
            next_payment: AtomicU64::new(1),
            next_refund: AtomicU64::new(1),
            down,
            stats: Mutex::new(GatewayStats::default()),
            outbox: Mutex::new(FxHashMap::default()),
            journals: false,
            me: OnceLock::new(),
            crash: CrashState {
                enabled: false,
                cut: tokio::sync::Notify::new(),
                down_until_us: AtomicU64::new(0),
                durability: cfg.idempotency.durability,
            },
            store_faults: None,
            store_clock: Skew::none(),
            front: crate::resilience::Frontline::new(
                crate::resilience::ResilienceConfig {
                    enabled: false,
                    ..Default::default()
                },
                down_merchants,
                component_clock,
            ),
        }
    }

    /// Puts the gateway's own resilience in place (door and retries).
    pub fn with_frontline(mut self, front: crate::resilience::Frontline) -> Gateway {
        self.front = front;
        self
    }

    pub fn resilience(&self) -> &crate::resilience::Frontline {
        &self.front
    }

    /// Arms the chaos plans' faults on the gateway itself: crashes (with the
    /// store durability they ask for) and faults on its idempotency store.
    pub fn with_faults(
        mut self,
        crashes: bool,
        journals: bool,
        durability: Option<Durability>,
        store_faults: Option<Arc<FaultLayer>>,
        store_clock: Skew,
    ) -> Gateway {
        self.crash.enabled = crashes;
        self.journals = journals;
        if let Some(d) = durability {
            self.crash.durability = d;
        }
        self.store_faults = store_faults;
        self.store_clock = store_clock;
        self
    }

    /// Finishes construction: the gateway can now spawn its own tasks.
    pub fn into_arc(self) -> Arc<Gateway> {
        let me = Arc::new(self);
        let _ = me.me.set(Arc::downgrade(&me));
        me
    }

    /// Runs `fut` unless the process crashes first (`None` then).
    async fn crash_guarded<F: Future>(&self, fut: F) -> Option<F::Output> {
        if !self.crash.enabled {
            return Some(fut.await);
        }
        // Registered now, so a crash from here on cuts this work.
        let mut cut = std::pin::pin!(self.crash.cut.notified());
        cut.as_mut().enable();
        tokio::select! {
            biased;
            _ = cut => None,
            out = fut => Some(out),
        }
    }

    /// The process dies: everything in progress is cut; the store keeps
    /// what its durability keeps. Requests are refused for `downtime`.
    pub fn crash(&self, downtime_us: u64) {
        self.crash.cut.notify_waiters();
        self.crash
            .down_until_us
            .store(self.clock.now_us() + downtime_us, Ordering::Relaxed);
        if self.crash.durability == Durability::Memory {
            self.idempotency.lose_everything();
            self.dedup.forget_everything();
        }
        self.stats.locked().crashes += 1;
    }

    /// The restarted process recovers from the outbox.
    pub async fn restart(&self) {
        self.recover().await;
    }

    /// Serves one API request (refused while the process is down; cut if it
    /// crashes meanwhile, which the client sees as a dropped connection).
    pub async fn handle(&self, req: Request) -> Served {
        if self.crash.enabled {
            if self.clock.now_us() < self.crash.down_until_us.load(Ordering::Relaxed) {
                self.stats.locked().refused_while_down += 1;
                return Served::fresh(Err(ApiError::Unavailable));
            }
            let out = self.crash_guarded(boxed(self.serve(&req))).await;
            return out.unwrap_or_else(|| {
                self.stats.locked().requests_cut_by_crash += 1;
                Served::fresh(Err(ApiError::Unavailable))
            });
        }
        self.serve(&req).await
    }

    /// The request goes down by reference: each async fn stores its
    /// arguments, so a `Request` passed by value would be kept at every level
    /// of the request's future.
    async fn serve(&self, req: &Request) -> Served {
        if let Some((start_us, end_us)) = self.cfg.stall_window_us() {
            let now = self.clock.now_us();
            if (start_us..end_us).contains(&now) {
                // Stalled: nothing starts until the window ends.
                self.clock.sleep_until_us(end_us).await;
            }
        }
        let _in_progress = match self.front.admit(req.merchant) {
            Ok(guard) => guard,
            Err(refused) => return Served::fresh(Err(refusal_error(refused))),
        };
        // A keyed request looks its key up right after this sleep.
        let key_line = match (req.key, req.op) {
            (_, Operation::Get { .. }) | (None, _) => 0,
            (Some(key), _) => Component::hint_line(|| self.idempotency.line(req.merchant, key)),
        };
        self.component
            .serve_touching([key_line, 0, 0, 0], || ())
            .await;
        self.stats.locked().requests += 1;
        // Not boxed: the two arms' route futures overlap in this future's
        // layout, and a box would cost an allocation and a copy of the
        // whole request's state machine (over 2 KB) per request.
        match self.front.cfg.timeouts.deadline_us(self.clock.now_us()) {
            Some(deadline) if self.front.cfg.enabled => {
                DEADLINE_US.scope(deadline, self.route(req)).await
            }
            _ => self.route(req).await,
        }
    }

    /// The request past the door: a read, or through the idempotency
    /// layer (keyed) or the dedup window (keyless) to execution.
    async fn route(&self, req: &Request) -> Served {
        if let Operation::Get { payment } = req.op {
            return Served::fresh(self.get(req.merchant, payment));
        }
        let Some(key) = req.key else {
            // Boxed: keyless requests are the legacy few, and their path
            // (dedup, then a create) is the largest; every keyed request's
            // future would carry its size.
            return Served::fresh(boxed(self.execute_keyless(req)).await);
        };
        if let Some(store) = &self.store_faults {
            // The store failed or did not answer: nothing ran, safe to retry.
            if store.pass().await.is_err() {
                self.stats.locked().store_failures += 1;
                return Served::fresh(Err(ApiError::Unavailable));
            }
        }
        let now = self.store_clock.read(self.clock.now_us());
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
                Served::replay(stored)
            }
            Begin::Mismatch => {
                self.stats.locked().idempotency_mismatches += 1;
                Served::fresh(Err(ApiError::IdempotencyMismatch))
            }
            Begin::InFlight => {
                self.stats.locked().in_flight_conflicts += 1;
                Served::fresh(Err(ApiError::InFlight))
            }
            Begin::Execute => {
                let reply = self.execute(req).await;
                match reply {
                    Err(ApiError::Unavailable | ApiError::RateLimited { .. }) => {
                        self.idempotency.abandon(req.merchant, key)
                    }
                    // Reconciliation stores the answer once it knows it.
                    Err(ApiError::UpstreamTimeout) => {}
                    _ => self.idempotency.complete(req.merchant, key, reply),
                }
                Served::fresh(reply)
            }
        }
    }

    async fn execute(&self, req: &Request) -> Result<ApiReply, ApiError> {
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
    async fn execute_keyless(&self, req: &Request) -> Result<ApiReply, ApiError> {
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

    /// Charges one request that ends at the HTTP edge (a 404 or a 403: it
    /// never reaches [`Gateway::handle`]) to the door's quotas, so probing
    /// for payment ids costs a merchant its quota like any other request.
    /// `Err` is the refusal to answer with instead.
    pub fn charge_edge_request(&self, merchant: crate::domain::MerchantId) -> Result<(), ApiError> {
        self.front.admit(merchant).map(drop).map_err(refusal_error)
    }

    /// The owner and current view of a payment, without a request: the HTTP
    /// edge tells 403 (another merchant's payment) from 404 with it, and
    /// fills a capture's or refund's default amount. Never on the sim path.
    pub fn peek(&self, payment: PaymentId) -> Option<(crate::domain::MerchantId, PaymentView)> {
        self.payments
            .locked()
            .get(&payment)
            .map(|rec| (rec.merchant, rec.view()))
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
        self.idempotency
            .prune(self.store_clock.read(self.clock.now_us()))
    }

    /// End-of-run read of the payment table, in id order.
    ///
    /// Read under the table's lock rather than copied out first: at the
    /// Singles' Day peak's 35 M payments a copy is 3 GB at the run's
    /// highest memory mark, and the observer (the checker's feed) never
    /// takes a gateway lock, so holding this one while feeding it is safe.
    pub fn read_payments(&self) {
        let payments = self.payments.locked();
        for r in payments.values() {
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

/// The answer for a request the door refused: 503 when shed, 429 with the
/// quota's wait when rate-limited.
fn refusal_error(refused: crate::resilience::Refused) -> ApiError {
    match refused {
        crate::resilience::Refused::Shed => ApiError::Unavailable,
        crate::resilience::Refused::RateLimited(limited) => {
            let ms = limited
                .retry_after()
                .as_millis()
                .clamp(1, u128::from(u32::MAX));
            ApiError::RateLimited {
                retry_after_ms: ms as u32,
            }
        }
    }
}
