//! The gateway's API semantics, exercised through the same in-process
//! transport the load generator uses: Stripe's idempotency rules, the dedup
//! window for keyless requests, and atomic refunds under concurrency.

use std::sync::Arc;

use paystorm::domain::api::{PaymentApi, Request};
use paystorm::domain::audit::{AuditRecord, Observer};
use paystorm::domain::history::HistoryEvent;
use paystorm::domain::{
    ApiError, CaptureMode, CreateParams, Currency, CustomerId, IdemKey, MerchantId, Method, Money,
    Operation, Status,
};
use paystorm::load::spec::Population;
use paystorm::sim::latency::LatencySpec;
use paystorm::sim::world::make_world;
use paystorm::sim::{Clock, Seed};
use paystorm::stack::config::StackConfig;
use paystorm::stack::sabotage::{Sabotage, Sabotages};
use paystorm::stack::{InProcess, Stack};

struct Null;
impl Observer for Null {
    fn audit(&self, _: AuditRecord) {}
    fn history(&self, _: HistoryEvent) {}
}

/// A stack with seed 5, no chaos and default resilience.
fn build(
    cfg: &StackConfig,
    world: &paystorm::stack::world::World,
    observer: Arc<dyn Observer>,
    sabotage: Sabotages,
) -> Stack {
    Stack::build(
        cfg,
        world,
        Currency::USD,
        Seed(5),
        Clock::start(),
        observer,
        sabotage,
        paystorm::stack::Sizing::default(),
        &paystorm::chaos::Chaos::none(Seed(5)),
        &paystorm::resilience::ResilienceConfig::default(),
    )
    .expect("the config builds")
}

fn stack(sabotage: Sabotages) -> (Stack, InProcess) {
    stack_with(sabotage, |_| {})
}

/// [`stack`], with `tweak` applied to its config.
fn stack_with(sabotage: Sabotages, tweak: impl FnOnce(&mut StackConfig)) -> (Stack, InProcess) {
    let mut cfg = StackConfig::default();
    tweak(&mut cfg);
    cfg.wallet.failure_share = 0.0;
    cfg.issuers.risk_decline_share = 0.0;
    let pop = Population {
        merchants: 3,
        customers: 10,
        balance_p50_minor: 1_000_000,
        balance_p99_minor: 1_000_001,
        short_of_funds_share: 0.0,
        ..Population::default()
    };
    let world = make_world(&pop, &cfg, Seed(5));
    let stack = build(&cfg, &world, Arc::new(Null), sabotage);
    let api = stack.api();
    (stack, api)
}

async fn card_params(
    api: &InProcess,
    customer: u32,
    amount: i64,
    capture: CaptureMode,
) -> CreateParams {
    let p = api
        .authenticate(CustomerId(customer))
        .await
        .expect("wallet never fails here");
    CreateParams {
        merchant: MerchantId(0),
        customer: CustomerId(customer),
        amount: Money::new(amount, Currency::USD),
        method: Method::CardOnline,
        capture,
        token: Some((p.token, p.device)),
        callback: false,
    }
}

fn create(key: Option<u64>, params: CreateParams) -> Request {
    Request {
        merchant: params.merchant,
        key: key.map(IdemKey),
        op: Operation::Create(params),
    }
}

#[tokio::test(start_paused = true)]
async fn same_key_replays_the_stored_reply_marked_as_replay() {
    let (_stack, api) = stack(Sabotages::NONE);
    let params = card_params(&api, 1, 2_500, CaptureMode::Automatic).await;
    let first = api.call(create(Some(1), params)).await.unwrap();
    let again = api.call(create(Some(1), params)).await.unwrap();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(
        first.payment, again.payment,
        "a replay is the stored reply, unchanged"
    );
    assert_eq!(first.payment.status, Status::Captured);
}

#[tokio::test(start_paused = true)]
async fn same_key_other_parameters_is_refused_and_nothing_runs() {
    let (_stack, api) = stack(Sabotages::NONE);
    let params = card_params(&api, 1, 2_500, CaptureMode::Automatic).await;
    let first = api.call(create(Some(7), params)).await.unwrap();
    let other = CreateParams {
        amount: Money::new(2_501, Currency::USD),
        ..params
    };
    assert_eq!(
        api.call(create(Some(7), other)).await,
        Err(ApiError::IdempotencyMismatch)
    );
    let next_id = api.call(create(Some(8), params)).await.unwrap().payment.id;
    assert_eq!(
        next_id.0,
        first.payment.id.0 + 1,
        "the refused request created no payment"
    );
}

