//! A map keyed by ledger account, for the tables that hold every account of
//! a run: the stack's balances and the checker's per-account record.
//!
//! Why not a hash map: a run has two accounts per customer and one per
//! merchant (400,000 for 200,000 customers) and a score of shared ones
//! (issuers, networks, rails, clearing, fees). Hashed, opening them cost a
//! rehash at every doubling, each posting two cache misses (control byte,
//! then bucket), and the end-of-run read a sort of every account. Here the
//! per-customer and per-merchant accounts sit in vectors indexed by id — one
//! miss, no rehash, already in order — and the shared ones in a small
//! ordered map. Iteration is in [`Account`]'s order, as a sort would give.

use std::collections::BTreeMap;

use super::audit::Account;

/// Ids up to this far past a vector's end grow it; an id beyond (none in a
/// run: ids count up from 0) goes to the ordered map, so a stray id never
/// allocates a huge vector.
const GROW_AHEAD: usize = 1 << 20;

#[derive(Clone, Debug)]
pub struct AccountMap<V> {
    available: Vec<Option<V>>,
    hold: Vec<Option<V>>,
    merchant: Vec<Option<V>>,
    /// Every other account.
    shared: BTreeMap<Account, V>,
    /// Per-customer or per-merchant accounts whose id was too far past its
    /// vector's end when first seen (empty in a run). Such an account stays
    /// here even once the vector grows past it: each account lives in one
    /// place.
    stray: BTreeMap<Account, V>,
}

impl<V> Default for AccountMap<V> {
    fn default() -> Self {
        AccountMap {
            available: Vec::new(),
            hold: Vec::new(),
            merchant: Vec::new(),
            shared: BTreeMap::new(),
            stray: BTreeMap::new(),
        }
    }
}

/// Where an account lives: a vector and an index, or the ordered map.
enum Place {
    Available(usize),
    Hold(usize),
    Merchant(usize),
    Shared,
}

fn place(account: Account) -> Place {
    match account {
        Account::CustomerAvailable(c) => Place::Available(c.0 as usize),
        Account::CustomerHold(c) => Place::Hold(c.0 as usize),
        Account::Merchant(m) => Place::Merchant(m.0 as usize),
        _ => Place::Shared,
    }
}

impl<V> AccountMap<V> {
    fn dense(&self, account: Account) -> Option<(&Vec<Option<V>>, usize)> {
        match place(account) {
            Place::Available(i) => Some((&self.available, i)),
            Place::Hold(i) => Some((&self.hold, i)),
            Place::Merchant(i) => Some((&self.merchant, i)),
            Place::Shared => None,
        }
    }

    pub fn get(&self, account: &Account) -> Option<&V> {
        match self.dense(*account) {
            Some((v, i)) => (v.get(i).and_then(Option::as_ref)).or_else(|| self.stray.get(account)),
            None => self.shared.get(account),
        }
    }

    /// The account's value, made by `new` if it has none.
    pub fn get_or_insert_with(&mut self, account: Account, new: impl FnOnce() -> V) -> &mut V {
        let (v, i) = match place(account) {
            Place::Available(i) => (&mut self.available, i),
            Place::Hold(i) => (&mut self.hold, i),
            Place::Merchant(i) => (&mut self.merchant, i),
            Place::Shared => return self.shared.entry(account).or_insert_with(new),
        };
        if !self.stray.is_empty() && self.stray.contains_key(&account) {
            return self.stray.get_mut(&account).expect("just checked");
        }
        if i >= v.len() {
            if i - v.len() >= GROW_AHEAD {
                return self.stray.entry(account).or_insert_with(new);
            }
            v.resize_with(i + 1, || None);
        }
        v[i].get_or_insert_with(new)
    }

