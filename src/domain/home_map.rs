//! A hash map whose entry for a key is found by reading one place, known
//! before the lookup: open addressing with linear probing, the key and its
//! value stored together, at most half the slots full.
//!
//! Why not `HashMap`: its table keeps control bytes apart from the entries,
//! so a lookup in a table larger than the cache reads two cold lines, and
//! where they are is only known by looking. Here a key's entry sits at its
//! home slot or a few slots after it, in the same line most of the time, and
//! [`HomeMap::home`] says where that is without reading the table: a step
//! that will look a key up after a sleep names the line, and the sim
//! executor fetches it while the earlier wakes run
//! (`Component::serve_touching`). Removal shifts later entries back (no
//! tombstones), so a long run's inserts and removals never slow lookups.
//!
//! For small copyable entries (message logs, per-customer balances), where
//! an empty half costs little.

use std::hash::{BuildHasher, Hash};

use rustc_hash::FxBuildHasher;

pub struct HomeMap<K, V> {
    /// A power of two long (or empty).
    slots: Vec<Option<(K, V)>>,
    len: usize,
}

impl<K, V> Default for HomeMap<K, V> {
    fn default() -> Self {
        HomeMap {
            slots: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Copy + Eq + Hash, V> HomeMap<K, V> {
    /// Room for `n` entries before the table first grows.
    pub fn with_capacity(n: usize) -> Self {
        let mut map = HomeMap::default();
        if n > 0 {
            map.slots = empty_slots(room_for(n));
        }
        map
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    fn home_index(&self, k: &K) -> usize {
        FxBuildHasher.hash_one(k) as usize & self.mask()
    }

    /// Where `k`'s entry is, or would go: the address of its home slot (0
    /// for an empty table). A hint for asking ahead, never read through.
    pub fn home(&self, k: &K) -> usize {
        if self.slots.is_empty() {
            return 0;
        }
        self.slots.as_ptr().wrapping_add(self.home_index(k)) as usize
    }

    /// The slot holding `k`, or the empty slot that ends its probe.
    fn find(&self, k: &K) -> Result<usize, usize> {
        let mask = self.mask();
        let mut i = self.home_index(k);
        loop {
            match &self.slots[i] {
                None => return Err(i),
                Some((key, _)) if key == k => return Ok(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        let i = self.find(k).ok()?;
        self.slots[i].as_ref().map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        if self.len == 0 {
            return None;
        }
        let i = self.find(k).ok()?;
        self.slots[i].as_mut().map(|(_, v)| v)
    }

    /// Inserts or replaces; returns the value replaced. Only a new key can
    /// grow the table.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if self.len > 0 {
            if let Ok(i) = self.find(&k) {
                return self.slots[i].replace((k, v)).map(|(_, old)| old);
            }
        }
        if room_for(self.len + 1) > self.slots.len() {
            self.grow();
        }
        let Err(i) = self.find(&k) else {
            unreachable!("absent: looked for above");
        };
        self.slots[i] = Some((k, v));
        self.len += 1;
        None
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        if self.len == 0 {
            return None;
        }
        let mut hole = self.find(k).ok()?;
        let (_, v) = self.slots[hole].take()?;
        self.len -= 1;
        // Shift back every later entry of the run that may sit in the hole:
        // one whose home is not cyclically within (hole, j].
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let Some((key, _)) = &self.slots[j] else {
                break;
            };
            let home = self.home_index(key);
            let stays = if hole < j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
        }
        Some(v)
    }

    /// Every entry, in slot order (the same for the same inserts and
    /// removals).
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|(k, v)| (k, v))
    }

    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = None);
        self.len = 0;
    }

    /// Room for `additional` more entries before the table next grows:
    /// one rehash now instead of a doubling at every power of two.
    pub fn reserve(&mut self, additional: usize) {
        let size = room_for(self.len + additional);
        if size > self.slots.len() {
            self.rehash(size);
        }
    }

    fn grow(&mut self) {
        self.rehash((self.slots.len() * 2).max(8));
    }

    fn rehash(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.slots, empty_slots(size));
        for (k, v) in old.into_iter().flatten() {
            let Err(i) = self.find(&k) else {
                unreachable!("keys are distinct");
            };
            self.slots[i] = Some((k, v));
        }
    }
}

/// Slots for `n` entries at most half full. Three quarters full took 8%
/// less memory on the million benchmark for 0.7% more CPU
/// (docs/performance.md): where memory is the limit, this is the knob.
fn room_for(n: usize) -> usize {
    (n * 2).next_power_of_two()
}

