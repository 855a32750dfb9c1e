//! The stack's metrics: the counters it already keeps for `results.json`,
//! read at scrape time. Each is said once here, for its descriptor, its
//! samples and the catalogue.

use crate::telemetry::family::Spec;

// Gateway and idempotency.
pub const GATEWAY_ADMITTED: Spec = Spec::counter(
    "paystorm_gateway_admitted_total",
    &[],
    "Requests the gateway took past its door (not shed, not rate limited, not refused while down).",
);
pub const REPLAYS: Spec = Spec::counter(
    "paystorm_idempotency_replays_total",
    &[],
    "Requests answered with the stored response of their idempotency key (Idempotent-Replayed).",
);
pub const IDEMPOTENCY_REJECTED: Spec = Spec::counter(
    "paystorm_idempotency_rejections_total",
    &["reason"],
    "Requests the idempotency layer refused: reason mismatch (same key, other parameters: 400) or in_flight (the first is still running: 409).",
);
pub const DEDUP_HITS: Spec = Spec::counter(
    "paystorm_dedup_hits_total",
    &[],
    "Keyless requests the dedup window recognised as a repeat.",
);
pub const DECLINES: Spec = Spec::counter(
    "paystorm_declines_total",
    &["reason"],
    "Payments declined, by reason (issuer, fraud rules, token checks).",
);
pub const DOWNSTREAM_ERRORS: Spec = Spec::counter(
    "paystorm_downstream_errors_total",
    &["reason"],
    "The gateway's downstream calls that did not answer: failed (nothing happened), timed_out (outcome unknown, reconciled later) or rejected (refused by a breaker or bulkhead).",
);
pub const RECONCILIATIONS: Spec = Spec::counter(
    "paystorm_reconciliations_total",
    &["outcome"],
    "Timed-out downstream messages whose answer reconciliation applied (ok) or gave up on (failed).",
);
pub const STORE_FAILURES: Spec = Spec::counter(
    "paystorm_idempotency_store_failures_total",
    &[],
    "Requests refused because the idempotency store failed (503, nothing ran).",
);
pub const CRASHES: Spec = Spec::counter(
    "paystorm_gateway_crashes_total",
    &[],
    "Times the gateway process crashed (a chaos plan's crash fault).",
);
pub const REFUSED_DOWN: Spec = Spec::counter(
    "paystorm_gateway_refused_while_down_total",
    &[],
    "Requests refused because the gateway was down after a crash.",
);
pub const HOLDS_EXPIRED: Spec = Spec::counter(
    "paystorm_holds_expired_total",
    &[],
    "Authorization holds the issuers released because they expired uncaptured.",
);
pub const SETTLEMENT_BATCHES: Spec = Spec::counter(
    "paystorm_settlement_batches_total",
    &[],
    "Settlement batches the acquirer closed.",
);
pub const KEYS: Spec = Spec::gauge(
    "paystorm_idempotency_keys",
    &[],
    "Idempotency keys retained now (pruned after the retention window).",
);

// Depths.
pub const QUEUE_DEPTH: Spec = Spec::gauge(
    "paystorm_queue_depth",
    &["queue"],
    "Items waiting now: webhooks (events not yet delivered or dead-lettered), unresolved_messages (downstream answers the gateway is still reconciling), stand_in_advices (owed to issuers), settlement (captures and refunds awaiting a batch).",
);
pub const DEAD_LETTER_DEPTH: Spec = Spec::gauge(
    "paystorm_dead_letter_queue_depth",
    &[],
    "Webhook events in the dead-letter queue after their last failed attempt.",
);
pub const HOLDS_OPEN: Spec = Spec::gauge(
    "paystorm_holds_open",
    &[],
    "Authorization holds placed and neither captured nor released.",
);

// Webhooks.
pub const WEBHOOK_EMITTED: Spec = Spec::counter(
    "paystorm_webhook_events_emitted_total",
    &[],
    "Webhook events the stack emitted (one per status change).",
);
pub const WEBHOOK_EVENTS: Spec = Spec::counter(
    "paystorm_webhook_events_total",
    &["outcome"],
    "Webhook events by how they ended: delivered, dead_lettered, or lost (never both: only a sabotage loses one).",
);
pub const WEBHOOK_ATTEMPTS: Spec = Spec::counter(
    "paystorm_webhook_attempts_total",
    &["outcome"],
    "Webhook delivery attempts: ok (the endpoint took it) or failed (retried with backoff, or dead-lettered after the last).",
);

