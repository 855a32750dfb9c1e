//! A table keyed by an id the world hands out densely from 0 (customers,
//! merchants): a vector indexed by the id, for every table that holds
//! something per customer or per merchant.
//!
//! Why not a hash map: such tables sit on every payment's path (a
//! customer's bank, their wallet's card, their ledger accounts), and on a
//! table of 100,000 entries or more both of a hash table's memory accesses
//! (control byte, then bucket) are usually cache misses; here there is
//! one, no rehash while the table grows, and the entries are already in id
//! order. An id the table never heard of (a client naming a customer that
//! does not exist) is simply absent. An id far past the vector's end (none
//! in a run) goes to a small ordered map beside it, so a stray id never
//! allocates a huge vector; it stays there even once the vector grows past
//! it, so each id has one home.

use std::collections::BTreeMap;
use std::iter::Peekable;

use super::{CustomerId, MerchantId};

/// Ids up to this far past the vector's end grow it.
const GROW_AHEAD: usize = 1 << 20;

/// An id counted up from 0.
pub trait DenseId: Copy + Ord {
    fn index(self) -> usize;
    fn from_index(i: usize) -> Self;
}

impl DenseId for CustomerId {
    fn index(self) -> usize {
        self.0 as usize
    }
    fn from_index(i: usize) -> Self {
        CustomerId(i as u32)
    }
}

impl DenseId for MerchantId {
    fn index(self) -> usize {
        self.0 as usize
    }
    fn from_index(i: usize) -> Self {
        MerchantId(i as u32)
    }
}

#[derive(Clone, Debug)]
pub struct DenseTable<K, V> {
    slots: Vec<Option<V>>,
    /// Entries whose id was too far past the vector's end when first seen.
    stray: BTreeMap<K, V>,
}

impl<K, V> Default for DenseTable<K, V> {
    fn default() -> Self {
        DenseTable {
            slots: Vec::new(),
            stray: BTreeMap::new(),
        }
    }
}

impl<K: DenseId, V> DenseTable<K, V> {
    pub fn get(&self, k: K) -> Option<&V> {
        match self.slots.get(k.index()) {
            Some(Some(v)) => Some(v),
            _ if self.stray.is_empty() => None,
            _ => self.stray.get(&k),
        }
    }

    /// The entry of `k`, made by `new` if it has none.
    pub fn get_or_insert_with(&mut self, k: K, new: impl FnOnce() -> V) -> &mut V {
        if !self.stray.is_empty() && self.stray.contains_key(&k) {
            return self.stray.get_mut(&k).expect("just checked");
        }
        let i = k.index();
        if i >= self.slots.len() {
            if i - self.slots.len() >= GROW_AHEAD {
                return self.stray.entry(k).or_insert_with(new);
            }
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i].get_or_insert_with(new)
    }

    /// Asks for the line of `k`'s entry ahead of a lookup (see
    /// `crate::prefetch`); nothing for an id past the vector.
    pub fn ask_for(&self, k: K) {
        if let Some(slot) = self.slots.get(k.index()) {
            crate::prefetch::line(slot);
        }
    }

    /// The address of `k`'s entry, found without reading it: to ask for
    /// ahead (`Component::serve_touching`), never to read through.
    pub fn place(&self, k: K) -> usize {
        self.slots.as_ptr().wrapping_add(k.index()) as usize
    }

    /// Sets the entry of `k`.
    pub fn insert(&mut self, k: K, v: V) {
        let mut v = Some(v);
        let slot = self.get_or_insert_with(k, || v.take().expect("taken once"));
        if let Some(v) = v {
            *slot = v;
        }
    }

    /// Every entry, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        let dense = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (K::from_index(i), s)));
        merge_sorted(dense, self.stray.iter().map(|(k, v)| (*k, v)))
    }

    /// Slots in the vector (for tests of the stray rule).
    #[cfg(test)]
    pub(crate) fn vector_len(&self) -> usize {
        self.slots.len()
    }
}

/// Two iterators sorted by key, merged into one sorted by key (no key may
/// be in both).
pub(crate) fn merge_sorted<'v, K: Ord, V: 'v>(
    a: impl Iterator<Item = (K, &'v V)>,
    b: impl Iterator<Item = (K, &'v V)>,
) -> impl Iterator<Item = (K, &'v V)> {
    Merge {
        a: a.peekable(),
        b: b.peekable(),
    }
}

struct Merge<A: Iterator, B: Iterator> {
    a: Peekable<A>,
    b: Peekable<B>,
}

impl<'v, K: Ord, V: 'v, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = (K, &'v V)>,
    B: Iterator<Item = (K, &'v V)>,
{
    type Item = (K, &'v V);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) if y.0 < x.0 => self.b.next(),
            (Some(_), _) => self.a.next(),
            (None, _) => self.b.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted_and_nothing_else() {
        let mut t = DenseTable::default();
        t.insert(CustomerId(0), 7u16);
        t.insert(CustomerId(3), 9);
        assert_eq!(t.get(CustomerId(0)), Some(&7));
        assert_eq!(t.get(CustomerId(3)), Some(&9));
        assert_eq!(t.get(CustomerId(1)), None, "a gap is absent");
        assert_eq!(t.get(CustomerId(4)), None, "past the end is absent");
        assert_eq!(t.get(CustomerId(u32::MAX)), None);
    }

    /// An id far past the end is kept beside the vector, which stays
    /// small, keeps its one home when the vector later grows past it, and
    /// comes out of `iter` in id order with the rest.
    #[test]
    fn a_stray_id_does_not_grow_the_vector() {
        let mut t = DenseTable::default();
        t.insert(CustomerId(u32::MAX), "far");
        t.insert(CustomerId(1), "near");
        assert!(t.vector_len() <= 2, "{} slots", t.vector_len());
        assert_eq!(t.get(CustomerId(u32::MAX)), Some(&"far"));
        let far = (GROW_AHEAD + 10) as u32;
        t.insert(CustomerId(far), "stray");
        t.insert(CustomerId(GROW_AHEAD as u32), "grows");
        t.insert(CustomerId(far + 1), "covers the stray");
        t.insert(CustomerId(far), "replaced");
        assert_eq!(t.get(CustomerId(far)), Some(&"replaced"));
        assert_eq!(t.get(CustomerId(far + 1)), Some(&"covers the stray"));
        assert_eq!(t.stray.len(), 2);
        let ids: Vec<u32> = t.iter().map(|(c, _)| c.0).collect();
        assert_eq!(ids, [1, GROW_AHEAD as u32, far, far + 1, u32::MAX]);
    }

    #[test]
    fn a_second_insert_replaces_the_first() {
        let mut t = DenseTable::default();
        t.insert(CustomerId(2), "a");
        t.insert(CustomerId(2), "b");
        assert_eq!(t.get(CustomerId(2)), Some(&"b"));
        *t.get_or_insert_with(CustomerId(2), || "unused") = "c";
        assert_eq!(t.get(CustomerId(2)), Some(&"c"));
    }
}
