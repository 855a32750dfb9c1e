//! Invariant 15: the merchant was told. Every payment's status at the end of
//! the run must have been announced by the matching webhook event — a stack
//! that changes a payment's status without an event leaves the merchant's
//! books wrong even if every event it did emit was delivered.
//!
//! Final status -> the event that announces it: processing ->
//! payment.processing, authorized -> payment.authorized, captured ->
//! payment.succeeded or payment.captured, refunded -> payment.refunded,
//! voided -> payment.voided, declined -> payment.declined, failed ->
//! payment.failed.

use crate::domain::audit::EventKind;
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{PaymentId, Status};

use super::tally::Tally;
use super::verdict::{InvariantResult, WEBHOOK_STATUS_ANNOUNCED};

/// Per payment: a bit per event kind emitted, and the final status (+1; 0
/// until the final row is read). Two bytes of state per payment, kept in a
/// vector indexed by id while ids stay dense (as stacks hand them out), in a
/// map for ids far beyond what has been seen.
#[derive(Default)]
pub(super) struct Announced {
    dense: Vec<(u8, u8)>,
    sparse: FxHashMap<PaymentId, (u8, u8)>,
}

/// How far past the dense vector an id may land and still extend it.
const DENSE_SLACK: usize = 1 << 20;

const KINDS: [EventKind; 8] = EventKind::ALL;

const STATUSES: [Status; 7] = Status::ALL;

fn bit(kind: EventKind) -> u8 {
    1 << KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

/// The events any one of which announces `status`.
fn announcing(status: Status) -> u8 {
    match status {
        Status::Processing => bit(EventKind::PaymentProcessing),
        Status::Authorized => bit(EventKind::PaymentAuthorized),
        Status::Captured => bit(EventKind::PaymentSucceeded) | bit(EventKind::PaymentCaptured),
        Status::Refunded => bit(EventKind::PaymentRefunded),
        Status::Voided => bit(EventKind::PaymentVoided),
        Status::Declined => bit(EventKind::PaymentDeclined),
        Status::Failed => bit(EventKind::PaymentFailed),
    }
}

impl Announced {
    /// Asks for `payment`'s slot ahead of a record about it.
    pub(super) fn ask_for(&self, payment: PaymentId) {
        if let Some(slot) = usize::try_from(payment.0)
            .ok()
            .and_then(|i| self.dense.get(i))
        {
            crate::prefetch::line(slot);
        }
    }

    fn slot(&mut self, payment: PaymentId) -> &mut (u8, u8) {
        let i = usize::try_from(payment.0).unwrap_or(usize::MAX);
        if i < self.dense.len() {
            &mut self.dense[i]
        } else if i
            <= self
                .dense
                .len()
                .saturating_mul(2)
                .saturating_add(DENSE_SLACK)
        {
            self.dense.resize(i + 1, (0, 0));
            &mut self.dense[i]
        } else {
            self.sparse.entry(payment).or_default()
        }
    }

    pub(super) fn emitted(&mut self, payment: PaymentId, kind: EventKind) {
        self.slot(payment).0 |= bit(kind);
    }

    pub(super) fn final_status(&mut self, payment: PaymentId, status: Status) {
        let index = STATUSES.iter().position(|s| *s == status).unwrap_or(0);
        self.slot(payment).1 = index as u8 + 1;
    }

    pub(super) fn finish(self) -> InvariantResult {
        let mut tally = Tally::new();
        let dense = self
            .dense
            .into_iter()
            .enumerate()
            .map(|(i, s)| (PaymentId(i as u64), s));
        for (payment, (kinds, last)) in dense.chain(self.sparse) {
            let Some(status) = last.checked_sub(1).map(|i| STATUSES[usize::from(i)]) else {
                continue; // no final row: judged by the lifecycle invariants
            };
            if kinds & announcing(status) == 0 {
                tally.add(payment, || {
                    let seen: Vec<&str> = KINDS
                        .iter()
                        .filter(|k| kinds & bit(**k) != 0)
                        .map(|k| k.as_str())
                        .collect();
                    format!(
                        "{payment} ended {} but no event announcing it was emitted (events: {})",
                        status.as_str(),
                        if seen.is_empty() {
                            "none".to_string()
                        } else {
                            seen.join(", ")
                        }
                    )
                });
            }
        }
        tally.result(WEBHOOK_STATUS_ANNOUNCED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_final_status_needs_its_event() {
        let mut a = Announced::default();
        a.emitted(PaymentId(1), EventKind::PaymentAuthorized);
        a.emitted(PaymentId(1), EventKind::PaymentCaptured);
        a.final_status(PaymentId(1), Status::Captured);
        a.emitted(PaymentId(2), EventKind::PaymentSucceeded);
        a.final_status(PaymentId(2), Status::Captured);
        a.final_status(PaymentId(3), Status::Declined);
        a.emitted(PaymentId(3), EventKind::PaymentDeclined);
        let r = a.finish();
        assert!(r.passed, "{r:?}");
    }

    /// The bug this invariant was written for: a capture that lost the race
    /// with hold expiry voided the payment without a payment.voided event.
    #[test]
    fn a_silent_void_is_caught() {
        let mut a = Announced::default();
        a.final_status(PaymentId(7), Status::Voided);
        a.emitted(PaymentId(7), EventKind::PaymentAuthorized);
        a.final_status(PaymentId(9), Status::Refunded);
        a.emitted(PaymentId(9), EventKind::PaymentSucceeded);
        // An id far beyond the others goes to the sparse map, judged the same.
        a.final_status(PaymentId(u64::MAX - 1), Status::Failed);
        let r = a.finish();
        assert!(!r.passed);
        assert_eq!(r.violations, 3);
        assert_eq!(
            r.example.as_deref(),
            Some("pay_7 ended voided but no event announcing it was emitted (events: payment.authorized)")
        );
    }
}
