//! The idempotency store's table: a slot for each key a journey makes, at a
//! place known from the key, and a hash map for every other key.
//!
//! Why: every keyed request looks its key up when it arrives and stores its
//! reply when it ends, and in a table of a million keys both hash-table
//! reads (control byte, then bucket) were cache misses, 3.6% of a run's
//! CPU, with no way to ask for them ahead. paystorm's clients make key `n`
//! of journey `j` as `key_base(j) | n` (`load::journey::key_index`), so
//! the table is a vector indexed by that: a key's slot is known before the
//! lookup, and the gateway names it before the sleep that precedes the
//! lookup and asks for it while a reply is being applied.
//!
//! The vector is a ring: index `i` goes to slot `i % ring`, with `ring`
//! sized from the run's expected payments (two slots a journey), so memory
//! is bounded by the expected keys, not by the run's length. A key whose
//! slot still holds another key (a run longer than its sizing, with keys
//! retained for longer than the ring lasts), a journey's third key, a key
//! a live client made, and an entry too large for the packed form all go to
//! the hash map beside it. A key lives in one place: its slot or the map.

use super::{Key, KeyEntry, PackedEntry};
use crate::packed::{pack_exact, Pack, PackedMap};

/// A slot: the key (0 when empty: no journey makes key 0) and its entry.
#[derive(Clone, Copy)]
pub(super) struct Slot {
    key: Key,
    entry: PackedEntry,
}

const EMPTY: Slot = Slot {
    key: Key::NONE,
    entry: KeyEntry::SPILLED,
};

impl Slot {
    fn holds(&self, k: &Key) -> bool {
        self.key == *k
    }
}

#[derive(Default)]
pub(super) struct KeyTable {
    /// Grown as slots are first used, up to `ring` (reserved up front).
    slots: Vec<Slot>,
    ring: usize,
    /// Slots holding a key.
    slotted: usize,
    /// Keys with no slot of their own (see the module's comment).
    others: PackedMap<Key, KeyEntry>,
}

impl KeyTable {
    /// Room for `keys` journey keys (0: every key goes to the map).
    pub(super) fn with_capacity(keys: usize) -> KeyTable {
        KeyTable {
            slots: Vec::with_capacity(keys),
            ring: keys,
            ..KeyTable::default()
        }
    }

    /// `k`'s slot, if it has one.
    fn slot_of(&self, k: &Key) -> Option<usize> {
        let i = crate::load::journey::key_index(k.key().0)?;
        (self.ring > 0).then(|| (i % self.ring as u64) as usize)
    }

    /// The slot of `k` if it holds `k`.
    fn slot_holding(&self, k: &Key) -> Option<usize> {
        self.slot_of(k)
            .filter(|&s| self.slots.get(s).is_some_and(|slot| slot.holds(k)))
    }

    /// The address of `k`'s slot (0 if it has none), for asking ahead. A
    /// slot not yet used is inside the reserved room: never read through.
    pub(super) fn line(&self, k: &Key) -> usize {
        self.slot_of(k)
            .map_or(0, |s| self.slots.as_ptr().wrapping_add(s) as usize)
    }

    pub(super) fn get(&self, k: &Key) -> Option<KeyEntry> {
        match self.slot_holding(k) {
            Some(s) => Some(KeyEntry::unpack(&self.slots[s].entry)),
            None if self.others.len() == 0 => None,
            None => self.others.get(k),
        }
    }

    /// Stores `e` as `k`'s entry, new or replacing.
    pub(super) fn put(&mut self, k: Key, e: KeyEntry) {
        if let Some(s) = self.slot_holding(&k) {
            match pack_exact(&e) {
                Some(p) => self.slots[s].entry = p,
                None => {
                    // Too large for the slot now: to the map.
                    self.slots[s] = EMPTY;
                    self.slotted -= 1;
                    self.others.update(k, || e, |_| ());
                }
            }
            return;
        }
        if self.others.len() > 0 && self.others.get(&k).is_some() {
            self.others.update(k, || e, |v| *v = e);
            return;
        }
        match (self.free_slot(&k), pack_exact(&e)) {
            (Some(s), Some(p)) => {
                self.slots[s] = Slot { key: k, entry: p };
                self.slotted += 1;
            }
            _ => self.others.update(k, || e, |_| ()),
        }
    }

