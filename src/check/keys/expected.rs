//! What a key's attempts allow: how many ledger effects their outcomes
//! permit, and which error replies prove a request did not execute. These are
//! the rules of invariant 1, apart from the bookkeeping that feeds them.

use crate::domain::ApiError;

use super::slot::Counts;

/// What the key's attempts allow, from the strongest evidence down.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Expected {
    ExactlyOne,
    ZeroOrOne,
    Zero,
}

impl Expected {
    pub(super) fn of(c: &Counts) -> Expected {
        if c.ok > 0 {
            Expected::ExactlyOne
        } else if c.ok_processing > 0 {
            // Accepted on a batch rail: the batch may still have bounced it.
            Expected::ZeroOrOne
        } else if c.declined > 0 || c.failed > 0 {
            Expected::Zero
        } else {
            Expected::ZeroOrOne
        }
    }

    pub(super) fn allows(self, effects: u64) -> bool {
        match self {
            Expected::ExactlyOne => effects == 1,
            Expected::ZeroOrOne => effects <= 1,
            Expected::Zero => effects == 0,
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Expected::ExactlyOne => "exactly 1",
            Expected::ZeroOrOne => "0 or 1",
            Expected::Zero => "0",
        }
    }
}

/// An error reply that settles the question "did it execute?" with "no".
pub(super) fn is_definitive(e: ApiError) -> bool {
    match e {
        ApiError::InvalidState
        | ApiError::AmountTooLarge
        | ApiError::InvalidRequest
        | ApiError::NotFound
        | ApiError::Internal => true,
        ApiError::InFlight
        | ApiError::Unavailable
        | ApiError::RateLimited { .. }
        | ApiError::UpstreamTimeout
        | ApiError::DuplicateRequest
        | ApiError::IdempotencyMismatch => false,
    }
}
