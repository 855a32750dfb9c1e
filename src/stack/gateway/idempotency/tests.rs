//! The idempotency store's tests: Stripe's semantics, retention, crashes
//! and packing, each on keys in the map and on journey keys in their slots.

use super::*;
use crate::domain::{Currency, Method, Money, PaymentId, PaymentView, Status};
use crate::domain::{DeclineReason, RefundId};

pub(super) fn reply(id: u64) -> StoredReply {
    Ok(ApiReply {
        payment: PaymentView {
            id: PaymentId(id),
            amount: Money::new(100, Currency::USD),
            status: Status::Authorized,
            method: Method::CardOnline,
            captured_minor: 0,
            refunded_minor: 0,
            decline: None,
        },
        refund: None,
        replayed: false,
    })
}

const M: MerchantId = MerchantId(1);

type Store<'a> = &'a dyn Fn(f64) -> IdempotencyStore;
type KeyOf<'a> = &'a dyn Fn(u64) -> IdemKey;

/// Runs a store test twice: with keys kept in the map beside the slots
/// (a run of unknown size, a live client's keys), and with journey keys
/// in their slots, where the simulated clients' keys live.
fn both(test: impl Fn(Store, KeyOf)) {
    test(
        &|retention_s| IdempotencyStore::new(retention_s, false, 0),
        &IdemKey,
    );
    test(
        &|retention_s| IdempotencyStore::new(retention_s, false, 64),
        &|n| IdemKey(crate::load::journey::key_base(n) | 1),
    );
}

#[test]
fn stripe_semantics() {
    both(|store, key| {
        let s = store(100.0);
        assert_eq!(s.begin(M, key(9), 1, 0), Begin::Execute);
        assert_eq!(s.begin(M, key(9), 1, 1), Begin::InFlight);
        assert_eq!(s.begin(M, key(9), 2, 1), Begin::Mismatch);
        s.complete(M, key(9), reply(5));
        assert_eq!(s.begin(M, key(9), 1, 2), Begin::Replay(reply(5)));
        assert_eq!(s.begin(M, key(9), 2, 2), Begin::Mismatch);
        // Keys are scoped per merchant.
        assert_eq!(s.begin(MerchantId(2), key(9), 2, 2), Begin::Execute);
    });
}

#[test]
fn server_errors_are_stored_but_unavailable_is_forgotten() {
    both(|store, key| {
        let s = store(100.0);
        assert_eq!(s.begin(M, key(9), 1, 0), Begin::Execute);
        s.complete(M, key(9), Err(ApiError::Internal));
        assert_eq!(
            s.begin(M, key(9), 1, 0),
            Begin::Replay(Err(ApiError::Internal))
        );
        let k2 = key(10);
        assert_eq!(s.begin(M, k2, 1, 0), Begin::Execute);
        s.abandon(M, k2);
        assert_eq!(s.begin(M, k2, 1, 0), Begin::Execute);
    });
}

/// Key 9 done with `reply(1)`, key 2 begun and in flight, both at 0.
fn done_and_in_flight(s: &IdempotencyStore, key: KeyOf) {
    s.begin(M, key(9), 1, 0);
    s.complete(M, key(9), reply(1));
    s.begin(M, key(2), 1, 0);
}

#[test]
fn keys_are_pruned_after_retention_but_not_while_in_flight() {
    both(|store, key| {
        let s = store(10.0);
        done_and_in_flight(&s, key); // key 2 stays in flight
        assert_eq!(s.prune(9_999_999), 0);
        // Keys are pruned by the second they were created in: at most a
        // second late, never early.
        assert_eq!(s.prune(10_999_999), 0);
        assert_eq!(s.prune(11_000_000), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.begin(M, key(9), 7, 11_000_001),
            Begin::Execute,
            "pruned key is new again"
        );
    });
}

#[test]
fn a_crash_loses_everything_in_memory_and_only_orphans_when_durable() {
    both(|store, key| {
        let s = store(100.0);
        done_and_in_flight(&s, key); // key 2 is still being finished
        s.begin(M, key(3), 1, 0); // in flight, its execution died
        s.begin(M, key(4), 1, 0); // likewise
        assert_eq!(s.abandon_orphans(|_, k| k == key(2)), 2);
        assert_eq!(s.begin(M, key(9), 1, 1), Begin::Replay(reply(1)));
        assert_eq!(s.begin(M, key(2), 1, 1), Begin::InFlight);
        assert_eq!(s.begin(M, key(3), 1, 1), Begin::Execute);
        assert_eq!(
            s.begin(M, key(3), 1, 1),
            Begin::InFlight,
            "executing again, in flight again"
        );
        assert_eq!(
            s.begin(M, key(4), 9, 1),
            Begin::Mismatch,
            "an abandoned key still refuses other parameters"
        );
        s.lose_everything();
        assert_eq!(
            s.begin(M, key(9), 1, 2),
            Begin::Execute,
            "a replay is lost with the memory"
        );
    });
}

