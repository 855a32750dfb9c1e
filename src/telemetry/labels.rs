//! The fixed label sets. Every label value telemetry writes comes from one of
//! these tables or from the run's configuration (issuer and network counts,
//! fault targets, objective names), never from a request: no payment id,
//! idempotency key, merchant id or card number can reach a label, and the
//! number of series stays bounded whatever the traffic.

use crate::domain::{ApiError, DeclineReason, Method};
use crate::metrics::OpKind;
use crate::slo::OutcomeClass;

/// Every error code a request can end with, in [`error_index`] order.
pub const ERRORS: [ApiError; 11] = ApiError::ALL;

/// `e`'s place in [`ERRORS`]. An exhaustive match: a new error code fails
/// to compile here until it has a slot.
pub fn error_index(e: ApiError) -> usize {
    match e {
        ApiError::IdempotencyMismatch => 0,
        ApiError::InFlight => 1,
        ApiError::DuplicateRequest => 2,
        ApiError::NotFound => 3,
        ApiError::InvalidState => 4,
        ApiError::AmountTooLarge => 5,
        ApiError::InvalidRequest => 6,
        ApiError::Internal => 7,
        ApiError::Unavailable => 8,
        ApiError::RateLimited { .. } => 9,
        ApiError::UpstreamTimeout => 10,
    }
}

fn decline_index(r: DeclineReason) -> usize {
    DeclineReason::ALL.iter().position(|&x| x == r).unwrap_or(0)
}

/// Outcome classes as (outcome, reason) label pairs: ok, unknown, each
/// decline reason, each error code (rejected for a 4xx, failed for a 5xx).
pub const CLASSES: usize = 2 + DeclineReason::ALL.len() + ERRORS.len();

/// A class's slot in [`class_labels`].
pub fn class_index(c: OutcomeClass) -> usize {
    match c {
        OutcomeClass::Ok => 0,
        OutcomeClass::Unknown => 1,
        OutcomeClass::Declined(r) => 2 + decline_index(r),
        OutcomeClass::Rejected(e) | OutcomeClass::Failed(e) => {
            2 + DeclineReason::ALL.len() + error_index(e)
        }
    }
}

/// The `outcome` and `reason` labels of class slot `i` (`reason` empty
/// when there is none), as `paystorm rules` selects them.
pub fn class_labels(i: usize) -> (&'static str, &'static str) {
    let declines = DeclineReason::ALL.len();
    match i {
        0 => ("ok", ""),
        1 => ("unknown", ""),
        i if i < 2 + declines => ("declined", DeclineReason::ALL[i - 2].as_str()),
        i => {
            let e = ERRORS[(i - 2 - declines).min(ERRORS.len() - 1)];
            let family = if (400..500).contains(&e.http_status()) {
                "rejected"
            } else {
                "failed"
            };
            (family, e.as_str())
        }
    }
}

pub const OPS: usize = OpKind::ALL.len();
pub const METHODS: usize = Method::ALL.len();

pub fn op_index(op: OpKind) -> usize {
    OpKind::ALL.iter().position(|&o| o == op).unwrap_or(0)
}

pub fn method_index(m: Method) -> usize {
    Method::ALL.iter().position(|&x| x == m).unwrap_or(0)
}

/// Every value the `outcome` label takes, over all families.
pub const OUTCOMES: [&str; 13] = [
    "ok",
    "declined",
    "rejected",
    "failed",
    "unknown",
    "abandoned",
    "good",
    "bad",
    "delivered",
    "dead_lettered",
    "lost",
    "sent",
    "acknowledged",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_own_slot_and_labels() {
        let mut seen = std::collections::BTreeSet::new();
        let mut classes = vec![OutcomeClass::Ok, OutcomeClass::Unknown];
        classes.extend(
            DeclineReason::ALL
                .iter()
                .map(|&r| OutcomeClass::Declined(r)),
        );
        classes.extend(ERRORS.iter().map(|&e| OutcomeClass::of_error(e)));
        assert_eq!(classes.len(), CLASSES);
        for c in classes {
            let i = class_index(c);
            assert!(i < CLASSES && seen.insert(i), "{c:?} at {i}");
            let (outcome, reason) = class_labels(i);
            let pattern = if reason.is_empty() {
                outcome.to_string()
            } else {
                format!("{outcome}:{reason}")
            };
            // The labels name the class the way an SLO file does.
            let p = crate::slo::outcome::ClassPattern::parse(&pattern).unwrap();
            assert!(p.matches(c), "{pattern} should match {c:?}");
        }
    }
}
