//! Webhooks: every status change becomes an event on a bounded queue; a
//! dispatcher hands events to delivery tasks (bounded in number) that POST to
//! the merchant's endpoint, signed, retrying with exponential backoff and full
//! jitter, and dead-letter an event after its last attempt. An event id always
//! carries the same payload; the endpoint deduplicates by id.
//!
//! Order of delivery per payment is not promised (retries overtake).

pub mod endpoint;
pub mod http;
pub mod signature;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::sim::executor::boxed;
use crate::sim::signal::Signal;

use crate::chaos::{FaultLayer, Stalls};

use crate::domain::audit::{AuditRecord, EventKind, Observer};
use crate::domain::fingerprint::hash_payload;
use crate::domain::{EventId, MerchantId, PaymentId, PaymentView};
use crate::lock::Locked;
use crate::sim::rng::SharedRng;
use crate::sim::Clock;

use super::config::WebhooksConfig;
use super::sabotage::{Sabotage, Sabotages};
use endpoint::{Delivery, MerchantEndpoint};

pub struct Event {
    id: EventId,
    merchant: MerchantId,
    body: Arc<[u8]>,
}

#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct WebhookStats {
    pub emitted: u64,
    pub delivered: u64,
    pub attempts: u64,
    pub retries: u64,
    pub dead_lettered: u64,
    /// Events dropped without delivery or dead-lettering: always 0 unless a
    /// sabotage is on.
    pub lost: u64,
    /// Events whose emitter was cut (a gateway crash) while waiting for room
    /// in the queue; the dispatcher takes them first.
    pub orphaned: u64,
    /// Times the dispatcher found the queue stalled by a chaos plan.
    pub stalls: u64,
}

pub struct Webhooks {
    cfg: WebhooksConfig,
    clock: Clock,
    observer: Arc<dyn Observer>,
    sabotage: Sabotages,
    endpoint: Arc<MerchantEndpoint>,
    /// Faults aimed at `gateway->webhook`, if any.
    outbound: Option<Arc<FaultLayer>>,
    /// Windows in which the queue stops draining.
    stalls: Stalls,
    /// The breaker, bulkhead and timeout in front of the endpoint.
    guard: Option<Arc<crate::resilience::Guard>>,
    /// Events whose emitter was cut before the queue took them.
    orphans: Mutex<std::collections::VecDeque<Event>>,
    /// Each merchant's signing key, by merchant id.
    keys: Vec<signature::SigningKey>,
    /// Live mode: merchants with registered endpoints get their events
    /// over HTTP.
    http: std::sync::OnceLock<Arc<http::HttpSender>>,
    queue: mpsc::Sender<Event>,
    queue_rx: Mutex<Option<mpsc::Receiver<Event>>>,
    in_flight: Arc<crate::slots::Slots>,
    jitter: SharedRng,
    next_event: AtomicU64,
    /// Emitted events not yet delivered, dead-lettered (or lost).
    outstanding: AtomicU64,
    /// Of those, the ones in trouble: failed at least once, or orphaned.
    troubled: AtomicU64,
    stats: Mutex<WebhookStats>,
}

