//! What the checker hands back: one result per invariant, in a fixed order, and
//! how the operations whose outcome the clients never learned were resolved.
//!
//! The order and the names are part of the interface: reports, JUnit files and
//! CI gates key on them, so they never change silently.

/// Name and one-line description of every invariant, in report order.
pub const INVARIANTS: &[(&str, &str)] = &[
    (
        IDEMPOTENCY_SINGLE_EFFECT,
        "per idempotency key: 1 ledger effect if any attempt returned ok, 0 if all failed definitively, 0 or 1 if all were unknown",
    ),
    (
        IDEMPOTENCY_CONSISTENT_REPLIES,
        "every reply with a body for a key carries the same payment, refund, amount and status",
    ),
    (
        IDEMPOTENCY_MISMATCH_NOT_EXECUTED,
        "a key reused with other parameters never executed",
    ),
    (
        LEDGER_ENTRIES_BALANCE,
        "every journal entry's legs sum to zero",
    ),
    (
        LEDGER_MONEY_CONSERVED,
        "end-of-run balances sum to zero per currency and equal the balances recomputed from the journal",
    ),
    (
        LEDGER_ACCOUNT_LIMITS,
        "no account's running balance ever went below its floor",
    ),
    (
        LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED,
        "captured <= authorized <= created amount per payment, and the payment table agrees with the ledger",
    ),
    (
        LIFECYCLE_HOLD_RESOLVED_ONCE,
        "every hold is captured or released exactly once",
    ),
    (
        LIFECYCLE_REFUNDS_WITHIN_CAPTURED,
        "refunds of a payment total at most what was captured",
    ),
    (
        SETTLEMENT_EACH_CAPTURE_ONCE,
        "each capture is settled exactly once for its amount; settled refunds equal refunds",
    ),
    (
        SETTLEMENT_DEPOSIT_MATCHES,
        "each merchant deposit per batch equals captures - refunds - contracted fees",
    ),
    (
        WEBHOOK_DELIVERED_OR_DEAD_LETTERED,
        "every emitted event was received with a valid signature or dead-lettered",
    ),
    (
        WEBHOOK_PAYLOAD_STABLE,
        "an event id always carries the payload it was emitted with",
    ),
    (
        WEBHOOK_APPLIED_ONCE,
        "the merchant applied every validly received event exactly once, and never an unsigned one",
    ),
    (
        WEBHOOK_STATUS_ANNOUNCED,
        "every payment's final status was announced to the merchant by its event",
    ),
];

/// The liveness invariant of runs with chaos plans (reported after the
/// others, only when a plan was given): it judges the stack's recovery, not
/// the history, so the run driver evaluates it.
pub const RECOVERY_WITHIN_BOUND: (&str, &str) = (
    "recovery_within_bound",
    "after the last fault window, every operation left unresolved by a fault was resolved and every webhook in trouble delivered or dead-lettered within drain.recovery_bound_s",
);

pub(super) const IDEMPOTENCY_SINGLE_EFFECT: &str = "idempotency_single_effect";
pub(super) const IDEMPOTENCY_CONSISTENT_REPLIES: &str = "idempotency_consistent_replies";
pub(super) const IDEMPOTENCY_MISMATCH_NOT_EXECUTED: &str = "idempotency_mismatch_not_executed";
pub(super) const LEDGER_ENTRIES_BALANCE: &str = "ledger_entries_balance";
pub(super) const LEDGER_MONEY_CONSERVED: &str = "ledger_money_conserved";
pub(super) const LEDGER_ACCOUNT_LIMITS: &str = "ledger_account_limits";
pub(super) const LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED: &str = "lifecycle_capture_within_authorized";
pub(super) const LIFECYCLE_HOLD_RESOLVED_ONCE: &str = "lifecycle_hold_resolved_once";
pub(super) const LIFECYCLE_REFUNDS_WITHIN_CAPTURED: &str = "lifecycle_refunds_within_captured";
pub(super) const SETTLEMENT_EACH_CAPTURE_ONCE: &str = "settlement_each_capture_once";
pub(super) const SETTLEMENT_DEPOSIT_MATCHES: &str = "settlement_deposit_matches";
pub(super) const WEBHOOK_DELIVERED_OR_DEAD_LETTERED: &str = "webhook_delivered_or_dead_lettered";
pub(super) const WEBHOOK_PAYLOAD_STABLE: &str = "webhook_payload_stable";
pub(super) const WEBHOOK_APPLIED_ONCE: &str = "webhook_applied_once";
pub(super) const WEBHOOK_STATUS_ANNOUNCED: &str = "webhook_status_announced";

/// The outcome of one invariant. `example` is the counterexample with the
/// smallest id, so it is the same on every run of the same input.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InvariantResult {
    pub name: &'static str,
    pub passed: bool,
    pub violations: u64,
    pub example: Option<String>,
}

/// How create keys whose every attempt ended unknown (timeout, gave up,
/// retryable error) were resolved from the ledger: as Jepsen resolves `info`
/// operations from the final read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UnknownResolution {
    pub keys_all_unknown: u64,
    /// The stack executed the request (one ledger effect) although the client
    /// never learned it.
    pub executed: u64,
    /// The request never took effect.
    pub not_executed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// One result per entry of [`INVARIANTS`], in that order.
    pub invariants: Vec<InvariantResult>,
    pub unknowns: UnknownResolution,
}

impl Verdict {
    pub fn all_passed(&self) -> bool {
        self.invariants.iter().all(|r| r.passed)
    }

    pub fn failed(&self) -> impl Iterator<Item = &InvariantResult> {
        self.invariants.iter().filter(|r| !r.passed)
    }

    /// The result of the invariant called `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<&InvariantResult> {
        self.invariants.iter().find(|r| r.name == name)
    }
}