fn empty_slots<T>(n: usize) -> Vec<Option<T>> {
    std::iter::repeat_with(|| None).take(n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A reproducible stream of draws (xorshift64).
    fn draws(seed: u64) -> impl Iterator<Item = u64> {
        std::iter::successors(Some(seed), |&x| {
            let x = x ^ x << 13;
            let x = x ^ x >> 7;
            Some(x ^ x << 17)
        })
        .skip(1)
    }

    /// Random inserts, replacements and removals agree with `HashMap` at
    /// every step, in a table small enough that runs wrap around its end
    /// and removals shift entries back across it.
    #[test]
    fn agrees_with_a_hash_map() {
        let mut home = HomeMap::default();
        let mut reference = HashMap::new();
        for (step, x) in (0..200_000u64).zip(draws(0x9e37_79b9_7f4a_7c15)) {
            // Few distinct keys, so removals find what they remove.
            let k = x % 97;
            match x >> 60 {
                0..=7 => assert_eq!(home.insert(k, step), reference.insert(k, step)),
                8..=13 => assert_eq!(home.remove(&k), reference.remove(&k)),
                _ => {
                    if let Some(v) = home.get_mut(&k) {
                        *v += 1;
                    }
                    if let Some(v) = reference.get_mut(&k) {
                        *v += 1;
                    }
                }
            }
            assert_eq!(home.len(), reference.len());
            assert_eq!(home.get(&k), reference.get(&k), "key {k} at step {step}");
        }
        let mut all: Vec<_> = home.iter().map(|(&k, &v)| (k, v)).collect();
        all.sort();
        let mut expected: Vec<_> = reference.into_iter().collect();
        expected.sort();
        assert_eq!(all, expected);
    }

    /// Runs that wrap around the table's end: keys whose homes are its
    /// last slots and its first, inserted and removed at random in a table
    /// that never grows, agree with `HashMap` at every step.
    #[test]
    fn runs_wrap_around_the_end() {
        let mut home = HomeMap::with_capacity(8);
        let size = home.slots.len();
        let pool: Vec<u64> = (0..100_000u64)
            .filter(|k| {
                let h = home.home_index(k);
                h + 3 >= size || h < 2
            })
            .take(12)
            .collect();
        let mut reference = HashMap::new();
        for (step, x) in (0..100_000u64).zip(draws(0x2545_f491_4f6c_dd1d)) {
            let k = pool[(x % pool.len() as u64) as usize];
            if x >> 63 == 0 && reference.len() < 8 {
                assert_eq!(home.insert(k, step), reference.insert(k, step));
            } else {
                assert_eq!(home.remove(&k), reference.remove(&k));
            }
            assert_eq!(home.slots.len(), size, "never grew");
            for k in &pool {
                assert_eq!(home.get(k), reference.get(k), "key {k} at step {step}");
            }
        }
    }

    /// Every entry is at its home slot or after it, with no empty slot in
    /// between: what lets `home` name the line a lookup reads first. A
    /// removal that left a gap would break it (and lose the entries past
    /// the gap to lookups).
    #[test]
    fn entries_sit_at_or_just_after_their_home() {
        let mut home = HomeMap::with_capacity(1_000);
        for k in 0..1_000u64 {
            home.insert(k, ());
        }
        for k in (0..1_000u64).step_by(3) {
            home.remove(&k);
        }
        let mask = home.mask();
        for (i, slot) in home.slots.iter().enumerate() {
            if let Some((k, _)) = slot {
                let mut j = home.home_index(k);
                while j != i {
                    assert!(home.slots[j].is_some(), "a gap before key {k}");
                    j = (j + 1) & mask;
                }
                assert_eq!(
                    home.home(k),
                    home.slots.as_ptr().wrapping_add(home.home_index(k)) as usize
                );
            }
        }
        assert_eq!(home.len(), 666);
        assert_eq!(HomeMap::<u64, ()>::default().home(&1), 0);
    }

    /// Sized up front, the table does not grow (nor move) before it holds
    /// what it was sized for.
    #[test]
    fn a_sized_table_does_not_move() {
        let mut home = HomeMap::with_capacity(100);
        let at = home.slots.as_ptr();
        for k in 0..100u32 {
            home.insert(k, k);
        }
        assert_eq!(home.slots.as_ptr(), at);
        home.reserve(300);
        let at = home.slots.as_ptr();
        for k in 100..400u32 {
            home.insert(k, k);
        }
        assert_eq!(home.slots.as_ptr(), at, "reserved room");
        assert_eq!(home.get(&7), Some(&7), "kept across the rehash");
        let full = home.slots.len() / 2;
        for k in 400..full as u32 {
            home.insert(k, k);
        }
        let at = home.slots.as_ptr();
        home.insert(7, 70);
        assert_eq!(home.slots.as_ptr(), at, "a replacement at the limit");
        assert_eq!((home.get(&7), home.len()), (Some(&70), full));
        home.clear();
        assert!(home.is_empty() && home.get(&5).is_none());
    }
}