/// Every stored reply comes back exactly as stored, whether it fits the
/// 40-byte entry or is kept whole beside the table.
#[test]
fn stored_replies_replay_exactly_packed_or_spilled() {
    let mut wide = reply(1 << 40);
    if let Ok(r) = &mut wide {
        r.payment.captured_minor = i64::MAX;
        r.refund = Some(RefundId(7));
        r.payment.decline = Some(DeclineReason::SuspectedFraud);
        r.payment.amount = Money::new(5, Currency::parse("CNY").unwrap());
    }
    let replies = [
        reply(1),
        reply(u64::from(u32::MAX) + 1),
        wide,
        Err(ApiError::Internal),
        Err(ApiError::UpstreamTimeout),
        Err(ApiError::RateLimited { retry_after_ms: 0 }),
        Err(ApiError::RateLimited {
            retry_after_ms: 1500,
        }),
    ];
    both(|store, key| {
        let s = store(100.0);
        for (i, r) in replies.iter().enumerate() {
            let k = key(i as u64);
            assert_eq!(s.begin(M, k, 3, 0), Begin::Execute);
            s.complete(M, k, *r);
        }
        for (i, r) in replies.iter().enumerate() {
            assert_eq!(s.begin(M, key(i as u64), 3, 1), Begin::Replay(*r));
        }
    });
    assert!(IdempotencyStore::bytes_per_key() <= 61);
}

/// A journey key whose slot still holds an older journey's key (a run
/// past its ring's sizing) is kept in the map, and the slot, once
/// pruned, takes the next key that lands on it.
#[test]
fn a_key_whose_slot_is_taken_waits_in_the_map() {
    use crate::load::journey::key_base;
    // Two journeys' worth of slots: journey 2 lands on journey 0's.
    let s = IdempotencyStore::new(10.0, false, 2);
    let (old, late, later) = (
        IdemKey(key_base(0) | 1),
        IdemKey(key_base(2) | 1),
        IdemKey(key_base(4) | 1),
    );
    assert_eq!(s.line(M, old), s.line(M, late), "one slot");
    assert_eq!(s.begin(M, old, 1, 0), Begin::Execute);
    s.complete(M, old, reply(1));
    assert_eq!(s.begin(M, late, 2, 5_000_000), Begin::Execute);
    s.complete(M, late, reply(2));
    assert_eq!(s.begin(M, old, 1, 5_000_001), Begin::Replay(reply(1)));
    assert_eq!(s.begin(M, late, 2, 5_000_001), Begin::Replay(reply(2)));
    assert_eq!(s.prune(11_000_000), 1, "the old key");
    assert_eq!(s.begin(M, late, 2, 11_000_001), Begin::Replay(reply(2)));
    assert_eq!(s.begin(M, later, 3, 11_000_001), Begin::Execute);
    assert_eq!(s.begin(M, later, 4, 11_000_002), Begin::Mismatch);
    assert_eq!(s.len(), 2);
}

/// A bucket is a 12-byte key beside a 36-byte entry: 48 bytes, where a
/// (MerchantId, IdemKey) pair and a u64 fingerprint padded it to 56.
/// Full-width keys and fingerprints still come back whole.
/// The packed key hashes exactly as the (MerchantId, IdemKey) pair it
/// replaced, so the keys kept in the map beside the slots sit where
/// they did.
#[test]
fn a_key_hashes_as_the_pair_it_stands_for() {
    use std::hash::BuildHasher;
    let h = rustc_hash::FxBuildHasher;
    for (m, k) in [(0, 0), (7, 9), (u32::MAX, u64::MAX), (1, 1 << 32)] {
        let (m, k) = (MerchantId(m), IdemKey(k));
        assert_eq!(h.hash_one(Key::new(m, k)), h.hash_one((m, k)));
        assert_eq!((Key::new(m, k).merchant(), Key::new(m, k).key()), (m, k));
    }
}

#[test]
fn a_bucket_is_48_bytes_and_keeps_full_width_keys() {
    assert_eq!(std::mem::size_of::<(Key, PackedEntry)>(), 48);
    let s = IdempotencyStore::new(100.0, false, 0);
    let (m, k, f) = (MerchantId(u32::MAX), IdemKey(u64::MAX - 1), u64::MAX - 2);
    assert_eq!(s.begin(m, k, f, 0), Begin::Execute);
    s.complete(m, k, reply(1));
    assert_eq!(s.begin(m, k, f, 1), Begin::Replay(reply(1)));
    assert_eq!(s.begin(m, k, f ^ 1 << 40, 1), Begin::Mismatch);
    assert_eq!(s.begin(m, IdemKey(k.0 ^ 1 << 33), f, 1), Begin::Execute);
    assert_eq!(s.begin(MerchantId(7), k, f, 1), Begin::Execute);
    assert_eq!(s.abandon_orphans(|mm, kk| mm == m && kk == k), 2);
}

#[test]
fn bypass_executes_everything() {
    let s = IdempotencyStore::new(10.0, true, 64);
    let k = IdemKey(crate::load::journey::key_base(0) | 1);
    assert_eq!(s.begin(M, k, 1, 0), Begin::Execute);
    s.complete(M, k, reply(1));
    assert_eq!(s.begin(M, k, 1, 0), Begin::Execute);
    assert_eq!(s.line(M, k), 0, "nothing to ask for");
}
