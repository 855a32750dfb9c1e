//! The idempotency store, with Stripe's semantics:
//!
//! - first request with a key: executes; the key is marked in flight when
//!   execution starts and the reply (server errors included) is stored when it
//!   ends;
//! - same key, same parameters: the stored reply is replayed, marked as such;
//! - same key, other parameters: refused (`idempotency_error`), nothing runs;
//! - same key while the first is still executing: 409, safe to retry;
//! - replies that say "not executed, retry" (503, 429) are not stored;
//! - keys are kept for the retention window, then pruned oldest first.
//!
//! Keys are scoped per merchant. Memory grows with retained keys, and with
//! the key table's slots: two a journey, up to the ring sized from the
//! run's expected payments (`key_table`), reused once pruned.

use std::sync::Mutex;

use crate::domain::{
    ApiError, ApiReply, Currency, DeclineReason, IdemKey, MerchantId, Method, Money, PaymentId,
    PaymentView, RefundId, Status,
};
use crate::lock::Locked;
use crate::packed::{index_of, join_u64, narrow_i, narrow_u, split_u64, Bits, Pack};
use crate::stack::age_queue::AgeQueue;

mod key_table;

use key_table::KeyTable;

pub type StoredReply = Result<ApiReply, ApiError>;

/// What the gateway must do with a keyed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    Execute,
    Replay(StoredReply),
    Mismatch,
    InFlight,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyState {
    InFlight,
    Done(StoredReply),
    /// Its execution died in a crash before anything went downstream: the
    /// same parameters execute afresh, other parameters are still refused.
    Abandoned,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct KeyEntry {
    fingerprint: u64,
    state: KeyState,
}

#[cfg(test)]
impl KeyEntry {
    fn in_flight(fingerprint: u64) -> KeyEntry {
        KeyEntry {
            fingerprint,
            state: KeyState::InFlight,
        }
    }

    /// A stored reply naming `payment`.
    fn done_with_payment(fingerprint: u64, payment: u64) -> KeyEntry {
        let mut reply = tests::reply(payment);
        if let Ok(r) = &mut reply {
            r.payment.id = PaymentId(payment);
        }
        KeyEntry {
            fingerprint,
            state: KeyState::Done(reply),
        }
    }
}

/// A merchant's key in 12 bytes: a `(MerchantId, IdemKey)` pair takes 16
/// (four of padding), and the table holds one per bucket, full or empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    merchant: u32,
    key: [u32; 2],
}

impl Key {
    /// No key: an empty slot of the key table (no journey makes key 0).
    const NONE: Key = Key {
        merchant: 0,
        key: [0, 0],
    };

    fn new(merchant: MerchantId, key: IdemKey) -> Key {
        Key {
            merchant: merchant.0,
            key: split_u64(key.0),
        }
    }

    fn merchant(&self) -> MerchantId {
        MerchantId(self.merchant)
    }

    fn key(&self) -> IdemKey {
        IdemKey(join_u64(self.key))
    }
}

/// Hashed as the pair it stands for.
impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.merchant().hash(state);
        self.key().hash(state);
    }
}

#[derive(Default)]
struct Inner {
    keys: KeyTable,
    /// Keys in insertion order, for pruning.
    order: AgeQueue<Key>,
}

pub struct IdempotencyStore {
    inner: Mutex<Inner>,
    retention_us: u64,
    /// The `no-idempotency` sabotage: the store is skipped entirely.
    bypass: bool,
}

impl IdempotencyStore {
    /// `expected_payments` (journeys, one payment each; 0 if unknown) sizes
    /// the key table's slots, two a journey, and the pruning queue up front.
    pub fn new(retention_s: f64, bypass: bool, expected_payments: usize) -> IdempotencyStore {
        let slots =
            expected_payments.saturating_mul(crate::load::journey::KEYS_PER_JOURNEY as usize);
        IdempotencyStore {
            inner: Mutex::new(Inner {
                keys: KeyTable::with_capacity(slots),
                order: AgeQueue::with_capacity(crate::domain::keys_for_payments(expected_payments)),
            }),
            retention_us: (retention_s * 1e6) as u64,
            bypass,
        }
    }

