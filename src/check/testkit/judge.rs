//! The end of a scenario and its judgement: the final reads a correct stack
//! reports, feeding every record to the checker, and the assertions tests make
//! on the verdict.

use crate::check::{CheckConfig, Checker, Verdict};
use crate::domain::audit::{AuditRecord, EventKind};
use crate::domain::{FeeTable, Status};

use super::{Rec, Scenario};

impl Scenario {
    /// Appends the end-of-run reads (payment rows, balances) a correct stack
    /// reports, and returns every record.
    pub(in crate::check) fn finish(mut self) -> Vec<Rec> {
        let rows: Vec<_> = self.rows.iter().map(|(p, r)| (*p, *r)).collect();
        // A correct stack announces every status it leaves a payment in.
        for (payment, r) in &rows {
            let kinds = self.announced.get(payment).cloned().unwrap_or_default();
            let wanted: &[EventKind] = match r.status {
                Status::Processing => &[EventKind::PaymentProcessing],
                Status::Authorized => &[EventKind::PaymentAuthorized],
                Status::Captured => &[EventKind::PaymentSucceeded, EventKind::PaymentCaptured],
                Status::Refunded => &[EventKind::PaymentRefunded],
                Status::Voided => &[EventKind::PaymentVoided],
                Status::Declined => &[EventKind::PaymentDeclined],
                Status::Failed => &[EventKind::PaymentFailed],
            };
            if !kinds.iter().any(|k| wanted.contains(k)) {
                self.webhook(*payment, wanted[0]);
            }
        }
        for (payment, r) in rows {
            self.audit(AuditRecord::PaymentFinal {
                payment,
                status: r.status,
                amount_minor: r.amount,
                captured_minor: r.captured,
                refunded_minor: r.refunded,
            });
        }
        let balances: Vec<_> = self.balances.iter().map(|(k, v)| (*k, *v)).collect();
        for ((account, currency), minor) in balances {
            self.audit(AuditRecord::Balance {
                account,
                currency,
                minor,
            });
        }
        self.recs
    }

    pub(in crate::check) fn check(self) -> Verdict {
        run(&self.finish())
    }
}

pub(in crate::check) fn config() -> CheckConfig {
    CheckConfig {
        fees: FeeTable::default(),
        expected_payments: 0,
    }
}

pub(in crate::check) fn run(recs: &[Rec]) -> Verdict {
    let mut c = Checker::new(config());
    for r in recs {
        match r {
            Rec::H(h) => c.observe_history(h),
            Rec::A(a) => c.observe_audit(a),
        }
    }
    c.finish()
}

/// Asserts that exactly the invariants in `names` failed.
#[track_caller]
pub(in crate::check) fn assert_failed(v: &Verdict, names: &[&str]) {
    let mut failed: Vec<&str> = v.failed().map(|r| r.name).collect();
    failed.sort_unstable();
    let mut want = names.to_vec();
    want.sort_unstable();
    assert_eq!(failed, want, "unexpected set of failed invariants: {v:#?}");
}

/// The counterexample of a failed invariant.
#[track_caller]
pub(in crate::check) fn example(v: &Verdict, name: &str) -> String {
    let r = v.get(name).unwrap_or_else(|| panic!("no invariant {name}"));
    assert!(!r.passed, "{name} passed: {v:#?}");
    r.example
        .clone()
        .expect("a failed invariant has an example")
}

#[track_caller]
pub(in crate::check) fn violations(v: &Verdict, name: &str) -> u64 {
    v.get(name)
        .unwrap_or_else(|| panic!("no invariant {name}"))
        .violations
}
