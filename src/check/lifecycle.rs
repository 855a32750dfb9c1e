//! Invariants 7-9: the payment lifecycle, judged per payment on the money the
//! journal moved and on the payment table's final rows.
//!
//! The ledger is the source of truth for amounts; the payment table is checked
//! against it, because a table that says "captured 100" while the ledger moved
//! 200 is exactly the kind of split-brain a retry storm produces.

use super::payments::{PaymentState, Payments, Subject};
use super::tally::Tally;
use super::verdict::{
    InvariantResult, LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED, LIFECYCLE_HOLD_RESOLVED_ONCE,
    LIFECYCLE_REFUNDS_WITHIN_CAPTURED,
};

/// Everything invariant 7 finds wrong with one payment (empty: nothing).
fn amount_problems(st: &PaymentState) -> Vec<String> {
    let mut out = Vec::new();
    if !st.created && st.in_journal {
        out.push("ledger entries but no PaymentCreated".to_string());
    }
    if !st.created && st.finals > 0 {
        out.push("a PaymentFinal row but no PaymentCreated".to_string());
    }
    if st.captured > st.authorized {
        out.push(format!(
            "captured {} > authorized {}",
            st.captured, st.authorized
        ));
    }
    if st.created && st.authorized > st.created_amount {
        out.push(format!(
            "authorized {} > created amount {}",
            st.authorized, st.created_amount
        ));
    }
    if st.finals == 0 {
        if st.created || st.in_journal {
            out.push("no PaymentFinal row read at the end".to_string());
        }
    } else {
        if st.finals > 1 {
            out.push(format!("{} PaymentFinal rows", st.finals));
        }
        if st.final_captured != st.captured {
            out.push(format!(
                "payment table says captured {}, the ledger captured {}",
                st.final_captured, st.captured
            ));
        }
        if st.final_refunded != st.refunded {
            out.push(format!(
                "payment table says refunded {}, the ledger refunded {}",
                st.final_refunded, st.refunded
            ));
        }
    }
    out
}

fn hold_problem(st: &PaymentState) -> Option<String> {
    match (st.holds, st.resolves) {
        (0, 0) | (1, 1) => None,
        (1, 0) => Some(format!("hold {} never captured or released", st.first_hold)),
        (0, _) => Some(format!("resolved by {} without a hold", st.resolved_by[0])),
        (1, n) => Some(format!(
            "hold {} resolved {n} times ({}, {}), expected once",
            st.first_hold, st.resolved_by[0], st.resolved_by[1]
        )),
        (h, n) => Some(format!(
            "{h} holds (first {}), resolved {n} times, expected 1 hold resolved once",
            st.first_hold
        )),
    }
}

