//! A table keyed by customer, for what the stack knows of every customer
//! from the start: which bank holds their account, which card their wallet
//! carries.
//!
//! Why not a hash map: the world numbers a cell's customers densely from 0,
//! so a vector indexed by the id holds the same in a fraction of the room
//! and answers with one memory access where a hash table takes two (control
//! byte, then bucket). These lookups sit on every payment's path, and on a
//! table of 100,000 customers or more both of a hash table's are usually
//! cache misses; the gateway's bank table, at 4 bytes a customer, now fits
//! in a core's L2 cache. An id the table never heard of (a client naming a
//! customer that does not exist) is simply absent. As in
//! [`super::account_map::AccountMap`], an id far past the vector's end
//! (none in a run) goes to a small map beside it, so a stray id never
//! allocates a huge vector.

use std::collections::BTreeMap;

use super::CustomerId;

/// Ids up to this far past the vector's end grow it.
const GROW_AHEAD: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct ByCustomer<V> {
    slots: Vec<Option<V>>,
    /// Entries whose id was too far past the vector's end when inserted;
    /// each stays here (one home per id).
    stray: BTreeMap<CustomerId, V>,
}

impl<V> Default for ByCustomer<V> {
    fn default() -> Self {
        ByCustomer {
            slots: Vec::new(),
            stray: BTreeMap::new(),
        }
    }
}

impl<V> ByCustomer<V> {
    pub fn get(&self, customer: CustomerId) -> Option<&V> {
        match self.slots.get(customer.0 as usize) {
            Some(Some(v)) => Some(v),
            _ if self.stray.is_empty() => None,
            _ => self.stray.get(&customer),
        }
    }

    /// Sets `customer`'s entry.
    pub fn insert(&mut self, customer: CustomerId, v: V) {
        let i = customer.0 as usize;
        if self.stray.contains_key(&customer) || i >= self.slots.len() + GROW_AHEAD {
            self.stray.insert(customer, v);
            return;
        }
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_inserted_and_nothing_else() {
        let mut t = ByCustomer::default();
        t.insert(CustomerId(0), 7u16);
        t.insert(CustomerId(3), 9);
        assert_eq!(t.get(CustomerId(0)), Some(&7));
        assert_eq!(t.get(CustomerId(3)), Some(&9));
        assert_eq!(t.get(CustomerId(1)), None, "a gap is absent");
        assert_eq!(t.get(CustomerId(4)), None, "past the end is absent");
        assert_eq!(t.get(CustomerId(u32::MAX)), None);
    }

    /// An id far past the end is kept beside the vector, which stays
    /// small, and keeps its one home when the vector later grows past it.
    #[test]
    fn a_stray_id_does_not_grow_the_vector() {
        let mut t = ByCustomer::default();
        t.insert(CustomerId(u32::MAX), "far");
        t.insert(CustomerId(1), "near");
        assert!(t.slots.len() <= 2, "{} slots", t.slots.len());
        assert_eq!(t.get(CustomerId(u32::MAX)), Some(&"far"));
        let far = (GROW_AHEAD + 10) as u32;
        t.insert(CustomerId(far), "stray");
        t.insert(CustomerId(GROW_AHEAD as u32), "grows");
        t.insert(CustomerId(far + 1), "covers the stray");
        t.insert(CustomerId(far), "replaced");
        assert_eq!(t.get(CustomerId(far)), Some(&"replaced"));
        assert_eq!(t.get(CustomerId(far + 1)), Some(&"covers the stray"));
        assert_eq!(t.stray.len(), 2);
        assert_eq!(t.get(CustomerId(GROW_AHEAD as u32)), Some(&"grows"));
    }

    #[test]
    fn a_second_insert_replaces_the_first() {
        let mut t = ByCustomer::default();
        t.insert(CustomerId(2), "a");
        t.insert(CustomerId(2), "b");
        assert_eq!(t.get(CustomerId(2)), Some(&"b"));
    }
}