impl Webhooks {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: WebhooksConfig,
        clock: Clock,
        observer: Arc<dyn Observer>,
        sabotage: Sabotages,
        endpoint: MerchantEndpoint,
        secrets: Vec<[u8; 32]>,
        jitter: SharedRng,
        outbound: Option<Arc<FaultLayer>>,
        stalls: Stalls,
        guard: Arc<crate::resilience::Guard>,
    ) -> Webhooks {
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1) as usize);
        Webhooks {
            cfg,
            clock,
            observer,
            sabotage,
            endpoint: Arc::new(endpoint),
            outbound,
            stalls,
            guard: guard.is_active().then_some(guard),
            orphans: Mutex::new(Default::default()),
            keys: secrets
                .iter()
                .map(|s| signature::SigningKey::new(s))
                .collect(),
            http: std::sync::OnceLock::new(),
            queue: tx,
            queue_rx: Mutex::new(Some(rx)),
            in_flight: Arc::new(crate::slots::Slots::new(cfg.in_flight_max as usize)),
            jitter,
            next_event: AtomicU64::new(1),
            outstanding: AtomicU64::new(0),
            troubled: AtomicU64::new(0),
            stats: Mutex::new(WebhookStats::default()),
        }
    }

    /// From now on, events of merchants with endpoints in `routes` go to
    /// those endpoints over HTTP, each attempt waiting at most the
    /// configured `timeout_ms` (once; a second call is refused).
    pub fn deliver_over_http(&self, routes: Arc<dyn http::Routes>) -> Result<(), String> {
        let timeout = crate::sim::clock::ms_f64(self.cfg.timeout_ms);
        self.http
            .set(Arc::new(http::HttpSender::new(routes, timeout)))
            .map_err(|_| "webhooks already deliver over HTTP".to_string())
    }

    /// Emits an event for a status change; waits while the queue is full.
    ///
    /// The wait is boxed: every operation that changes a payment awaits
    /// this, so whatever its future holds is held at every level of every
    /// request's future, and the queue is almost never full.
    pub async fn emit(&self, merchant: MerchantId, payment: &PaymentView, kind: EventKind) {
        if let Some(event) = self.try_emit(merchant, payment, kind) {
            boxed(self.wait_for_room(event)).await;
        }
    }

    /// Emits an event if the queue has room; otherwise returns it.
    fn try_emit(
        &self,
        merchant: MerchantId,
        payment: &PaymentView,
        kind: EventKind,
    ) -> Option<Event> {
        let id = EventId(self.next_event.fetch_add(1, Ordering::Relaxed));
        let body = render(id, kind, self.clock.unix_s(), merchant, payment);
        self.observer.audit(AuditRecord::EventEmitted {
            event: id,
            merchant,
            payment: payment.id,
            kind,
            payload_hash: hash_payload(body.as_bytes()),
        });
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        self.stats.locked().emitted += 1;
        let event = Event {
            id,
            merchant,
            body: body.into_bytes().into(),
        };
        // Room in the queue now: no waiting, nothing to cut.
        match self.queue.try_send(event) {
            Ok(()) => None,
            Err(mpsc::error::TrySendError::Full(event)) => Some(event),
            Err(mpsc::error::TrySendError::Closed(event)) => {
                self.dead_letter(&event, 0);
                None
            }
        }
    }

    /// Sends `event` once the queue has room.
    async fn wait_for_room(&self, event: Event) {
        // Wait for room. If this wait is cut (a gateway crash), the guard
        // hands the event to the dispatcher, so an emitted event is never
        // lost with its emitter.
        let mut guard = Orphan {
            webhooks: self,
            event: Some(event),
        };
        let permit = self.queue.reserve().await;
        let event = guard.event.take().expect("held by the guard until now");
        match permit {
            Ok(permit) => permit.send(event),
            // The receiver lives as long as the dispatcher; if it is gone the
            // run is shutting down and the event is accounted as
            // dead-lettered.
            Err(_) => self.dead_letter(&event, 0),
        }
    }

    /// Moves events from the queue to delivery tasks until `shutdown`.
    pub async fn run_dispatcher(self: Arc<Self>, shutdown: Signal) {
        let Some(mut rx) = self.queue_rx.locked().take() else {
            return;
        };
        loop {
            if let Some(until) = self.stalls.stalled_until_us(self.clock.now_us()) {
                self.stats.locked().stalls += 1;
                tokio::select! {
                    biased;
                    _ = shutdown.wait() => break,
                    _ = self.clock.sleep_until_us(until) => {},
                }
            }
            let orphan = self.orphans.locked().pop_front();
            let event = match orphan {
                Some(ev) => ev,
                None => tokio::select! {
                    biased;
                    _ = shutdown.wait() => break,
                    ev = rx.recv() => match ev { Some(ev) => ev, None => break },
                },
            };
            let permit = self.in_flight.clone().take_owned().await;
            let me = self.clone();
            crate::sim::task::spawn_detached(async move {
                me.deliver(event).await;
                drop(permit);
            });
        }
    }

    async fn deliver(&self, event: Event) {
        let failed_once = self.attempt_all(&event).await;
        if failed_once {
            self.troubled.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Delivers with retries until delivered or dead-lettered; says whether
    /// any attempt failed (the event was "in trouble" meanwhile). Over HTTP
    /// each attempt goes to every endpoint that has not acknowledged yet.
    async fn attempt_all(&self, event: &Event) -> bool {
        let attempts_max = self.cfg.attempts_max.max(1);
        let http = self.http.get();
        let mut pending = http.map(|h| h.routes(event.merchant)).unwrap_or_default();
        for attempt in 1..=attempts_max {
            let t_s = self.clock.unix_s();
            let result = match http {
                Some(h) if !pending.is_empty() => {
                    let mut failed = Vec::new();
                    for route in pending {
                        let (h, body) = (h.clone(), event.body.clone());
                        let r = route.clone();
                        // Boxed: the HTTP client's future is kilobytes, and
                        // unboxed it would size every delivery task, in sim
                        // runs too, where this branch never runs.
                        let sent = boxed(self.guarded(move || {
                            let (h, body, r) = (h.clone(), body.clone(), r.clone());
                            async move { h.post(&r, t_s, body).await }
                        }))
                        .await;
                        if sent.is_err() {
                            failed.push(route);
                        }
                    }
                    pending = failed;
                    if pending.is_empty() {
                        Ok(())
                    } else {
                        Err(endpoint::DeliveryFailed)
                    }
                }
                _ => {
                    let delivery = Delivery {
                        merchant: event.merchant,
                        event: event.id,
                        t_s,
                        body: event.body.clone(),
                        signature: self.keys[event.merchant.0 as usize].sign(t_s, &event.body),
                    };
                    let endpoint = self.endpoint.clone();
                    // Boxed too: the guard and fault layers' futures are
                    // kilobytes, held only while an attempt is under way, and
                    // the task (one per event) is copied into place when it
                    // is spawned.
                    boxed(self.guarded(move || {
                        let (endpoint, delivery) = (endpoint.clone(), delivery.clone());
                        async move { endpoint.deliver(delivery).await }
                    }))
                    .await
                }
            };
            {
                let mut s = self.stats.locked();
                s.attempts += 1;
                s.retries += u64::from(attempt > 1);
                s.delivered += u64::from(result.is_ok());
            }
            if result.is_ok() {
                self.outstanding.fetch_sub(1, Ordering::Relaxed);
                return attempt > 1;
            }
            if attempt == 1 {
                self.troubled.fetch_add(1, Ordering::Relaxed);
            }
            if self.sabotage.has(Sabotage::LostWebhook) {
                self.stats.locked().lost += 1;
                self.outstanding.fetch_sub(1, Ordering::Relaxed);
                return true;
            }
            if attempt < attempts_max {
                self.clock.sleep(self.backoff(attempt)).await;
            }
        }
        self.dead_letter(event, attempts_max);
        true
    }

    /// One delivery call through the faults aimed at `gateway->webhook`
    /// and the endpoint's breaker, bulkhead and timeout; a 5xx counts
    /// against the breaker like a fault.
    async fn guarded<F, Fut>(&self, make: F) -> Result<(), endpoint::DeliveryFailed>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), endpoint::DeliveryFailed>> + Send + 'static,
    {
        // A maker, so the call's future is stored once (see `Guard::call`).
        let call = move || async move {
            crate::chaos::through(self.outbound.as_deref(), make)
                .await
                .and_then(|r| r.map_err(|_| crate::chaos::CallFault::Failed(None)))
        };
        match &self.guard {
            Some(g) => g.call(call).await,
            None => call().await,
        }
        .map_err(|_| endpoint::DeliveryFailed)
    }

    /// Events that failed at least once (or lost their emitter) and are not
    /// yet delivered or dead-lettered.
    pub fn troubled(&self) -> u64 {
        self.troubled.load(Ordering::Relaxed) + self.orphans.locked().len() as u64
    }

    /// Full jitter: uniform in [0, min(max, base * 2^(attempt-1))].
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling =
            (self.cfg.backoff_base_ms * 2f64.powi(attempt as i32 - 1)).min(self.cfg.backoff_max_ms);
        let ms = self.jitter.with(|r| r.range_f64(0.0, ceiling));
        Duration::from_micros((ms * 1000.0) as u64)
    }

    fn dead_letter(&self, event: &Event, attempts: u32) {
        self.observer.audit(AuditRecord::EventDeadLettered {
            event: event.id,
            attempts,
        });
        self.stats.locked().dead_lettered += 1;
        self.outstanding.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn outstanding(&self) -> u64 {
        self.outstanding.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> WebhookStats {
        *self.stats.locked()
    }
}

/// Hands an event to the dispatcher if its emitter is cut while waiting.
struct Orphan<'a> {
    webhooks: &'a Webhooks,
    event: Option<Event>,
}

