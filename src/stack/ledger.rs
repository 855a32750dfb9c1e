//! The double-entry ledger. Every movement of money is one journal entry whose
//! legs sum to zero; balances are kept per account. The journal itself is
//! exported to the audit trail as it is written (append-only), so the ledger
//! keeps only balances in memory.
//!
//! Order: callers hold their own lock (issuer, acquirer) while posting so a
//! decision and its entry are atomic; the ledger's lock is always taken last.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::account_map::AccountMap;
use crate::domain::audit::{Account, AuditRecord, EntryKind, JournalEntry, Observer};
use crate::domain::{BatchId, Currency, EntryId, IdemKey, PaymentId, RefundId};
use crate::lock::Locked;
use crate::sim::Clock;

pub struct Ledger {
    currency: Currency,
    balances: Mutex<AccountMap<i64>>,
    next_entry: AtomicU64,
    observer: Arc<dyn Observer>,
    clock: Clock,
}

/// An entry being assembled; `post` gives it an id and writes it.
pub struct Draft {
    entry: JournalEntry,
}

impl Draft {
    pub fn payment(mut self, p: PaymentId) -> Draft {
        self.entry.payment = Some(p);
        self
    }
    pub fn refund(mut self, r: RefundId) -> Draft {
        self.entry.refund = Some(r);
        self
    }
    pub fn key(mut self, k: Option<IdemKey>) -> Draft {
        self.entry.key = k;
        self
    }
    pub fn batch(mut self, b: BatchId) -> Draft {
        self.entry.batch = Some(b);
        self
    }
    /// Adds a leg; zero legs are skipped (a partial capture of the full amount
    /// has no remainder to return).
    pub fn leg(mut self, account: Account, minor: i64) -> Draft {
        if minor != 0 {
            self.entry = self.entry.leg(account, minor);
        }
        self
    }

    /// Adds a leg even when it is zero: the leg that names whose entry it
    /// is (a merchant's deposit of exactly 0 still pays that merchant).
    pub fn leg_kept(mut self, account: Account, minor: i64) -> Draft {
        self.entry = self.entry.leg(account, minor);
        self
    }
}

impl Ledger {
    pub fn new(currency: Currency, observer: Arc<dyn Observer>, clock: Clock) -> Ledger {
        Ledger {
            currency,
            balances: Mutex::new(AccountMap::default()),
            next_entry: AtomicU64::new(1),
            observer,
            clock,
        }
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Declares an account and the lowest balance it may reach.
    pub fn open(&self, account: Account, floor_minor: Option<i64>) {
        self.lock().get_or_insert_with(account, || 0);
        self.observer.audit(AuditRecord::AccountOpened {
            account,
            currency: self.currency,
            floor_minor,
        });
    }

    pub fn draft(&self, kind: EntryKind) -> Draft {
        Draft {
            entry: JournalEntry::new(EntryId(0), 0, kind, self.currency),
        }
    }

    /// Applies the entry to the balances and appends it to the journal.
    pub fn post(&self, draft: Draft) -> EntryId {
        let mut entry = draft.entry;
        entry.id = EntryId(self.next_entry.fetch_add(1, Ordering::Relaxed));
        entry.at_us = self.clock.now_us();
        {
            let mut balances = self.lock();
            for leg in entry.legs() {
                *balances.get_or_insert_with(leg.account, || 0) += leg.minor;
            }
        }
        self.observer.audit(AuditRecord::Journal(entry));
        entry.id
    }

    /// Where the balances of `accounts` are, for a step that will post to
    /// them after a sleep to name them before it (0 for a shared account).
    pub fn places<const N: usize>(&self, accounts: [Account; N]) -> [usize; N] {
        let balances = self.lock();
        accounts.map(|a| balances.place(&a))
    }

    pub fn balance(&self, account: Account) -> i64 {
        self.lock().get(&account).copied().unwrap_or(0)
    }

    /// End-of-run read of every balance, in a stable order.
    pub fn read_balances(&self) {
        // Already in account order; collected first so the observer runs
        // without the lock.
        let all: Vec<(Account, i64)> = self.lock().iter().map(|(a, b)| (a, *b)).collect();
        for (account, minor) in all {
            self.observer.audit(AuditRecord::Balance {
                account,
                currency: self.currency,
                minor,
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AccountMap<i64>> {
        self.balances.locked()
    }
}

/// For unit tests of the components that post: an observer keeping the
/// journal entries, in order.
#[cfg(test)]
pub mod testing {
    use std::sync::Mutex;

    use crate::domain::audit::{Account, AuditRecord, JournalEntry, Observer};
    use crate::domain::history::HistoryEvent;
    use crate::lock::Locked;

    #[derive(Default)]
    pub struct Journal(pub Mutex<Vec<JournalEntry>>);

    impl Observer for Journal {
        fn audit(&self, record: AuditRecord) {
            if let AuditRecord::Journal(e) = record {
                self.0.locked().push(e);
            }
        }
        fn history(&self, _: HistoryEvent) {}
    }

    impl Journal {
        /// An account's balance over the journal.
        pub fn balance(&self, account: Account) -> i64 {
            let entries = self.0.locked();
            entries.iter().map(|e| e.amount_to(|a| *a == account)).sum()
        }
    }
}