    pub fn begin(
        &self,
        merchant: MerchantId,
        key: IdemKey,
        fingerprint: u64,
        now_us: u64,
    ) -> Begin {
        if self.bypass {
            return Begin::Execute;
        }
        let mut inner = self.inner.locked();
        let k = Key::new(merchant, key);
        match inner.keys.get(&k) {
            Some(e) if e.fingerprint != fingerprint => Begin::Mismatch,
            Some(KeyEntry {
                state: KeyState::InFlight,
                ..
            }) => Begin::InFlight,
            Some(KeyEntry {
                state: KeyState::Done(reply),
                ..
            }) => Begin::Replay(reply),
            Some(KeyEntry {
                state: KeyState::Abandoned,
                ..
            }) => {
                let entry = KeyEntry {
                    fingerprint,
                    state: KeyState::InFlight,
                };
                inner.keys.put(k, entry);
                Begin::Execute
            }
            None => {
                let entry = KeyEntry {
                    fingerprint,
                    state: KeyState::InFlight,
                };
                inner.keys.put(k, entry);
                inner.order.push(now_us, k);
                Begin::Execute
            }
        }
    }

    /// Stores the reply of an execution that began with [`Begin::Execute`].
    pub fn complete(&self, merchant: MerchantId, key: IdemKey, reply: StoredReply) {
        if self.bypass {
            return;
        }
        let k = Key::new(merchant, key);
        let mut inner = self.inner.locked();
        if let Some(e) = inner.keys.get(&k) {
            let state = KeyState::Done(reply);
            inner.keys.put(k, KeyEntry { state, ..e });
        }
    }

    /// The address of the line `begin` or `complete` will read for `key`
    /// (0 if none is known before the lookup): a hint, never read through.
    pub fn line(&self, merchant: MerchantId, key: IdemKey) -> usize {
        if self.bypass {
            return 0;
        }
        self.inner.locked().keys.line(&Key::new(merchant, key))
    }

    /// Forgets a key whose execution was refused before it had any effect
    /// (503, 429), so a retry executes afresh.
    pub fn abandon(&self, merchant: MerchantId, key: IdemKey) {
        if self.bypass {
            return;
        }
        self.inner.locked().keys.remove(&Key::new(merchant, key));
    }

    /// A crash of a store kept in memory: every key is gone.
    pub fn lose_everything(&self) {
        let mut inner = self.inner.locked();
        inner.keys.clear();
        inner.order.clear();
    }

    /// After a crash of a durable store: keys still marked in flight whose
    /// execution died with the process and left nothing to finish (`owned`
    /// says which are still being finished) are marked abandoned, so a
    /// retry executes afresh — nothing was sent downstream for them — while
    /// a request with other parameters is still refused: the key's first
    /// request did begin. Returns how many were abandoned.
    pub fn abandon_orphans(&self, owned: impl Fn(MerchantId, IdemKey) -> bool) -> usize {
        let mut inner = self.inner.locked();
        let orphans: Vec<(Key, KeyEntry)> = inner
            .keys
            .iter()
            .filter(|&(k, e)| {
                matches!(e.state, KeyState::InFlight) && !owned(k.merchant(), k.key())
            })
            .collect();
        for &(k, e) in &orphans {
            let state = KeyState::Abandoned;
            inner.keys.put(k, KeyEntry { state, ..e });
        }
        orphans.len()
    }

    /// Drops keys older than the retention window. In-flight keys are kept.
    pub fn prune(&self, now_us: u64) -> usize {
        let mut inner = self.inner.locked();
        let mut pruned = 0;
        while let Some(k) = inner.order.pop_expired(now_us, self.retention_us) {
            match inner.keys.get(&k) {
                Some(KeyEntry {
                    state: KeyState::InFlight,
                    ..
                }) => inner.order.push(now_us, k),
                Some(_) => {
                    inner.keys.remove(&k);
                    pruned += 1;
                }
                None => {}
            }
        }
        pruned
    }

