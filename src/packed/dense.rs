//! A [`PackedMap`] for ids handed out densely (payments and webhook events
//! from 1; the checker's idempotency keys, by journey, from 0): a vector
//! indexed by the id instead of a hash table.
//!
//! A hash table of 35 million packed payments costs twice what the states
//! do — the key beside every state, a control byte, and up to half the
//! buckets empty after a power-of-two growth — and for a moment three times
//! while it grows, both tables alive. A vector costs the states alone, and
//! grows in place (a large reallocation moves pages, not bytes). Ids far
//! beyond the ones seen so far (a client asking for a payment that does not
//! exist), and keys with no place in the count (`DenseKey::index` gives
//! `u64::MAX`), go to a small hash map beside it, so a stray id never
//! allocates a huge vector.

use std::hash::Hash;

use super::{pack_exact, Pack, PackedMap};
use crate::domain::fingerprint::FxHashMap;

/// An id that counts up from 0 or 1.
pub(crate) trait DenseKey: Copy + Eq + Hash {
    /// The id's slot. A key with no place in the count (`u64::MAX`, or any
    /// index far past the vector) lives in the side map: correct, only
    /// slower.
    fn index(self) -> u64;
    fn from_index(i: u64) -> Self;
}

/// Payment ids: the gateway counts them up from 1.
impl DenseKey for crate::domain::PaymentId {
    fn index(self) -> u64 {
        self.0
    }
    fn from_index(i: u64) -> Self {
        crate::domain::PaymentId(i)
    }
}

/// Webhook event ids: the dispatcher counts them up from 1.
impl DenseKey for crate::domain::EventId {
    fn index(self) -> u64 {
        self.0
    }
    fn from_index(i: u64) -> Self {
        crate::domain::EventId(i)
    }
}

/// How far past the highest slot an id may land and still grow the vector.
const GROW_AHEAD: u64 = 1 << 20;

pub(crate) struct DenseMap<K, V: Pack> {
    slots: Vec<V::Packed>,
    /// One bit per slot: whether it holds a state.
    present: Vec<u64>,
    wide: FxHashMap<K, V>,
    /// Ids too far ahead of the vector, or with no place in it.
    stray: PackedMap<K, V>,
    /// The lowest index of a stray: the vector growing past it moves strays
    /// in. `u64::MAX` when none can be (a key with no place never moves),
    /// so growing does not look through the strays every time.
    nearest_stray: u64,
}

impl<K, V: Pack> Default for DenseMap<K, V> {
    fn default() -> Self {
        DenseMap {
            slots: Vec::new(),
            present: Vec::new(),
            wide: FxHashMap::default(),
            stray: PackedMap::default(),
            nearest_stray: u64::MAX,
        }
    }
}

impl<K: DenseKey, V: Pack> DenseMap<K, V> {
    /// A map with room for ids below `n` reserved up front (pages are only
    /// touched as ids arrive).
    pub(crate) fn with_capacity(n: usize) -> Self {
        DenseMap {
            slots: Vec::with_capacity(n),
            present: Vec::with_capacity(n.div_ceil(64)),
            ..Self::default()
        }
    }

