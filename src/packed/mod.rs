//! Compact storage for per-record state kept for a whole run: the checker's
//! per-key, per-payment and per-event states and the gateway's idempotency
//! store grow with the run, so their bytes per record decide how large a run
//! fits in memory.
//!
//! Each state type has a full-width form (what the invariants reason about)
//! and a packed form sized for the common case: small ids, amounts that fit
//! in 32 bits, counts of zero or one. A state that does not fit is *spilled*:
//! its packed slot only says so, and the full form lives in a side map. A
//! packed form is accepted only if unpacking it gives back exactly the full
//! state, so packing can never lose information — it only changes where the
//! bytes live. Spills happen for violations (second holds, differing hashes)
//! and for outsized values, both rare.

use std::collections::hash_map::Entry;
use std::hash::Hash;

use crate::domain::fingerprint::FxHashMap;

mod accounts;
mod dense;
pub(crate) use accounts::PackedAccounts;
pub(crate) use dense::{DenseKey, DenseMap};

/// A full-width state with a compact form for the common case.
pub(crate) trait Pack: Copy + PartialEq {
    type Packed: Copy;
    /// The marker stored in the main map for a state kept in the side map.
    const SPILLED: Self::Packed;
    fn is_spilled(p: &Self::Packed) -> bool;
    /// A candidate compact form; `None` if it obviously does not fit. Need not
    /// be exact: [`PackedMap`] verifies the round trip.
    fn pack(&self) -> Option<Self::Packed>;
    /// The full form of a packed state that is not [`Pack::SPILLED`].
    fn unpack(p: &Self::Packed) -> Self;
}

/// The packed form of `v`, if it round-trips exactly.
pub(crate) fn pack_exact<V: Pack>(v: &V) -> Option<V::Packed> {
    v.pack().filter(|p| !V::is_spilled(p) && V::unpack(p) == *v)
}

/// A map of packed states, with the spilled ones in a side map.
pub(crate) struct PackedMap<K, V: Pack> {
    map: FxHashMap<K, V::Packed>,
    wide: FxHashMap<K, V>,
}

impl<K, V: Pack> Default for PackedMap<K, V> {
    fn default() -> Self {
        PackedMap {
            map: FxHashMap::default(),
            wide: FxHashMap::default(),
        }
    }
}

impl<K: Copy + Eq + Hash, V: Pack> PackedMap<K, V> {
    /// Applies `f` to the state of `k`, created by `new` if absent.
    pub(crate) fn update<R>(
        &mut self,
        k: K,
        new: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        match self.map.entry(k) {
            Entry::Occupied(mut e) => modify(e.get_mut(), &mut self.wide, k, f),
            Entry::Vacant(e) => {
                let mut v = new();
                let r = f(&mut v);
                store(e.insert(V::SPILLED), &mut self.wide, k, v);
                r
            }
        }
    }

    /// Applies `f` to the state of `k` if there is one.
    pub(crate) fn update_existing<R>(&mut self, k: K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let slot = self.map.get_mut(&k)?;
        Some(modify(slot, &mut self.wide, k, f))
    }

    pub(crate) fn get(&self, k: &K) -> Option<V> {
        self.map.get(k).map(|p| load(p, &self.wide, k))
    }

    /// Every state, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.map.iter().map(|(&k, p)| (k, load(p, &self.wide, &k)))
    }

    /// Takes the state of `k` out of the map.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let p = self.map.remove(k)?;
        if V::is_spilled(&p) {
            self.wide.remove(k)
        } else {
            Some(V::unpack(&p))
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.wide.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        self.wide.len()
    }
}

/// The state a slot holds: unpacked, or from the side map if it spilled.
fn load<K: Eq + Hash, V: Pack>(slot: &V::Packed, wide: &FxHashMap<K, V>, k: &K) -> V {
    if V::is_spilled(slot) {
        wide[k]
    } else {
        V::unpack(slot)
    }
}

/// Applies `f` to the state a slot holds and stores it back, packed or
/// spilled: what every map's update does once it has found the slot.
fn modify<K: Copy + Eq + Hash, V: Pack, R>(
    slot: &mut V::Packed,
    wide: &mut FxHashMap<K, V>,
    k: K,
    f: impl FnOnce(&mut V) -> R,
) -> R {
    if V::is_spilled(slot) {
        return f(wide
            .get_mut(&k)
            .expect("a spilled state is in the side map"));
    }
    let mut v = V::unpack(slot);
    let r = f(&mut v);
    store(slot, wide, k, v);
    r
}

fn store<K: Copy + Eq + Hash, V: Pack>(
    slot: &mut V::Packed,
    wide: &mut FxHashMap<K, V>,
    k: K,
    v: V,
) {
    match pack_exact(&v) {
        Some(p) => {
            *slot = p;
            // A state that spilled once and fits again leaves the side map.
            if !wide.is_empty() {
                wide.remove(&k);
            }
        }
        None => {
            *slot = V::SPILLED;
            wide.insert(k, v);
        }
    }
}