// Resilience.
pub const BREAKER_STATE: Spec = Spec::gauge(
    "paystorm_breaker_state",
    &["downstream", "state"],
    "1 for the state a downstream's circuit breaker is in (closed, open, half_open), 0 for the others.",
);
pub const BREAKER_TRANSITIONS: Spec = Spec::counter(
    "paystorm_breaker_transitions_total",
    &["downstream", "state"],
    "Circuit breaker transitions, by the state entered.",
);
pub const BREAKER_SLOW: Spec = Spec::counter(
    "paystorm_breaker_slow_calls_total",
    &["downstream"],
    "Calls slower than the breaker's slow_call_ms.",
);
pub const BREAKER_REJECTED: Spec = Spec::counter(
    "paystorm_breaker_rejected_total",
    &["downstream"],
    "Calls an open (or saturated half-open) breaker refused at once.",
);
pub const BULKHEAD_REJECTED: Spec = Spec::counter(
    "paystorm_bulkhead_rejected_total",
    &["downstream"],
    "Calls a bulkhead refused: no slot free within max_wait_ms.",
);
pub const GUARD_TIMEOUTS: Spec = Spec::counter(
    "paystorm_guard_timeouts_total",
    &["downstream"],
    "Calls a downstream's guard timed out itself (the webhook endpoint's).",
);
pub const CALL_TIMEOUTS: Spec = Spec::counter(
    "paystorm_call_timeouts_total",
    &[],
    "The gateway's calls to networks and issuers that ran out of time (call timeout or the request's deadline).",
);
pub const RATE_LIMITED: Spec = Spec::counter(
    "paystorm_rate_limited_total",
    &["scope"],
    "Requests refused with 429 at the gateway's door: by the global quota, or by a merchant's quota (merchant_top_1pct, merchant_next_9pct, merchant_rest: merchant popularity classes, not merchants).",
);
pub const SHED: Spec = Spec::counter(
    "paystorm_shed_total",
    &[],
    "Requests shed with 503 at the gateway's door: too many in progress.",
);
pub const SHED_IN_FLIGHT: Spec = Spec::gauge(
    "paystorm_shedding_in_flight",
    &[],
    "Requests in progress as the load shedder counts them (it sheds at max_in_flight).",
);
pub const RETRIES: Spec = Spec::counter(
    "paystorm_retries_total",
    &["outcome"],
    "Retries of a message inside the stack: ok (sent) or rejected (the retry budget refused it).",
);
pub const STAND_IN: Spec = Spec::counter(
    "paystorm_stand_in_decisions_total",
    &["outcome", "reason"],
    "Stand-in decisions by the card networks while an issuer's breaker is open: ok (approved on its behalf) or rejected with reason amount, card_limit or advices_full.",
);
pub const STAND_IN_ADVICES: Spec = Spec::counter(
    "paystorm_stand_in_advices_total",
    &["outcome"],
    "Stand-in advices: sent (attempts) and acknowledged by the issuer.",
);

// Faults.
pub const FAULTS_INJECTED: Spec = Spec::counter(
    "paystorm_faults_injected_total",
    &["kind", "target"],
    "Faults the chaos plans injected, by kind and the boundary or component they aim at.",
);
pub const FAULT_ACTIVE: Spec = Spec::gauge(
    "paystorm_fault_active",
    &["kind", "target"],
    "1 while a fault window of this kind is open on this target, else 0.",
);

/// Every spec this module emits.
pub const ALL: [Spec; 36] = [
    GATEWAY_ADMITTED,
    REPLAYS,
    IDEMPOTENCY_REJECTED,
    DEDUP_HITS,
    DECLINES,
    DOWNSTREAM_ERRORS,
    RECONCILIATIONS,
    STORE_FAILURES,
    CRASHES,
    REFUSED_DOWN,
    HOLDS_EXPIRED,
    SETTLEMENT_BATCHES,
    KEYS,
    QUEUE_DEPTH,
    DEAD_LETTER_DEPTH,
    HOLDS_OPEN,
    WEBHOOK_EMITTED,
    WEBHOOK_EVENTS,
    WEBHOOK_ATTEMPTS,
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    BREAKER_SLOW,
    BREAKER_REJECTED,
    BULKHEAD_REJECTED,
    GUARD_TIMEOUTS,
    CALL_TIMEOUTS,
    RATE_LIMITED,
    SHED,
    SHED_IN_FLIGHT,
    RETRIES,
    STAND_IN,
    STAND_IN_ADVICES,
    FAULTS_INJECTED,
    FAULT_ACTIVE,
    crate::telemetry::gateway::REQUESTS,
    crate::telemetry::gateway::IN_FLIGHT,
];