#[tokio::test(start_paused = true)]
async fn same_key_while_in_flight_gets_409_then_the_replay() {
    // Fixed latencies, so the order does not hang on draws: the first
    // request holds its key from 10 ms to past 500 ms; the second arrives
    // at 110 ms.
    let fixed = |ms| LatencySpec {
        fixed_ms: Some(ms),
        ..LatencySpec::default()
    };
    let (_stack, api) = stack_with(Sabotages::NONE, |cfg| {
        cfg.gateway.latency = fixed(10.0);
        cfg.networks.latency = fixed(10.0);
        cfg.issuers.latency = fixed(500.0);
    });
    let params = card_params(&api, 2, 900, CaptureMode::Manual).await;
    let first = tokio::spawn({
        let api = api.clone();
        async move { api.call(create(Some(3), params)).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        api.call(create(Some(3), params)).await,
        Err(ApiError::InFlight)
    );
    let first = first.await.unwrap().unwrap();
    let replay = api.call(create(Some(3), params)).await.unwrap();
    assert_eq!(first.payment, replay.payment);
    assert!(replay.replayed);
}

#[tokio::test(start_paused = true)]
async fn without_the_store_a_retry_charges_twice() {
    // The sabotage the checker must catch, seen from the API.
    let (_stack, api) = stack(Sabotages::NONE.with(Sabotage::NoIdempotency));
    let params = card_params(&api, 1, 2_500, CaptureMode::Automatic).await;
    let a = api.call(create(Some(1), params)).await.unwrap();
    let b = api.call(create(Some(1), params)).await.unwrap();
    assert_ne!(a.payment.id, b.payment.id);
    assert!(!b.replayed);
}

#[tokio::test(start_paused = true)]
async fn keyless_duplicate_within_the_window_returns_the_existing_payment() {
    let (_stack, api) = stack(Sabotages::NONE);
    let params = card_params(&api, 4, 1_234, CaptureMode::Automatic).await;
    let a = api.call(create(None, params)).await.unwrap();
    let b = api.call(create(None, params)).await.unwrap();
    assert_eq!(
        a.payment.id, b.payment.id,
        "default policy: return_existing"
    );
    assert!(b.replayed);
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    let c = api.call(create(None, params)).await.unwrap();
    assert_ne!(
        c.payment.id, a.payment.id,
        "outside the 10 s window it is a new payment"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_refunds_never_exceed_the_captured_amount() {
    let (_stack, api) = stack(Sabotages::NONE);
    let params = card_params(&api, 5, 10_000, CaptureMode::Automatic).await;
    let paid = api.call(create(Some(1), params)).await.unwrap().payment;
    let refund = |key: u64| {
        let api = api.clone();
        tokio::spawn(async move {
            api.call(Request {
                merchant: MerchantId(0),
                key: Some(IdemKey(key)),
                op: Operation::Refund {
                    payment: paid.id,
                    amount_minor: 10_000,
                },
            })
            .await
        })
    };
    let (a, b) = (refund(10), refund(11));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "exactly one full refund succeeds: {a:?} {b:?}"
    );
    assert!(matches!(
        (a, b),
        (Err(ApiError::AmountTooLarge), _) | (_, Err(ApiError::AmountTooLarge))
    ));
}

#[tokio::test(start_paused = true)]
async fn capture_void_and_states() {
    let (_stack, api) = stack(Sabotages::NONE);
    let params = card_params(&api, 6, 5_000, CaptureMode::Manual).await;
    let auth = api.call(create(Some(1), params)).await.unwrap().payment;
    assert_eq!(auth.status, Status::Authorized);
    let op = |key: u64, op: Operation| Request {
        merchant: MerchantId(0),
        key: Some(IdemKey(key)),
        op,
    };
    let too_much = op(
        2,
        Operation::Capture {
            payment: auth.id,
            amount_minor: 5_001,
        },
    );
    assert_eq!(api.call(too_much).await, Err(ApiError::AmountTooLarge));
    let cap = api
        .call(op(
            3,
            Operation::Capture {
                payment: auth.id,
                amount_minor: 4_000,
            },
        ))
        .await
        .unwrap()
        .payment;
    assert_eq!((cap.status, cap.captured_minor), (Status::Captured, 4_000));
    assert_eq!(
        api.call(op(4, Operation::Void { payment: auth.id })).await,
        Err(ApiError::InvalidState),
        "a captured payment cannot be voided"
    );
    let other_merchant = Request {
        merchant: MerchantId(1),
        key: None,
        op: Operation::Get { payment: auth.id },
    };
    assert_eq!(api.call(other_merchant).await, Err(ApiError::NotFound));
}

/// Records the kinds of webhook events the gateway emits.
#[derive(Default)]
struct Events(
    std::sync::Mutex<
        Vec<(
            paystorm::domain::PaymentId,
            paystorm::domain::audit::EventKind,
        )>,
    >,
);

impl Observer for Events {
    fn audit(&self, r: AuditRecord) {
        if let AuditRecord::EventEmitted { payment, kind, .. } = r {
            self.0.lock().unwrap().push((payment, kind));
        }
    }
    fn history(&self, _: HistoryEvent) {}
}

/// Regression: a capture in flight when the hold expired left the payment
/// voided without telling the merchant (the expiry sweep skips busy rows).
#[tokio::test(start_paused = true)]
async fn a_capture_that_loses_the_race_with_expiry_still_reports_the_void() {
    use paystorm::domain::audit::EventKind;
    use paystorm::sim::LatencySpec;
    let fixed = |ms: f64| LatencySpec {
        fixed_ms: Some(ms),
        ..LatencySpec::default()
    };
    let mut cfg = StackConfig::default();
    cfg.wallet.failure_share = 0.0;
    cfg.issuers.risk_decline_share = 0.0;
    cfg.issuers.hold_expiry_s = 1.0;
    cfg.issuers.expiry_sweep_interval_s = 0.1;
    cfg.issuers.latency = fixed(1.0);
    cfg.networks.latency = fixed(500.0);
    cfg.gateway.latency = fixed(1.0);
    cfg.tokens.latency = fixed(1.0);
    let pop = Population {
        merchants: 1,
        customers: 2,
        balance_p50_minor: 1_000_000,
        balance_p99_minor: 1_000_001,
        short_of_funds_share: 0.0,
        ..Population::default()
    };
    let world = make_world(&pop, &cfg, Seed(5));
    let events = Arc::new(Events::default());
    let stack = build(&cfg, &world, events.clone(), Sabotages::NONE);
    let stop = paystorm::sim::signal::Signal::new();
    let background = stack.spawn_background(&stop);
    let api = stack.api();
    let params = card_params(&api, 1, 5_000, CaptureMode::Manual).await;
    let auth = api.call(create(Some(1), params)).await.unwrap().payment;
    assert_eq!(auth.status, Status::Authorized);
    // The hold (placed at ~0.5 s) expires at ~1.5 s. The capture starts at
    // ~1.2 s, while the hold is alive, and reaches the issuer 500 ms later,
    // after the sweep at 1.6 s released it: the payment is busy then, so the
    // sweep leaves the telling to the capture.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let capture = Request {
        merchant: MerchantId(0),
        key: Some(IdemKey(2)),
        op: Operation::Capture {
            payment: auth.id,
            amount_minor: 5_000,
        },
    };
    assert_eq!(api.call(capture).await, Err(ApiError::InvalidState));
    let now = api
        .call(Request {
            merchant: MerchantId(0),
            key: None,
            op: Operation::Get { payment: auth.id },
        })
        .await
        .unwrap();
    assert_eq!(now.payment.status, Status::Voided);
    stop.fire();
    for t in background {
        let _ = t.await;
    }
    let kinds: Vec<EventKind> = events
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| *p == auth.id)
        .map(|(_, k)| *k)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::PaymentVoided)
            .count(),
        1,
        "the merchant hears of the void exactly once: {kinds:?}"
    );
}
