//! Tests of the key invariants (1-3) and of unknown-outcome resolution.
use super::super::testkit::*;
use super::super::verdict::*;
use crate::domain::history::{Failure, HistoryKind};
use crate::domain::{ApiError, CaptureMode, DeclineReason, MerchantId, Method, Operation};

const M: MerchantId = MerchantId(1);

/// One table entry per key value (was 88 bytes per (merchant, key) plus
/// 48 per key value with effects, in two maps).
#[test]
fn a_key_takes_40_bytes() {
    use super::{PackedSlot, Slot};
    use crate::domain::IdemKey;
    assert!(std::mem::size_of::<(IdemKey, PackedSlot)>() <= 40);
    assert!(std::mem::size_of::<Slot>() > 40, "the full form stays full");
}

#[test]
fn keys_with_outsized_values_spill_and_judge_the_same() {
    use super::{Body, Counts, Effects, KeyState, OpKind, Slot, Target};
    use crate::domain::{IdemKey, PaymentId, RefundId, Status};
    let mut slots: super::DenseMap<IdemKey, Slot> = Default::default();
    // A journey's key in the vector, a key of no journey in the side map,
    // a journey's second key in the vector.
    let (k1, k2, k3) = (
        IdemKey(crate::load::journey::key_base(0) | 1),
        IdemKey(2),
        IdemKey(crate::load::journey::key_base(7) | 2),
    );
    let body = Body {
        payment: PaymentId(u64::MAX),
        refund: Some(RefundId(u64::from(u32::MAX))),
        amount_minor: i64::MIN,
        status: Status::Failed,
    };
    let st = KeyState {
        fingerprint: u64::MAX,
        kind: OpKind::Refund,
        counts: Counts {
            errors: 9,
            ..Counts::default()
        },
        body: Some(body),
    };
    let effects = Effects {
        first: Target::Refund(RefundId(1 << 40)),
        second: Some(Target::Payment(PaymentId(3))),
        more: true,
    };
    let small = Slot {
        hist: Some((
            M,
            KeyState {
                counts: Counts::default(),
                body: None,
                ..st
            },
        )),
        effects: None,
    };
    slots.update(k1, Slot::default, |s| *s = small);
    slots.update(k2, Slot::default, |s| {
        s.hist = Some((MerchantId(u32::MAX), st))
    });
    slots.update(k3, Slot::default, |s| s.effects = Some(effects));
    assert_eq!(slots.spilled(), 2);
    assert_eq!(slots.get(&k1), Some(small));
    assert_eq!(
        slots.get(&k2).unwrap().hist,
        Some((MerchantId(u32::MAX), st))
    );
    assert_eq!(slots.get(&k3).unwrap().effects, Some(effects));
    let mut keys: Vec<_> = slots.iter().map(|(k, _)| k).collect();
    keys.sort();
    assert_eq!(keys, [k2, k1, k3]);
}

/// Retries and unknown outcomes a correct stack produces: a timeout then a
/// replay; retryable errors then giving up (never executed); a timeout
/// that did execute; a batch payment accepted then bounced; a capture
/// refused definitively; an attempt still open at the end.
fn retries_scenario() -> Scenario {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);

    let key = s.new_key();
    let params = s.params(M, c, 100, Method::QrWallet, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(params), 1);
    let p = s.execute_create(Some(key), &params);
    s.info(op);
    let op = s.invoke(M, Some(key), Operation::Create(params), 2);
    let mut reply = s.reply(p, None);
    reply.replayed = true;
    s.ok(op, reply);

    let key = s.new_key();
    let params = s.params(M, c, 200, Method::QrWallet, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(params), 1);
    s.err(op, ApiError::InFlight);
    let op = s.invoke(M, Some(key), Operation::Create(params), 2);
    s.err(
        op,
        ApiError::RateLimited {
            retry_after_ms: 100,
        },
    );
    let op = s.invoke(M, Some(key), Operation::Create(params), 3);
    s.info(op);

    let key = s.new_key();
    let params = s.params(M, c, 300, Method::CardOnline, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(params), 1);
    s.execute_create(Some(key), &params);
    s.info(op);

    let (key, p) = s.create(M, c, 400, Method::BankBatch, CaptureMode::Automatic);
    s.execute_bank_batch(p, Some(key), false);

    let (_, p) = s.create(M, c, 500, Method::CardOnline, CaptureMode::Manual);
    s.void(p);
    let key = s.new_key();
    let op = s.invoke(
        M,
        Some(key),
        Operation::Capture {
            payment: p,
            amount_minor: 500,
        },
        1,
    );
    s.err(op, ApiError::InvalidState);

    let key = s.new_key();
    let params = s.params(M, c, 600, Method::QrWallet, CaptureMode::Automatic);
    s.invoke(M, Some(key), Operation::Create(params), 1);

    // Keyless and read-only operations are not judged by key.
    let op = s.invoke(M, None, Operation::Get { payment: p }, 1);
    s.info(op);
    s.settle();
    s
}

