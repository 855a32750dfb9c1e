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
//! Keys are scoped per merchant. Memory grows with retained keys only.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::domain::fingerprint::FxHashMap;
use crate::domain::{ApiError, ApiReply, IdemKey, MerchantId};
use crate::lock::Locked;

pub type StoredReply = Result<ApiReply, ApiError>;

/// What the gateway must do with a keyed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begin {
    Execute,
    Replay(StoredReply),
    Mismatch,
    InFlight,
}

#[derive(Clone, Copy)]
enum KeyState {
    InFlight,
    Done(StoredReply),
    /// Its execution died in a crash before anything went downstream: the
    /// same parameters execute afresh, other parameters are still refused.
    Abandoned,
}

#[derive(Clone, Copy)]
struct KeyEntry {
    fingerprint: u64,
    state: KeyState,
}

#[derive(Default)]
struct Inner {
    keys: FxHashMap<(MerchantId, IdemKey), KeyEntry>,
    /// Insertion order for pruning: (created_us, key).
    order: VecDeque<(u64, (MerchantId, IdemKey))>,
}

pub struct IdempotencyStore {
    inner: Mutex<Inner>,
    retention_us: u64,
    /// The `no-idempotency` sabotage: the store is skipped entirely.
    bypass: bool,
}

impl IdempotencyStore {
    /// `expected_keys` sizes the table up front (0 if unknown).
    pub fn new(retention_s: f64, bypass: bool, expected_keys: usize) -> IdempotencyStore {
        IdempotencyStore {
            inner: Mutex::new(Inner {
                keys: FxHashMap::with_capacity_and_hasher(expected_keys, Default::default()),
                order: VecDeque::with_capacity(expected_keys),
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
        match inner.keys.get(&(merchant, key)) {
            Some(e) if e.fingerprint != fingerprint => Begin::Mismatch,
            Some(KeyEntry {
                state: KeyState::InFlight,
                ..
            }) => Begin::InFlight,
            Some(KeyEntry {
                state: KeyState::Done(reply),
                ..
            }) => Begin::Replay(*reply),
            Some(KeyEntry {
                state: KeyState::Abandoned,
                ..
            }) => {
                if let Some(e) = inner.keys.get_mut(&(merchant, key)) {
                    e.state = KeyState::InFlight;
                }
                Begin::Execute
            }
            None => {
                inner.keys.insert(
                    (merchant, key),
                    KeyEntry {
                        fingerprint,
                        state: KeyState::InFlight,
                    },
                );
                inner.order.push_back((now_us, (merchant, key)));
                Begin::Execute
            }
        }
    }

    /// Stores the reply of an execution that began with [`Begin::Execute`].
    pub fn complete(&self, merchant: MerchantId, key: IdemKey, reply: StoredReply) {
        if self.bypass {
            return;
        }
        if let Some(e) = self.inner.locked().keys.get_mut(&(merchant, key)) {
            e.state = KeyState::Done(reply);
        }
    }

    /// Forgets a key whose execution was refused before it had any effect
    /// (503, 429), so a retry executes afresh.
    pub fn abandon(&self, merchant: MerchantId, key: IdemKey) {
        if self.bypass {
            return;
        }
        self.inner.locked().keys.remove(&(merchant, key));
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
        let mut abandoned = 0;
        for (&(m, k), e) in inner.keys.iter_mut() {
            if matches!(e.state, KeyState::InFlight) && !owned(m, k) {
                e.state = KeyState::Abandoned;
                abandoned += 1;
            }
        }
        abandoned
    }

    /// Drops keys older than the retention window. In-flight keys are kept.
    pub fn prune(&self, now_us: u64) -> usize {
        let mut inner = self.inner.locked();
        let mut pruned = 0;
        while let Some(&(created, k)) = inner.order.front() {
            if now_us.saturating_sub(created) < self.retention_us {
                break;
            }
            inner.order.pop_front();
            match inner.keys.get(&k) {
                Some(KeyEntry {
                    state: KeyState::InFlight,
                    ..
                }) => inner.order.push_back((now_us, k)),
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

    /// Bytes held per retained key (entry, its slot in the table and in the
    /// pruning queue), for the memory figures in perf.json.
    pub const fn bytes_per_key() -> usize {
        std::mem::size_of::<((MerchantId, IdemKey), KeyEntry)>()
            + 1
            + std::mem::size_of::<(u64, (MerchantId, IdemKey))>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Method, Money, PaymentId, PaymentView, Status};

    fn reply(id: u64) -> StoredReply {
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
    const K: IdemKey = IdemKey(9);

    #[test]
    fn stripe_semantics() {
        let s = IdempotencyStore::new(100.0, false, 0);
        assert_eq!(s.begin(M, K, 1, 0), Begin::Execute);
        assert_eq!(s.begin(M, K, 1, 1), Begin::InFlight);
        assert_eq!(s.begin(M, K, 2, 1), Begin::Mismatch);
        s.complete(M, K, reply(5));
        assert_eq!(s.begin(M, K, 1, 2), Begin::Replay(reply(5)));
        assert_eq!(s.begin(M, K, 2, 2), Begin::Mismatch);
        // Keys are scoped per merchant.
        assert_eq!(s.begin(MerchantId(2), K, 2, 2), Begin::Execute);
    }

    #[test]
    fn server_errors_are_stored_but_unavailable_is_forgotten() {
        let s = IdempotencyStore::new(100.0, false, 0);
        assert_eq!(s.begin(M, K, 1, 0), Begin::Execute);
        s.complete(M, K, Err(ApiError::Internal));
        assert_eq!(s.begin(M, K, 1, 0), Begin::Replay(Err(ApiError::Internal)));
        let k2 = IdemKey(10);
        assert_eq!(s.begin(M, k2, 1, 0), Begin::Execute);
        s.abandon(M, k2);
        assert_eq!(s.begin(M, k2, 1, 0), Begin::Execute);
    }

    #[test]
    fn keys_are_pruned_after_retention_but_not_while_in_flight() {
        let s = IdempotencyStore::new(10.0, false, 0);
        s.begin(M, K, 1, 0);
        s.complete(M, K, reply(1));
        s.begin(M, IdemKey(2), 1, 0); // stays in flight
        assert_eq!(s.prune(9_999_999), 0);
        assert_eq!(s.prune(10_000_000), 1);
        assert_eq!(s.len(), 1);
        assert_eq!(
            s.begin(M, K, 7, 10_000_001),
            Begin::Execute,
            "pruned key is new again"
        );
    }

    #[test]
    fn a_crash_loses_everything_in_memory_and_only_orphans_when_durable() {
        let s = IdempotencyStore::new(100.0, false, 0);
        s.begin(M, K, 1, 0);
        s.complete(M, K, reply(1));
        s.begin(M, IdemKey(2), 1, 0); // in flight, still being finished
        s.begin(M, IdemKey(3), 1, 0); // in flight, its execution died
        s.begin(M, IdemKey(4), 1, 0); // likewise
        assert_eq!(s.abandon_orphans(|_, k| k == IdemKey(2)), 2);
        assert_eq!(s.begin(M, K, 1, 1), Begin::Replay(reply(1)));
        assert_eq!(s.begin(M, IdemKey(2), 1, 1), Begin::InFlight);
        assert_eq!(s.begin(M, IdemKey(3), 1, 1), Begin::Execute);
        assert_eq!(
            s.begin(M, IdemKey(3), 1, 1),
            Begin::InFlight,
            "executing again, in flight again"
        );
        assert_eq!(
            s.begin(M, IdemKey(4), 9, 1),
            Begin::Mismatch,
            "an abandoned key still refuses other parameters"
        );
        s.lose_everything();
        assert_eq!(
            s.begin(M, K, 1, 2),
            Begin::Execute,
            "a replay is lost with the memory"
        );
    }

    #[test]
    fn bypass_executes_everything() {
        let s = IdempotencyStore::new(10.0, true, 0);
        assert_eq!(s.begin(M, K, 1, 0), Begin::Execute);
        s.complete(M, K, reply(1));
        assert_eq!(s.begin(M, K, 1, 0), Begin::Execute);
    }
}
