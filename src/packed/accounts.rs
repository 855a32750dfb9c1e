//! A [`PackedMap`](super::PackedMap) keyed by ledger account, on an
//! [`AccountMap`]: the checker's record of every account, with the
//! per-customer and per-merchant ones in vectors by id instead of a hash
//! table (see `domain::account_map` for why).

use super::{load, modify, store, Pack};
use crate::domain::account_map::AccountMap;
use crate::domain::audit::Account;
use crate::domain::fingerprint::FxHashMap;

pub(crate) struct PackedAccounts<V: Pack> {
    map: AccountMap<V::Packed>,
    wide: FxHashMap<Account, V>,
}

impl<V: Pack> Default for PackedAccounts<V> {
    fn default() -> Self {
        PackedAccounts {
            map: AccountMap::default(),
            wide: FxHashMap::default(),
        }
    }
}

impl<V: Pack> PackedAccounts<V> {
    /// Applies `f` to the state of `account`, created by `new` if absent.
    pub(crate) fn update<R>(
        &mut self,
        account: Account,
        new: impl FnOnce() -> V,
        f: impl FnOnce(&mut V) -> R,
    ) -> R {
        let mut fresh = None;
        let slot = self.map.get_or_insert_with(account, || {
            fresh = Some(new());
            V::SPILLED
        });
        let Some(mut v) = fresh else {
            return modify(slot, &mut self.wide, account, f);
        };
        let r = f(&mut v);
        store(slot, &mut self.wide, account, v);
        r
    }

    /// Asks for `account`'s slot ahead of an update (see `AccountMap::ask_for`).
    pub(crate) fn ask_for(&self, account: &Account) {
        self.map.ask_for(account);
    }

    /// Every state, in account order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Account, V)> + '_ {
        self.map
            .iter()
            .map(|(account, p)| (account, load(p, &self.wide, &account)))
    }

    #[cfg(test)]
    pub(crate) fn spilled(&self) -> usize {
        self.wide.len()
    }
}