impl Drop for Orphan<'_> {
    fn drop(&mut self) {
        if let Some(event) = self.event.take() {
            self.webhooks.stats.locked().orphaned += 1;
            self.webhooks.orphans.locked().push_back(event);
        }
    }
}

/// The event's JSON body. Never contains card data.
///
/// Written piece by piece rather than through `write!`: `fmt`'s machinery
/// cost more than the rest of an event's emission, and every payment emits
/// several. Every string written is one of our own names (no escaping).
fn render(
    id: EventId,
    kind: EventKind,
    created_s: u64,
    merchant: MerchantId,
    p: &PaymentView,
) -> String {
    let mut s = String::with_capacity(224);
    let mut n = itoa::Buffer::new();
    s.push_str(r#"{"id":""#);
    s.push_str(EventId::PREFIX);
    s.push_str(n.format(id.0));
    s.push_str(r#"","type":""#);
    s.push_str(kind.as_str());
    s.push_str(r#"","created":"#);
    s.push_str(n.format(created_s));
    s.push_str(r#","data":{"payment":""#);
    s.push_str(PaymentId::PREFIX);
    s.push_str(n.format(p.id.0));
    s.push_str(r#"","merchant":""#);
    s.push_str(MerchantId::PREFIX);
    s.push_str(n.format(merchant.0));
    s.push_str(r#"","method":""#);
    s.push_str(p.method.as_str());
    s.push_str(r#"","amount":"#);
    s.push_str(n.format(p.amount.minor));
    s.push_str(r#","currency":""#);
    s.push_str(p.amount.currency.as_str());
    s.push_str(r#"","status":""#);
    s.push_str(p.status.as_str());
    s.push_str(r#"","captured":"#);
    s.push_str(n.format(p.captured_minor));
    s.push_str(r#","refunded":"#);
    s.push_str(n.format(p.refunded_minor));
    s.push_str("}}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Method, Money, PaymentId, Status};

    #[test]
    fn event_body_is_json_without_card_data() {
        let view = PaymentView {
            id: PaymentId(7),
            amount: Money::new(1250, Currency::USD),
            status: Status::Captured,
            method: Method::CardNfc,
            captured_minor: 1250,
            refunded_minor: 0,
            decline: None,
        };
        let body = render(
            EventId(3),
            EventKind::PaymentCaptured,
            1_605_052_800,
            MerchantId(2),
            &view,
        );
        assert_eq!(
            body,
            r#"{"id":"evt_3","type":"payment.captured","created":1605052800,"data":{"payment":"pay_7","merchant":"mer_2","method":"card_nfc","amount":1250,"currency":"USD","status":"captured","captured":1250,"refunded":0}}"#
        );
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["id"], "evt_3");
        assert_eq!(v["type"], "payment.captured");
        assert_eq!(v["data"]["payment"], "pay_7");
        assert_eq!(v["data"]["amount"], 1250);
    }
}