    pub fn len(&self) -> usize {
        self.inner.locked().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held per retained key (its slot in the key table and its place
    /// in the pruning queue), for the memory figures in perf.json. The
    /// table's empty slots come on top: two a journey are reserved, and most
    /// journeys make one or two keys.
    pub const fn bytes_per_key() -> usize {
        KeyTable::slot_bytes() + std::mem::size_of::<Key>()
    }
}

/// A key's entry in 36 bytes instead of 80: the stored reply's ids and
/// amounts in 32 bits, its enums as indices. Anything that does not fit
/// (ids past 4 billion, amounts past 2^31 minor units, a stored 429) is
/// kept whole beside the table; see [`crate::packed`].
#[derive(Clone, Copy)]
struct PackedEntry {
    /// Split, so the entry needs only 4-byte alignment: 36 bytes, not 40.
    fingerprint: [u32; 2],
    payment: u32,
    /// `u32::MAX`: no refund.
    refund: u32,
    amount: i32,
    captured: i32,
    refunded: i32,
    /// Bits 0-1: 0 spilled, 1 in flight, 2 done, 3 abandoned; 2: the reply
    /// is an error; 3-6: the error, or the status; 7-9 the method; 10-12 the
    /// decline (0 none); 13 replayed.
    bits: Bits,
    currency: u32,
}

const NO_REFUND: u32 = u32::MAX;

impl Pack for KeyEntry {
    type Packed = PackedEntry;
    const SPILLED: PackedEntry = PackedEntry {
        fingerprint: [0, 0],
        payment: 0,
        refund: 0,
        amount: 0,
        captured: 0,
        refunded: 0,
        bits: Bits(0),
        currency: 0,
    };

    fn is_spilled(p: &PackedEntry) -> bool {
        p.bits.get(0, 2) == 0
    }

    fn pack(&self) -> Option<PackedEntry> {
        let mut p = PackedEntry {
            fingerprint: split_u64(self.fingerprint),
            ..Self::SPILLED
        };
        let reply = match self.state {
            KeyState::InFlight => {
                p.bits.put(0, 2, 1)?;
                return Some(p);
            }
            KeyState::Abandoned => {
                p.bits.put(0, 2, 3)?;
                return Some(p);
            }
            KeyState::Done(reply) => reply,
        };
        p.bits.put(0, 2, 2)?;
        match reply {
            Err(e) => {
                p.bits.put(2, 1, 1)?;
                p.bits.put(3, 4, index_of(&ApiError::ALL, &e)?)?;
            }
            Ok(r) => {
                let v = r.payment;
                p.payment = narrow_u(v.id.0)?;
                p.refund = match r.refund {
                    Some(id) => narrow_u(id.0).filter(|&n| n != NO_REFUND)?,
                    None => NO_REFUND,
                };
                p.amount = narrow_i(v.amount.minor)?;
                p.captured = narrow_i(v.captured_minor)?;
                p.refunded = narrow_i(v.refunded_minor)?;
                p.currency = v.amount.currency.code();
                p.bits.put(3, 4, index_of(&Status::ALL, &v.status)?)?;
                p.bits.put(7, 3, index_of(&Method::ALL, &v.method)?)?;
                let decline = match v.decline {
                    Some(d) => index_of(&DeclineReason::ALL, &d)? + 1,
                    None => 0,
                };
                p.bits.put(10, 3, decline)?;
                p.bits.put(13, 1, u32::from(r.replayed))?;
            }
        }
        Some(p)
    }

    fn unpack(p: &PackedEntry) -> KeyEntry {
        let state = match p.bits.get(0, 2) {
            1 => KeyState::InFlight,
            3 => KeyState::Abandoned,
            _ if p.bits.flag(2) => KeyState::Done(Err(
                ApiError::ALL[p.bits.get(3, 4) as usize % ApiError::ALL.len()]
            )),
            _ => {
                let decline = p.bits.get(10, 3) as usize;
                KeyState::Done(Ok(ApiReply {
                    payment: PaymentView {
                        id: PaymentId(u64::from(p.payment)),
                        amount: Money::new(i64::from(p.amount), Currency::from_code(p.currency)),
                        status: Status::ALL[p.bits.get(3, 4) as usize % Status::ALL.len()],
                        method: Method::ALL[p.bits.get(7, 3) as usize % Method::ALL.len()],
                        captured_minor: i64::from(p.captured),
                        refunded_minor: i64::from(p.refunded),
                        decline: (decline > 0)
                            .then(|| DeclineReason::ALL[(decline - 1) % DeclineReason::ALL.len()]),
                    },
                    refund: (p.refund != NO_REFUND).then_some(RefundId(u64::from(p.refund))),
                    replayed: p.bits.flag(13),
                }))
            }
        };
        KeyEntry {
            fingerprint: join_u64(p.fingerprint),
            state,
        }
    }
}

#[cfg(test)]
mod tests;
