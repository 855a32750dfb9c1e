//! A map keyed by ledger account, for the tables that hold every account of
//! a run: the stack's balances and the checker's per-account record.
//!
//! Why not a hash map: a run has two accounts per customer and one per
//! merchant (400,000 for 200,000 customers) and a score of shared ones
//! (issuers, networks, rails, clearing, fees). Hashed, opening them cost a
//! rehash at every doubling, each posting two cache misses (control byte,
//! then bucket), and the end-of-run read a sort of every account. Here the
//! per-customer and per-merchant accounts sit in [`DenseTable`]s indexed by
//! id — one miss, no rehash, already in order — and the shared ones in a
//! small ordered map. Iteration is in [`Account`]'s order, as a sort would
//! give.

use std::collections::BTreeMap;

use super::audit::Account;
use super::dense_table::{merge_sorted, DenseTable};
use super::{CustomerId, MerchantId};

#[derive(Clone, Debug)]
pub struct AccountMap<V> {
    available: DenseTable<CustomerId, V>,
    hold: DenseTable<CustomerId, V>,
    merchant: DenseTable<MerchantId, V>,
    /// Every other account.
    shared: BTreeMap<Account, V>,
}

impl<V> Default for AccountMap<V> {
    fn default() -> Self {
        AccountMap {
            available: DenseTable::default(),
            hold: DenseTable::default(),
            merchant: DenseTable::default(),
            shared: BTreeMap::new(),
        }
    }
}

impl<V> AccountMap<V> {
    pub fn get(&self, account: &Account) -> Option<&V> {
        match *account {
            Account::CustomerAvailable(c) => self.available.get(c),
            Account::CustomerHold(c) => self.hold.get(c),
            Account::Merchant(m) => self.merchant.get(m),
            _ => self.shared.get(account),
        }
    }

    /// Where a per-customer or per-merchant account's entry is (0 for a
    /// shared one: few, and cached), for naming it ahead of a sleep. A
    /// hint, never read through.
    pub fn place(&self, account: &Account) -> usize {
        match *account {
            Account::CustomerAvailable(c) => self.available.place(c),
            Account::CustomerHold(c) => self.hold.place(c),
            Account::Merchant(m) => self.merchant.place(m),
            _ => 0,
        }
    }

    /// Asks for the line of a per-customer or per-merchant account ahead of
    /// a lookup (the shared ones are few, and stay cached).
    pub fn ask_for(&self, account: &Account) {
        match *account {
            Account::CustomerAvailable(c) => self.available.ask_for(c),
            Account::CustomerHold(c) => self.hold.ask_for(c),
            Account::Merchant(m) => self.merchant.ask_for(m),
            _ => {}
        }
    }

    /// The account's value, made by `new` if it has none.
    pub fn get_or_insert_with(&mut self, account: Account, new: impl FnOnce() -> V) -> &mut V {
        match account {
            Account::CustomerAvailable(c) => self.available.get_or_insert_with(c, new),
            Account::CustomerHold(c) => self.hold.get_or_insert_with(c, new),
            Account::Merchant(m) => self.merchant.get_or_insert_with(m, new),
            _ => self.shared.entry(account).or_insert_with(new),
        }
    }

    /// Every account with a value, in [`Account`]'s order (the per-customer
    /// and per-merchant kinds come in the enum's order, each in id order).
    pub fn iter(&self) -> impl Iterator<Item = (Account, &V)> + '_ {
        let dense = (self.available.iter())
            .map(|(c, v)| (Account::CustomerAvailable(c), v))
            .chain(self.hold.iter().map(|(c, v)| (Account::CustomerHold(c), v)))
            .chain(self.merchant.iter().map(|(m, v)| (Account::Merchant(m), v)));
        merge_sorted(dense, self.shared.iter().map(|(a, v)| (*a, v)))
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
        assert!(map.merchant.vector_len() < 10, "a stray id grew no vector");
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