    /// `k`'s slot if it is empty, growing the vector to it.
    fn free_slot(&mut self, k: &Key) -> Option<usize> {
        let s = self.slot_of(k)?;
        if s >= self.slots.len() {
            self.slots.resize(s + 1, EMPTY);
        }
        self.slots[s].holds(&Key::NONE).then_some(s)
    }

    pub(super) fn remove(&mut self, k: &Key) -> Option<KeyEntry> {
        match self.slot_holding(k) {
            Some(s) => {
                let e = KeyEntry::unpack(&self.slots[s].entry);
                self.slots[s] = EMPTY;
                self.slotted -= 1;
                Some(e)
            }
            None => self.others.remove(k),
        }
    }

    /// Every key and entry: the slots in order, then the map's.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Key, KeyEntry)> + '_ {
        let slotted = (self.slots.iter())
            .filter(|s| !s.holds(&Key::NONE))
            .map(|s| (s.key, KeyEntry::unpack(&s.entry)));
        slotted.chain(self.others.iter())
    }

    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.slotted = 0;
        self.others.clear();
    }

    pub(super) fn len(&self) -> usize {
        self.slotted + self.others.len()
    }

    /// Bytes a slot takes.
    pub(super) const fn slot_bytes() -> usize {
        std::mem::size_of::<Slot>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{IdemKey, MerchantId};
    use crate::load::journey::key_base;

    fn entry(fingerprint: u64) -> KeyEntry {
        KeyEntry::in_flight(fingerprint)
    }

    fn key(merchant: u32, k: u64) -> Key {
        Key::new(MerchantId(merchant), IdemKey(k))
    }

    /// Journey keys take slots; other keys, a second merchant's use of a
    /// slotted key and a key whose slot is taken go to the map; each is
    /// found, replaced and removed where it lives.
    #[test]
    fn every_key_lives_in_one_place() {
        let mut t = KeyTable::with_capacity(4);
        let first = key(1, key_base(0) | 1);
        let third = key(1, key_base(0) | 3);
        let other_merchant = key(2, key_base(0) | 1);
        let wraps = key(1, key_base(2) | 1); // index 4: slot 0 again
        let live = key(1, 0xdead_beef);
        for (n, k) in [first, third, other_merchant, wraps, live]
            .into_iter()
            .enumerate()
        {
            t.put(k, entry(n as u64));
        }
        assert_eq!((t.slotted, t.others.len(), t.len()), (1, 4, 5));
        for (n, k) in [first, third, other_merchant, wraps, live]
            .into_iter()
            .enumerate()
        {
            assert_eq!(t.get(&k), Some(entry(n as u64)));
        }
        assert_eq!(t.line(&first), t.line(&wraps), "one slot");
        assert_eq!(t.line(&live), 0, "no slot");
        // The slot frees; the key that wrapped stays in the map, and is
        // replaced there.
        assert_eq!(t.remove(&first), Some(entry(0)));
        t.put(wraps, entry(9));
        assert_eq!((t.slotted, t.get(&wraps)), (0, Some(entry(9))));
        assert_eq!(t.iter().count(), 4);
        for k in [third, other_merchant, wraps, live] {
            assert!(t.remove(&k).is_some());
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.get(&first), None);
    }

    /// An entry that no longer packs leaves its slot for the map, and is
    /// still the key's only entry.
    #[test]
    fn an_entry_too_large_for_a_slot_moves_to_the_map() {
        let mut t = KeyTable::with_capacity(8);
        let k = key(1, key_base(1) | 2);
        t.put(k, entry(1));
        assert_eq!(t.slotted, 1);
        let large = KeyEntry::done_with_payment(1, u64::MAX);
        t.put(k, large);
        assert_eq!((t.slotted, t.others.len()), (0, 1));
        assert_eq!(t.get(&k), Some(large));
        t.put(k, entry(3));
        assert_eq!(t.get(&k), Some(entry(3)), "replaced in the map");
        assert_eq!(t.len(), 1);
        t.clear();
        assert_eq!((t.len(), t.get(&k)), (0, None));
    }
}