    /// Every account with a value, in [`Account`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (Account, &V)> + '_ {
        use super::ids::{CustomerId, MerchantId};
        fn present<'a, V>(
            v: &'a [Option<V>],
            make: impl Fn(u32) -> Account + 'a,
        ) -> impl Iterator<Item = (Account, &'a V)> + 'a {
            v.iter()
                .enumerate()
                .filter_map(move |(i, s)| s.as_ref().map(|s| (make(i as u32), s)))
        }
        let dense = present(&self.available, |i| {
            Account::CustomerAvailable(CustomerId(i))
        })
        .chain(present(&self.hold, |i| {
            Account::CustomerHold(CustomerId(i))
        }))
        .chain(present(&self.merchant, |i| {
            Account::Merchant(MerchantId(i))
        }));
        let dense = Merge {
            a: dense.peekable(),
            b: self.stray.iter().map(|(a, v)| (*a, v)).peekable(),
        };
        Merge {
            a: dense.peekable(),
            b: self.shared.iter().map(|(a, v)| (*a, v)).peekable(),
        }
    }
}

/// Two iterators sorted by account, merged into one (no account is in
/// both: the vectors' and the strays', then those and the shared ones).
struct Merge<A: Iterator, B: Iterator> {
    a: std::iter::Peekable<A>,
    b: std::iter::Peekable<B>,
}

impl<'v, V: 'v, A, B> Iterator for Merge<A, B>
where
    A: Iterator<Item = (Account, &'v V)>,
    B: Iterator<Item = (Account, &'v V)>,
{
    type Item = (Account, &'v V);

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
    use crate::domain::audit::BankRailKind;
    use crate::domain::{CustomerId, IssuerId, MerchantId, NetworkId};
    use std::collections::BTreeMap;

    /// Whatever the accounts and the order they come in, the map holds what
    /// an ordered map would, and iterates in the same order.
    #[test]
    fn behaves_as_an_ordered_map() {
        let accounts = [
            Account::Fees,
            Account::CustomerHold(CustomerId(3)),
            Account::Merchant(MerchantId(2)),
            Account::External,
            Account::CustomerAvailable(CustomerId(3)),
            Account::CustomerAvailable(CustomerId(0)),
            Account::IssuerSettlement(IssuerId(1)),
            Account::NetworkClearing(NetworkId(0)),
            Account::BankClearing(BankRailKind::Batch),
            Account::Merchant(MerchantId(0)),
            Account::QrClearing,
            Account::AcquirerClearing,
            Account::IssuerStandIn(IssuerId(0)),
            // Stray ids: beyond the vectors' reach, into the ordered map.
            Account::CustomerAvailable(CustomerId(u32::MAX)),
            Account::Merchant(MerchantId(3_000_000)),
            Account::CustomerHold(CustomerId(3)),
        ];
        let mut map = AccountMap::default();
        let mut reference = BTreeMap::new();
        for (n, a) in accounts.iter().enumerate() {
            *map.get_or_insert_with(*a, || 0i64) += n as i64;
            *reference.entry(*a).or_insert(0i64) += n as i64;
        }
        assert!(map.merchant.len() < 10, "a stray id grew no vector");
        // A merchant first seen as a stray (3,000,000), then the vector
        // grown past it in steps: it is still one account.
        for m in (0..=3_200_000).step_by(400_000) {
            let a = Account::Merchant(MerchantId(m));
            *map.get_or_insert_with(a, || 0i64) += 1;
            *reference.entry(a).or_insert(0i64) += 1;
        }
        let stray = Account::Merchant(MerchantId(3_000_000));
        *map.get_or_insert_with(stray, || 0i64) += 100;
        *reference.entry(stray).or_insert(0i64) += 100;
        let got: Vec<(Account, i64)> = map.iter().map(|(a, v)| (a, *v)).collect();
        let want: Vec<(Account, i64)> = reference.iter().map(|(a, v)| (*a, *v)).collect();
        assert_eq!(got, want);
        for a in accounts {
            assert_eq!(map.get(&a), reference.get(&a));
        }
        assert_eq!(map.get(&Account::CustomerHold(CustomerId(1))), None);
        assert_eq!(map.get(&Account::CustomerHold(CustomerId(99))), None);
        assert_eq!(map.get(&Account::IssuerSettlement(IssuerId(0))), None);
    }
}