/// The position of `v` in `all` (an enum's `ALL` table), for packing an
/// enum as a small index.
pub(crate) fn index_of<T: PartialEq>(all: &[T], v: &T) -> Option<u32> {
    all.iter().position(|x| x == v).map(|i| i as u32)
}

/// `v` as a u32 if it fits.
pub(crate) fn narrow_u(v: u64) -> Option<u32> {
    u32::try_from(v).ok()
}

/// `v` as an i32 if it fits.
pub(crate) fn narrow_i(v: i64) -> Option<i32> {
    i32::try_from(v).ok()
}

/// A u64 as two u32s, low first: a packed form holding it then needs only
/// 4-byte alignment, so no padding beside u32 fields (the idempotency
/// store's key and fingerprint). [`join_u64`] gives it back.
pub(crate) fn split_u64(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

pub(crate) fn join_u64(v: [u32; 2]) -> u64 {
    u64::from(v[0]) | u64::from(v[1]) << 32
}

/// A few small unsigned fields packed into one u32.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub(crate) struct Bits(pub u32);

impl Bits {
    /// Reads `width` bits at `shift`.
    pub(crate) fn get(self, shift: u32, width: u32) -> u32 {
        (self.0 >> shift) & ((1 << width) - 1)
    }

    /// Writes `v` into `width` bits at `shift`; `None` if it does not fit.
    pub(crate) fn put(&mut self, shift: u32, width: u32, v: u32) -> Option<()> {
        let mask = (1u32 << width) - 1;
        if v > mask {
            return None;
        }
        self.0 = (self.0 & !(mask << shift)) | (v << shift);
        Some(())
    }

    pub(crate) fn flag(self, shift: u32) -> bool {
        self.get(shift, 1) == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_u64_joins_back_whole() {
        for v in [
            0,
            1,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            assert_eq!(join_u64(split_u64(v)), v);
        }
        assert_eq!(split_u64(1 << 32 | 7), [7, 1], "low half first");
    }

    #[derive(Clone, Copy, PartialEq, Debug, Default)]
    pub(super) struct Wide {
        pub(super) a: i64,
        pub(super) n: u16,
    }

    #[derive(Clone, Copy)]
    pub(super) struct Small(i32, u32);

    impl Pack for Wide {
        type Packed = Small;
        const SPILLED: Small = Small(0, u32::MAX);
        fn is_spilled(p: &Small) -> bool {
            p.1 == u32::MAX
        }
        fn pack(&self) -> Option<Small> {
            Some(Small(narrow_i(self.a)?, u32::from(self.n)))
        }
        fn unpack(p: &Small) -> Wide {
            Wide {
                a: i64::from(p.0),
                n: p.1 as u16,
            }
        }
    }

    #[test]
    fn states_round_trip_whether_they_fit_or_spill() {
        let mut m: PackedMap<u64, Wide> = PackedMap::default();
        for k in 0..4u64 {
            m.update(k, Wide::default, |w| w.a = 7);
        }
        m.update(1, Wide::default, |w| w.a = i64::MAX);
        m.update(2, Wide::default, |w| w.a = i64::from(i32::MIN) - 1);
        assert_eq!(m.spilled(), 2);
        m.update(1, Wide::default, |w| w.n += 1);
        assert_eq!(m.get(&1), Some(Wide { a: i64::MAX, n: 1 }));
        assert_eq!(m.get(&0), Some(Wide { a: 7, n: 0 }));
        assert_eq!(m.update_existing(9, |w| w.n), None);
        assert_eq!(
            m.update_existing(3, |w| std::mem::replace(&mut w.n, 5)),
            Some(0)
        );
        let mut all: Vec<_> = m.iter().collect();
        all.sort_by_key(|(k, _)| *k);
        assert_eq!(
            all,
            vec![
                (0, Wide { a: 7, n: 0 }),
                (1, Wide { a: i64::MAX, n: 1 }),
                (
                    2,
                    Wide {
                        a: i64::from(i32::MIN) - 1,
                        n: 0
                    }
                ),
                (3, Wide { a: 7, n: 5 }),
            ]
        );
    }

    #[test]
    fn bits_refuse_values_that_do_not_fit() {
        let mut b = Bits::default();
        assert_eq!(b.put(3, 3, 7), Some(()));
        assert_eq!(b.put(3, 3, 8), None);
        assert_eq!(b.get(3, 3), 7);
        b.put(3, 3, 2).unwrap();
        assert_eq!(b.get(3, 3), 2);
        assert!(!b.flag(0));
    }
}