/// Invariants 7, 8 and 9, in that order.
pub(super) fn finish(payments: &mut Payments) -> [InvariantResult; 3] {
    let mut within = std::mem::take(&mut payments.malformed);
    let mut holds = Tally::new();
    let mut refunds = Tally::new();
    for (p, ref st) in payments.map.iter() {
        let problems = amount_problems(st);
        if !problems.is_empty() {
            within.add(Subject::Payment(p), || {
                format!("{p}: {}", problems.join("; "))
            });
        }
        if let Some(problem) = hold_problem(st) {
            holds.add(p, || format!("{p}: {problem}"));
        }
        if st.refunded > st.captured {
            refunds.add(p, || {
                format!("{p}: refunded {} > captured {}", st.refunded, st.captured)
            });
        }
    }
    [
        within.result(LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED),
        holds.result(LIFECYCLE_HOLD_RESOLVED_ONCE),
        refunds.result(LIFECYCLE_REFUNDS_WITHIN_CAPTURED),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::verdict::*;
    use crate::domain::audit::{Account, AuditRecord, EntryKind};
    use crate::domain::{CaptureMode, MerchantId, Method, PaymentId};

    const M: MerchantId = MerchantId(1);

    /// Was 120 bytes per payment (112 of state).
    #[test]
    fn a_payment_takes_48_bytes() {
        use super::super::payments::PackedPayment;
        assert!(std::mem::size_of::<(PaymentId, PackedPayment)>() <= 48);
    }

    #[test]
    fn capture_within_authorized_passes_on_partial_and_full_captures() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 1_000, Method::CardOnline, CaptureMode::Manual);
        s.capture(p, 1);
        let (_, p) = s.create(M, c, 2_000, Method::CardNfc, CaptureMode::Manual);
        s.capture(p, 2_000);
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    #[test]
    fn capture_within_authorized_catches_a_capture_above_the_hold() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 1_000, Method::CardOnline, CaptureMode::Manual);
        s.capture(p, 1_200);
        s.settle();
        let v = s.check();
        assert_failed(&v, &[LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED]);
        assert_eq!(
            example(&v, LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED),
            format!("{p}: captured 1200 > authorized 1000")
        );
    }

    #[test]
    fn capture_within_authorized_catches_a_hold_above_the_created_amount() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 1_000, Method::CardOnline, CaptureMode::Manual);
        s.void(p);
        // The row says 900 was asked for; the issuer held 1000.
        for r in &mut s.recs {
            if let Rec::A(AuditRecord::PaymentCreated {
                payment, amount, ..
            }) = r
            {
                if *payment == p {
                    amount.minor = 900;
                }
            }
        }
        let v = s.check();
        assert_failed(&v, &[LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED]);
        assert_eq!(
            example(&v, LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED),
            format!("{p}: authorized 1000 > created amount 900")
        );
    }

    /// The payment table and the ledger disagree: the row missed a refund.
    #[test]
    fn capture_within_authorized_catches_a_payment_row_that_disagrees_with_the_ledger() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.card(1, c, 1_000);
        s.refund(p, 300);
        s.settle();
        s.rows.get_mut(&p).unwrap().refunded = 0;
        let v = s.check();
        assert_failed(&v, &[LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED]);
        assert_eq!(
            example(&v, LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED),
            format!("{p}: payment table says refunded 0, the ledger refunded 300")
        );
    }

    #[test]
    fn capture_within_authorized_catches_money_moved_for_an_unknown_payment() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let ghost = PaymentId(9_999);
        s.post(
            EntryKind::Hold,
            Some(ghost),
            None,
            None,
            None,
            &[
                (Account::CustomerAvailable(c), -10),
                (Account::CustomerHold(c), 10),
            ],
        );
        s.post(
            EntryKind::HoldRelease,
            Some(ghost),
            None,
            None,
            None,
            &[
                (Account::CustomerHold(c), -10),
                (Account::CustomerAvailable(c), 10),
            ],
        );
        let v = s.check();
        assert_failed(&v, &[LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED]);
        assert_eq!(
            example(&v, LIFECYCLE_CAPTURE_WITHIN_AUTHORIZED),
            format!("{ghost}: ledger entries but no PaymentCreated; no PaymentFinal row read at the end")
        );
    }

    #[test]
    fn hold_resolved_once_passes_on_capture_void_and_expiry() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, a) = s.create(M, c, 100, Method::CardOnline, CaptureMode::Manual);
        let (_, b) = s.create(M, c, 200, Method::CardOnline, CaptureMode::Manual);
        let (_, e) = s.create(M, c, 300, Method::CardOnline, CaptureMode::Manual);
        s.capture(a, 100);
        s.void(b);
        s.execute_release(e, None);
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// A void raced the hold's expiry and both released it.
    #[test]
    fn hold_resolved_once_catches_a_hold_released_twice() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 700, Method::CardOnline, CaptureMode::Manual);
        let hold = s.recs.iter().rev().find_map(|r| match r {
            Rec::A(AuditRecord::Journal(e)) => Some(e.id),
            _ => None,
        });
        s.void(p);
        s.rows.get_mut(&p).unwrap().held = 700; // the expiry still sees the hold
        s.execute_release(p, None);
        let v = s.check();
        // The second release also drives the hold account below zero.
        assert_failed(&v, &[LIFECYCLE_HOLD_RESOLVED_ONCE, LEDGER_ACCOUNT_LIMITS]);
        let hold = hold.unwrap();
        let (first, second) = (
            crate::domain::EntryId(hold.0 + 1),
            crate::domain::EntryId(hold.0 + 2),
        );
        assert_eq!(
            example(&v, LIFECYCLE_HOLD_RESOLVED_ONCE),
            format!("{p}: hold {hold} resolved 2 times ({first}, {second}), expected once")
        );
    }

    #[test]
    fn hold_resolved_once_catches_a_dangling_hold() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 700, Method::CardOnline, CaptureMode::Manual);
        let v = s.check();
        assert_failed(&v, &[LIFECYCLE_HOLD_RESOLVED_ONCE]);
        assert!(
            example(&v, LIFECYCLE_HOLD_RESOLVED_ONCE).starts_with(&format!("{p}: hold je_")),
            "{v:#?}"
        );
        assert!(example(&v, LIFECYCLE_HOLD_RESOLVED_ONCE).ends_with("never captured or released"));
    }

    #[test]
    fn refunds_within_captured_passes_on_concurrent_refunds_totalling_the_capture() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 1_000, Method::QrWallet, CaptureMode::Automatic);
        s.refund(p, 250);
        s.refund(p, 250);
        s.refund(p, 500);
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// Two concurrent refunds each checked the remaining amount before the
    /// other one posted.
    #[test]
    fn refunds_within_captured_catches_refunds_above_the_capture() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.card(1, c, 1_000);
        s.settle();
        s.refund(p, 600);
        s.refund(p, 600);
        s.settle();
        let v = s.check();
        assert_failed(&v, &[LIFECYCLE_REFUNDS_WITHIN_CAPTURED]);
        assert_eq!(
            example(&v, LIFECYCLE_REFUNDS_WITHIN_CAPTURED),
            format!("{p}: refunded 1200 > captured 1000")
        );
    }
}