#[test]
fn single_effect_passes_on_retries_replays_and_unknowns() {
    let v = retries_scenario().check();
    assert!(v.all_passed(), "{v:#?}");
}

#[test]
fn unknown_create_keys_are_resolved_from_the_ledger() {
    let v = retries_scenario().check();
    // The gave-up key and the unfinished key never executed; the timed-out
    // card create did. The replayed key had an ok, so it is not unknown.
    assert_eq!(
        v.unknowns,
        UnknownResolution {
            keys_all_unknown: 3,
            executed: 1,
            not_executed: 2
        }
    );
}

/// The idempotency store was skipped: a retry after a timeout created a
/// second payment with a second hold.
#[test]
fn single_effect_catches_a_second_hold_for_the_same_key() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let key = s.new_key();
    let params = s.params(M, c, 100, Method::CardOnline, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(params), 1);
    let p1 = s.execute_create(Some(key), &params);
    s.info(op);
    let op = s.invoke(M, Some(key), Operation::Create(params), 2);
    let p2 = s.execute_create(Some(key), &params);
    let reply = s.reply(p2, None);
    s.ok(op, reply);
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_SINGLE_EFFECT]);
    assert_eq!(
        example(&v, IDEMPOTENCY_SINGLE_EFFECT),
        format!(
            "{key} of mer_1: 2 ledger effects ({p1}, {p2}), expected exactly 1 (attempts: 1 ok, 1 info)"
        )
    );
}

#[test]
fn single_effect_catches_an_effect_after_a_definitive_failure() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (_, p) = s.create(M, c, 800, Method::CardOnline, CaptureMode::Manual);
    let key = s.new_key();
    let op = s.invoke(
        M,
        Some(key),
        Operation::Capture {
            payment: p,
            amount_minor: 800,
        },
        1,
    );
    s.execute_capture(p, Some(key), 800);
    s.err(op, ApiError::Internal);
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_SINGLE_EFFECT]);
    let ex = example(&v, IDEMPOTENCY_SINGLE_EFFECT);
    assert_eq!(
        ex,
        format!("{key} of mer_1: 1 ledger effect ({p}), expected 0 (attempts: 1 failed)")
    );
}

#[test]
fn single_effect_catches_an_ok_without_effect_and_an_effect_nobody_asked_for() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    // Ok reply, but the debit was never posted (and the row says so).
    let key = s.new_key();
    let params = s.params(M, c, 100, Method::BankBatch, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(params), 1);
    let p = s.execute_create(Some(key), &params);
    s.rows.get_mut(&p).unwrap().status = crate::domain::Status::Failed;
    let reply = s.reply(p, None);
    s.ok(op, reply);
    // A debit posted under a key no client ever sent (larger than theirs).
    let (_, q) = s.create(M, c, 50, Method::CardOnline, CaptureMode::Manual);
    s.execute_capture(q, Some(crate::domain::IdemKey(u64::MAX >> 1)), 50);
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_SINGLE_EFFECT]);
    assert_eq!(violations(&v, IDEMPOTENCY_SINGLE_EFFECT), 2);
    assert_eq!(
        example(&v, IDEMPOTENCY_SINGLE_EFFECT),
        format!("{key} of mer_1: 0 ledger effects, expected exactly 1 (attempts: 1 ok)")
    );
}