    fn is_present(&self, i: usize) -> bool {
        self.present
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Asks for the lines of `k`'s slot and presence bit ahead of an update
    /// (see `crate::prefetch`); nothing for an id past the vector.
    pub(crate) fn ask_for(&self, k: K) {
        let Ok(i) = usize::try_from(k.index()) else {
            return;
        };
        if let Some(slot) = self.slots.get(i) {
            crate::prefetch::line(slot);
            crate::prefetch::line(self.present.as_ptr().wrapping_add(i / 64));
        }
    }

    /// The slot for `k`, growing the vector if `k` is near enough; `None`
    /// for a stray id.
    fn slot_index(&mut self, k: K) -> Option<usize> {
        let i = k.index();
        let len = self.slots.len() as u64;
        if i < len {
            return Some(i as usize);
        }
        if i >= len + GROW_AHEAD {
            return None;
        }
        // `resize` reserves with amortized doubling; only the slots up to
        // `i` are written (and so touched in memory).
        let new_len = (i + 1) as usize;
        self.slots.resize(new_len, V::SPILLED);
        self.present.resize(new_len.div_ceil(64), 0);
        if new_len as u64 <= self.nearest_stray {
            return Some(i as usize);
        }
        // Strays the vector now covers move into it, so an id has one home.
        let covered: Vec<K> = self
            .stray
            .iter()
            .map(|(k, _)| k)
            .filter(|k| k.index() < new_len as u64)
            .collect();
        self.nearest_stray = (self.stray.iter())
            .map(|(k, _)| k.index())
            .filter(|&i| i >= new_len as u64)
            .min()
            .unwrap_or(u64::MAX);
        for k in covered {
            if let Some(v) = self.stray.remove(&k) {
                let i = k.index() as usize;
                self.present[i / 64] |= 1 << (i % 64);
                self.store(i, k, v);
            }
        }
        Some(i as usize)
    }

    fn store(&mut self, i: usize, k: K, v: V) {
        match pack_exact(&v) {
            Some(p) => {
                self.slots[i] = p;
                if !self.wide.is_empty() {
                    self.wide.remove(&k);
                }
            }
            None => {
                self.slots[i] = V::SPILLED;
                self.wide.insert(k, v);
            }
        }
    }

    fn load(&self, i: usize, k: &K) -> V {
        super::load(&self.slots[i], &self.wide, k)
    }

    /// Applies `f` to the state of `k`, created by `new` if absent.
    pub(crate) fn update<R>(
        &mut self,
        k: K,
        new: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let Some(i) = self.slot_index(k) else {
            self.nearest_stray = self.nearest_stray.min(k.index());
            return self.stray.update(k, new, f);
        };
        let mut v = if self.is_present(i) {
            self.load(i, &k)
        } else {
            self.present[i / 64] |= 1 << (i % 64);
            new()
        };
        let r = f(&mut v);
        self.store(i, k, v);
        r
    }

    /// Applies `f` to the state of `k` if there is one.
    pub(crate) fn update_existing<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let i = usize::try_from(k.index()).unwrap_or(usize::MAX);
        if i >= self.slots.len() {
            return self.stray.update_existing(k, f);
        }
        if !self.is_present(i) {
            return None;
        }
        let mut v = self.load(i, &k);
        let r = f(&mut v);
        self.store(i, k, v);
        Some(r)
    }

    pub(crate) fn get(&self, k: &K) -> Option<V> {
        let i = usize::try_from(k.index()).unwrap_or(usize::MAX);
        if i >= self.slots.len() {
            return self.stray.get(k);
        }
        self.is_present(i).then(|| self.load(i, k))
    }

    /// Every state, in id order, strays last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        (0..self.slots.len())
            .filter(|&i| self.is_present(i))
            .map(|i| {
                let k = K::from_index(i as u64);
                (k, self.load(i, &k))
            })
            .chain(self.stray.iter())
    }

    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        self.wide.len() + self.stray.spilled()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Wide;
    use super::*;

    impl DenseKey for u64 {
        fn index(self) -> u64 {
            self
        }
        fn from_index(i: u64) -> u64 {
            i
        }
    }

    /// The dense map and the hash map hold the same states after the same
    /// updates, whatever the ids: near, far (strays), later covered by the
    /// vector, spilled or not.
    #[test]
    fn agrees_with_the_hash_map() {
        let mut dense: DenseMap<u64, Wide> = DenseMap::default();
        let mut hashed: PackedMap<u64, Wide> = PackedMap::default();
        let far = GROW_AHEAD * 3;
        let ids = [
            1,
            2,
            5,
            far,
            far + 1,
            3,
            64,
            65,
            1,
            far,
            200,
            7 * GROW_AHEAD,
            // Ids with no place in the vector: strays for good.
            u64::MAX,
            u64::MAX - 1,
        ];
        for (n, &k) in ids.iter().enumerate() {
            let a = if n % 3 == 0 {
                i64::MAX - n as i64
            } else {
                n as i64
            };
            // Asking ahead works for any id, far or with no place (a hint:
            // it takes `&self` and must not panic).
            dense.ask_for(k);
            dense.ask_for(u64::MAX);
            dense.update(k, Wide::default, |w| {
                w.a = a;
                w.n += 1
            });
            hashed.update(k, Wide::default, |w| {
                w.a = a;
                w.n += 1
            });
        }
        // Grow the vector step by step until it covers the first strays.
        let mut k = 200;
        while k < far + 10 {
            k += GROW_AHEAD / 2;
            dense.update(k, Wide::default, |w| w.n = 9);
            hashed.update(k, Wide::default, |w| w.n = 9);
        }
        assert_eq!(dense.update_existing(4, |w| w.n), None);
        assert_eq!(dense.update_existing(far, |w| w.n), Some(2));
        assert_eq!(dense.get(&(far + 1)), hashed.get(&(far + 1)));
        assert_eq!(dense.get(&0), None);
        let mut a: Vec<_> = dense.iter().collect();
        let mut b: Vec<_> = hashed.iter().collect();
        a.sort_by_key(|(k, _)| *k);
        b.sort_by_key(|(k, _)| *k);
        assert_eq!(a, b);
        assert!(dense.spilled() > 0, "some states were too wide to pack");
    }
}
