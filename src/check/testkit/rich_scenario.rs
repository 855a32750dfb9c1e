//! One correct run that exercises every flow once, so every invariant has
//! something to check and nothing to find; tests plant a bug in it.

use crate::domain::audit::{AuditRecord, EventKind};
use crate::domain::{CaptureMode, MerchantId, Method};

use super::Scenario;

/// A run exercising every flow once, correctly: every invariant has
/// something to check and nothing to find.
pub(in crate::check) fn rich_scenario() -> Scenario {
    let mut s = Scenario::new();
    let c1 = s.customer(1, 100_000);
    let c2 = s.customer(2, 50_000);
    let m1 = MerchantId(1);
    let m2 = MerchantId(2);
    // Card, auto capture, partly refunded twice.
    let (_, p1) = s.card(1, c1, 1550);
    s.webhook(p1, EventKind::PaymentSucceeded);
    // Card, manual capture of part of the hold.
    let (_, p2) = s.create(m1, c1, 3000, Method::CardNfc, CaptureMode::Manual);
    s.webhook(p2, EventKind::PaymentAuthorized);
    s.capture(p2, 2000);
    s.webhook(p2, EventKind::PaymentCaptured);
    // Card, voided; and one left to expire.
    let (_, p3) = s.create(m2, c2, 700, Method::CardOnline, CaptureMode::Manual);
    s.void(p3);
    let (_, p4) = s.create(m2, c2, 900, Method::CardOnline, CaptureMode::Manual);
    s.execute_release(p4, None);
    // QR and instant bank.
    let (_, p5) = s.create(m2, c2, 1234, Method::QrWallet, CaptureMode::Automatic);
    let (_, p6) = s.create(m1, c1, 5000, Method::BankInstant, CaptureMode::Automatic);
    // Batch bank: accepted as processing, debited at the batch run.
    let (k7, p7) = s.create(m1, c1, 4000, Method::BankBatch, CaptureMode::Automatic);
    s.settle();
    s.execute_bank_batch(p7, Some(k7), true);
    s.refund(p1, 500);
    s.refund(p1, 1050);
    s.refund(p5, 34);
    let e = s.emit(p6, EventKind::PaymentSucceeded);
    s.audit(AuditRecord::EventDeadLettered {
        event: e,
        attempts: 8,
    });
    // A declined create.
    let key = s.new_key();
    let params = s.params(m1, c2, 99_999, Method::CardOnline, CaptureMode::Automatic);
    s.declined_create(key, params, 1);
    s.settle();
    s
}