#[test]
fn single_effect_counts_every_key_and_names_the_smallest() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let small = s.new_key();
    let big = s.new_key();
    // Plant the bigger key's duplicate first: the example must not depend
    // on arrival order.
    for key in [big, small] {
        let params = s.params(M, c, 100, Method::QrWallet, CaptureMode::Automatic);
        let op = s.invoke(M, Some(key), Operation::Create(params), 1);
        s.execute_create(Some(key), &params);
        let p = s.execute_create(Some(key), &params);
        let reply = s.reply(p, None);
        s.ok(op, reply);
    }
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_SINGLE_EFFECT]);
    assert_eq!(violations(&v, IDEMPOTENCY_SINGLE_EFFECT), 2);
    assert!(example(&v, IDEMPOTENCY_SINGLE_EFFECT)
        .starts_with(&format!("{small} of mer_1: 2 ledger effects")));
}

#[test]
fn consistent_replies_passes_when_only_the_replayed_flag_differs() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (key, p) = s.create(M, c, 700, Method::CardOnline, CaptureMode::Manual);
    let params = s.params(M, c, 700, Method::CardOnline, CaptureMode::Manual);
    let op = s.invoke(M, Some(key), Operation::Create(params), 2);
    let mut reply = s.reply(p, None);
    reply.replayed = true;
    s.ok(op, reply);
    s.void(p);
    let v = s.check();
    assert!(v.all_passed(), "{v:#?}");
}

/// A replay that serves the payment's current state instead of the stored
/// response.
#[test]
fn consistent_replies_catches_a_replay_with_another_status() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (key, p) = s.create(M, c, 700, Method::CardOnline, CaptureMode::Manual);
    s.capture(p, 700);
    let params = s.params(M, c, 700, Method::CardOnline, CaptureMode::Manual);
    let op = s.invoke(M, Some(key), Operation::Create(params), 2);
    let mut reply = s.reply(p, None);
    reply.replayed = true;
    s.ok(op, reply);
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_CONSISTENT_REPLIES]);
    assert_eq!(
        example(&v, IDEMPOTENCY_CONSISTENT_REPLIES),
        format!("{key} of mer_1: {op} got {p} amount 700 Captured, an earlier reply got {p} amount 700 Authorized")
    );
}

#[test]
fn consistent_replies_compares_declined_bodies_too() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10);
    let key = s.new_key();
    let params = s.params(M, c, 5000, Method::CardOnline, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(params), 1);
    let p = s.execute_decline(Some(key), &params);
    let reply = s.reply(p, None);
    let decline = |reply| {
        HistoryKind::Fail(Failure::Declined {
            reply,
            reason: Some(DeclineReason::InsufficientFunds),
        })
    };
    s.complete(op, decline(reply));
    let op = s.invoke(M, Some(key), Operation::Create(params), 2);
    let mut other = reply;
    other.amount_minor = 4999;
    s.complete(op, decline(other));
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_CONSISTENT_REPLIES]);
    assert!(
        example(&v, IDEMPOTENCY_CONSISTENT_REPLIES).starts_with(&format!("{key} of mer_1: {op}"))
    );
}

#[test]
fn mismatch_passes_when_the_other_parameters_are_rejected() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (key, _) = s.create(M, c, 700, Method::QrWallet, CaptureMode::Automatic);
    let other = s.params(M, c, 701, Method::QrWallet, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(other), 1);
    s.err(op, ApiError::IdempotencyMismatch);
    s.settle();
    let v = s.check();
    assert!(v.all_passed(), "{v:#?}");
}

/// The stack replayed the stored reply to a request with other
/// parameters instead of rejecting it.
#[test]
fn mismatch_catches_a_mismatched_attempt_that_returned_ok() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (key, p) = s.create(M, c, 700, Method::QrWallet, CaptureMode::Automatic);
    let other = s.params(M, c, 701, Method::QrWallet, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(other), 1);
    let mut reply = s.reply(p, None);
    reply.replayed = true;
    s.ok(op, reply);
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_MISMATCH_NOT_EXECUTED]);
    assert_eq!(
        example(&v, IDEMPOTENCY_MISMATCH_NOT_EXECUTED),
        format!("{key} of mer_1: {op} with other parameters than the key's first request completed ok ({p} amount 700 Captured), expected an idempotency error")
    );
}

