//! The client-side history, in the manner of Jepsen: every operation a client
//! performs is recorded as an invocation, then exactly one completion — `ok`,
//! `fail` (a definite answer) or `info` (outcome unknown: a timeout, a lost
//! response, a client that gave up). Each retry is its own operation; retries
//! of one logical request share its idempotency key.
//!
//! Only clients write it; only the checker reads it.

use super::api::{ApiError, Operation};
use super::ids::{IdemKey, MerchantId, OpId, PaymentId, RefundId};
use super::payment::{DeclineReason, Status};

#[derive(Clone, Copy, Debug)]
pub struct HistoryEvent {
    /// Virtual (sim) or wall (live) microseconds since the run started.
    pub at_us: u64,
    pub op: OpId,
    pub kind: HistoryKind,
}

#[derive(Clone, Copy, Debug)]
pub enum HistoryKind {
    Invoke(Invocation),
    Ok(ReplySummary),
    Fail(Failure),
    Info(InfoReason),
}

#[derive(Clone, Copy, Debug)]
pub struct Invocation {
    pub merchant: MerchantId,
    pub key: Option<IdemKey>,
    pub op: Operation,
    /// 1 for the first attempt of a logical request, 2 for its first retry…
    pub attempt: u16,
}

/// What a reply said about the payment, enough to compare two replies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplySummary {
    pub payment: PaymentId,
    pub refund: Option<RefundId>,
    pub amount_minor: i64,
    pub status: Status,
    pub replayed: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum Failure {
    /// The payment was created but declined, or failed (the stack could not
    /// process it: a downstream refused or failed the call, or a crash cut
    /// it off): a definite "no effect" either way. `reason` is the decline
    /// reason; `None` for a failed payment.
    Declined {
        reply: ReplySummary,
        reason: Option<DeclineReason>,
    },
    /// The gateway answered with an error.
    Api(ApiError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InfoReason {
    /// No answer within the client's timeout; the request may still execute.
    Timeout,
    /// The client stopped retrying (deadline or attempts exhausted).
    GaveUp,
}