/// The stack ignored the fingerprint and executed the other request.
#[test]
fn mismatch_catches_a_payment_created_with_other_parameters() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (key, _) = s.create(M, c, 700, Method::QrWallet, CaptureMode::Automatic);
    let other = s.params(M, c, 701, Method::QrWallet, CaptureMode::Automatic);
    let op = s.invoke(M, Some(key), Operation::Create(other), 1);
    let p2 = s.execute_create(Some(key), &other);
    let reply = s.reply(p2, None);
    s.ok(op, reply);
    s.settle();
    let v = s.check();
    // It executed, so the key also has two effects.
    assert_failed(
        &v,
        &[IDEMPOTENCY_SINGLE_EFFECT, IDEMPOTENCY_MISMATCH_NOT_EXECUTED],
    );
    assert_eq!(violations(&v, IDEMPOTENCY_MISMATCH_NOT_EXECUTED), 2);
    // The attempt sorts before the payment within one key.
    assert!(example(&v, IDEMPOTENCY_MISMATCH_NOT_EXECUTED)
        .starts_with(&format!("{key} of mer_1: {op} with other")));
}

#[test]
fn mismatch_catches_a_declined_mismatched_attempt_and_its_row() {
    let mut s = rich_scenario();
    let c = s.customer(9, 10_000);
    let (key, _) = s.create(M, c, 700, Method::CardOnline, CaptureMode::Automatic);
    let other = s.params(M, c, 70_000, Method::CardOnline, CaptureMode::Automatic);
    s.declined_create(key, other, 2);
    s.settle();
    let v = s.check();
    assert_failed(&v, &[IDEMPOTENCY_MISMATCH_NOT_EXECUTED]);
    assert_eq!(violations(&v, IDEMPOTENCY_MISMATCH_NOT_EXECUTED), 2);
    assert!(example(&v, IDEMPOTENCY_MISMATCH_NOT_EXECUTED).contains("completed declined"));
}

#[test]
fn keys_are_scoped_per_merchant_in_the_history() {
    // The same key value used by two merchants with different parameters
    // is two keys, not a mismatch.
    let mut s = Scenario::new();
    let c = s.customer(9, 10_000);
    let key = s.new_key();
    let a = s.params(
        MerchantId(1),
        c,
        100,
        Method::CardOnline,
        CaptureMode::Manual,
    );
    let b = s.params(
        MerchantId(2),
        c,
        200,
        Method::CardOnline,
        CaptureMode::Manual,
    );
    let op_a = s.invoke(MerchantId(1), Some(key), Operation::Create(a), 1);
    let op_b = s.invoke(MerchantId(2), Some(key), Operation::Create(b), 1);
    s.err(op_a, ApiError::Unavailable);
    s.err(op_b, ApiError::Unavailable);
    let v = s.check();
    assert!(v.all_passed(), "{v:#?}");
    assert_eq!(v.unknowns.keys_all_unknown, 2);
    assert_eq!(v.unknowns.not_executed, 2);
}

/// The key table's index: journeys' first two keys in the vector, one slot
/// each and back again; any other key has no place (`u64::MAX`).
#[test]
fn journey_keys_have_a_slot_each_and_others_none() {
    use crate::domain::IdemKey;
    use crate::load::journey::key_base;
    use crate::packed::DenseKey;
    let mut seen = std::collections::BTreeSet::new();
    for j in [0, 1, 2, 77, (1 << 47) - 1] {
        for n in 1..=2 {
            let k = IdemKey(key_base(j) | n);
            assert_ne!(k.index(), u64::MAX);
            assert_eq!(IdemKey::from_index(k.index()), k);
            assert!(seen.insert(k.index()), "{k:?} shares a slot");
        }
        assert_eq!(IdemKey(key_base(j) | 3).index(), u64::MAX, "a third key");
        assert_eq!(IdemKey(key_base(j)).index(), u64::MAX, "key number 0");
    }
    assert_eq!(
        IdemKey(5).index(),
        u64::MAX,
        "journey 0: not a journey's key"
    );
    assert_eq!(
        seen.iter().take(4).copied().collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
}
