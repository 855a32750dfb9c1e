//! Invariants 4-6: double entry, judged on the journal and the end-of-run
//! balances.
//!
//! Balances are recomputed from the journal in posting order (the one ordering
//! the checker relies on), so the running minimum of each account is the real
//! low-water mark, not an end-of-run approximation. Nothing of the journal is
//! kept but one small record per account.

use crate::domain::audit::{Account, JournalEntry};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{Currency, EntryId};

use super::tally::Tally;
use super::verdict::{
    InvariantResult, LEDGER_ACCOUNT_LIMITS, LEDGER_ENTRIES_BALANCE, LEDGER_MONEY_CONSERVED,
};
use crate::packed::{narrow_i, narrow_u, Bits, Pack, PackedAccounts, PackedMap};

#[derive(Clone, Copy, PartialEq, Eq)]
struct AccountState {
    /// Recomputed from the journal.
    balance: i64,
    /// Lowest running balance after any entry, and the entry that reached it.
    min: i64,
    min_at: EntryId,
    in_journal: bool,
    floor: Option<i64>,
    /// The end-of-run read of the balance.
    reported: Option<i64>,
    reports: u16,
}

impl AccountState {
    fn new() -> AccountState {
        AccountState {
            balance: 0,
            min: i64::MAX,
            min_at: EntryId(0),
            in_journal: false,
            floor: None,
            reported: None,
            reports: 0,
        }
    }
}

/// An [`AccountState`] whose amounts and entry id fit in 32 bits and whose
/// reported balance, if any, equals the journal's.
#[derive(Clone, Copy)]
struct PackedAccount {
    balance: i32,
    /// Meaningful only when in the journal (else the minimum is `i64::MAX`).
    min: i32,
    min_at: u32,
    floor: i32,
    /// Bit 0 spilled, 1 in_journal, 2 has a floor, 3 reported (the reported
    /// balance equals `balance`, as at the end of a correct run), 4-7 reports.
    bits: Bits,
}

impl Pack for AccountState {
    type Packed = PackedAccount;
    const SPILLED: PackedAccount = PackedAccount {
        balance: 0,
        min: 0,
        min_at: 0,
        floor: 0,
        bits: Bits(1),
    };

    fn is_spilled(p: &PackedAccount) -> bool {
        p.bits.flag(0)
    }

    fn pack(&self) -> Option<PackedAccount> {
        let mut bits = Bits(0);
        bits.put(1, 1, u32::from(self.in_journal))?;
        bits.put(2, 1, u32::from(self.floor.is_some()))?;
        bits.put(3, 1, u32::from(self.reported == Some(self.balance)))?;
        bits.put(4, 4, u32::from(self.reports))?;
        Some(PackedAccount {
            balance: narrow_i(self.balance)?,
            min: if self.in_journal {
                narrow_i(self.min)?
            } else {
                0
            },
            min_at: narrow_u(self.min_at.0)?,
            floor: narrow_i(self.floor.unwrap_or(0))?,
            bits,
        })
    }

    fn unpack(p: &PackedAccount) -> AccountState {
        let b = p.bits;
        AccountState {
            balance: i64::from(p.balance),
            min: if b.flag(1) {
                i64::from(p.min)
            } else {
                i64::MAX
            },
            min_at: EntryId(u64::from(p.min_at)),
            in_journal: b.flag(1),
            floor: b.flag(2).then_some(i64::from(p.floor)),
            reported: b.flag(3).then_some(i64::from(p.balance)),
            reports: b.get(4, 4) as u16,
        }
    }
}

/// Sort key of an invariant-5 counterexample: per-currency totals first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MoneyOrder {
    Currency(Currency),
    Account(Account, Currency),
}

#[derive(Default)]
pub(super) struct Ledger {
    /// The currency of the first record seen: a run's ledger keeps one.
    home: Option<Currency>,
    /// Accounts in the home currency, by account.
    accounts: PackedAccounts<AccountState>,
    /// Accounts in any other currency (none unless the stack posts in two).
    foreign: PackedMap<(Account, Currency), AccountState>,
    /// Sum of the end-of-run Balance records per currency (a handful of entries).
    reported_total: FxHashMap<Currency, i128>,
    unbalanced: Tally<EntryId>,
}

impl Ledger {
    /// Asks for the slots of the accounts an entry (or record) names ahead
    /// of it (the home currency's: any other is rare).
    pub(super) fn ask_for(&self, accounts: impl IntoIterator<Item = Account>) {
        for account in accounts {
            self.accounts.ask_for(&account);
        }
    }

    pub(super) fn open(&mut self, account: Account, currency: Currency, floor: Option<i64>) {
        self.update(account, currency, |st| st.floor = floor);
    }

    pub(super) fn balance(&mut self, account: Account, currency: Currency, minor: i64) {
        self.update(account, currency, |st| {
            st.reported = Some(minor);
            st.reports = st.reports.saturating_add(1);
        });
        *self.reported_total.entry(currency).or_insert(0) += i128::from(minor);
    }

    /// Applies one entry. Legs on the same account are netted first, so an
    /// entry is judged as the atomic posting it is.
    pub(super) fn post(&mut self, e: &JournalEntry) {
        let legs = e.legs();
        let imbalance: i128 = legs.iter().map(|l| i128::from(l.minor)).sum();
        if imbalance != 0 {
            let e = *e;
            self.unbalanced.add(e.id, || {
                let legs: Vec<String> = e
                    .legs()
                    .iter()
                    .map(|l| format!("{:?} {:+}", l.account, l.minor))
                    .collect();
                let subject = e.payment.map_or(String::new(), |p| format!(", {p}"));
                format!(
                    "{} ({:?}{subject}): legs sum to {imbalance} {}, expected 0 [{}]",
                    e.id,
                    e.kind,
                    e.currency,
                    legs.join(", ")
                )
            });
        }
        for (i, leg) in legs.iter().enumerate() {
            if legs[..i].iter().any(|l| l.account == leg.account) {
                continue; // already netted with an earlier leg on this account
            }
            let net = legs[i..]
                .iter()
                .filter(|l| l.account == leg.account)
                .fold(0i64, |acc, l| acc.saturating_add(l.minor));
            self.update(leg.account, e.currency, |st| {
                st.in_journal = true;
                st.balance = st.balance.saturating_add(net);
                if st.balance < st.min {
                    st.min = st.balance;
                    st.min_at = e.id;
                }
            });
        }
    }

    fn update(&mut self, account: Account, currency: Currency, f: impl FnOnce(&mut AccountState)) {
        if currency == *self.home.get_or_insert(currency) {
            self.accounts.update(account, AccountState::new, f)
        } else {
            self.foreign
                .update((account, currency), AccountState::new, f)
        }
    }

    /// Invariants 4, 5 and 6, in that order.
    pub(super) fn finish(self) -> [InvariantResult; 3] {
        let balance = self.unbalanced.result(LEDGER_ENTRIES_BALANCE);

        let mut conserved = Tally::new();
        for (&currency, &total) in &self.reported_total {
            if total != 0 {
                conserved.add(MoneyOrder::Currency(currency), || {
                    format!("{currency}: end-of-run balances sum to {total}, expected 0")
                });
            }
        }
        let mut limits = Tally::new();
        let home = self.home;
        let accounts = (self.accounts.iter())
            .filter_map(|(a, st)| Some(((a, home?), st)))
            .chain(self.foreign.iter());
        for ((account, currency), ref st) in accounts {
            let problem = match (st.in_journal, st.reported) {
                _ if st.reports > 1 => Some(format!("{} Balance records", st.reports)),
                (true, None) => Some(format!(
                    "in the journal (balance {}) but no Balance record",
                    st.balance
                )),
                (false, Some(r)) if r != 0 => {
                    Some(format!("Balance record {r} but no journal entry"))
                }
                (true, Some(r)) if r != st.balance => Some(format!(
                    "reported balance {r}, the journal gives {}",
                    st.balance
                )),
                _ => None,
            };
            if let Some(problem) = problem {
                conserved.add(MoneyOrder::Account(account, currency), || {
                    format!("{account:?} {currency}: {problem}")
                });
            }
            if let Some(floor) = st.floor {
                if st.in_journal && st.min < floor {
                    limits.add((account, currency), || {
                        format!(
                            "{account:?} {currency}: fell to {} after {}, floor {floor}",
                            st.min, st.min_at
                        )
                    });
                }
            }
        }
        [
            balance,
            conserved.result(LEDGER_MONEY_CONSERVED),
            limits.result(LEDGER_ACCOUNT_LIMITS),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::verdict::*;
    use crate::domain::audit::{Account, AuditRecord, EntryKind};
    use crate::domain::{CaptureMode, CustomerId, MerchantId, Method};

    /// Was 80 bytes per account (64 of state), then 32 in a hash table
    /// (plus its empty buckets); a customer's or merchant's slot in the
    /// dense vectors is 24.
    #[test]
    fn an_account_takes_24_bytes() {
        assert!(std::mem::size_of::<Option<super::PackedAccount>>() <= 24);
    }

    #[test]
    fn accounts_with_outsized_balances_spill() {
        use super::{AccountState, PackedAccounts};
        let mut m: PackedAccounts<AccountState> = PackedAccounts::default();
        let mut big = AccountState::new();
        big.balance = -(1 << 40);
        big.min = big.balance;
        big.in_journal = true;
        big.reported = Some(0);
        big.reports = 2;
        let customer = Account::CustomerHold(CustomerId(4));
        for a in [Account::External, customer] {
            m.update(a, AccountState::new, |s| *s = big);
        }
        let mut small = AccountState::new();
        small.floor = Some(-50_000);
        small.reported = Some(0);
        small.reports = 1;
        m.update(Account::Fees, AccountState::new, |s| *s = small);
        assert_eq!(m.spilled(), 2);
        let all: Vec<(Account, AccountState)> = m.iter().collect();
        assert!(
            all == vec![
                (Account::External, big),
                (customer, big),
                (Account::Fees, small)
            ]
        );
        // A spilled account stays in the side map, and updates there.
        m.update(customer, AccountState::new, |s| *s = small);
        assert_eq!(m.spilled(), 2);
        assert!(m.iter().nth(1) == Some((customer, small)));
    }

    #[test]
    fn balance_passes_on_multi_leg_entries_and_same_account_legs() {
        let mut s = rich_scenario();
        let c = s.customer(9, 1_000);
        // A partial capture posts three legs.
        let (_, p) = s.create(
            MerchantId(1),
            c,
            1_000,
            Method::CardOnline,
            CaptureMode::Manual,
        );
        s.capture(p, 400);
        s.create(
            MerchantId(1),
            c,
            600,
            Method::QrWallet,
            CaptureMode::Automatic,
        );
        // The customer is at exactly 0: legs on one account are netted as one
        // posting, so -5 then +5 never dips below the floor.
        s.post(
            EntryKind::SettlementClearing,
            None,
            None,
            None,
            None,
            &[
                (Account::CustomerAvailable(c), -5),
                (Account::CustomerAvailable(c), 5),
                (Account::AcquirerClearing, 0),
            ],
        );
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    #[test]
    fn balance_catches_an_entry_with_an_unbalanced_leg() {
        let mut s = rich_scenario();
        let c = CustomerId(9);
        let id = s.post(
            EntryKind::Opening,
            None,
            None,
            None,
            None,
            &[
                (Account::External, -1_000),
                (Account::CustomerAvailable(c), 1_001),
            ],
        );
        let v = s.check();
        // Money appeared from nowhere, so the end-of-run total is off too.
        assert_failed(&v, &[LEDGER_ENTRIES_BALANCE, LEDGER_MONEY_CONSERVED]);
        assert_eq!(
            example(&v, LEDGER_ENTRIES_BALANCE),
            format!("{id} (Opening): legs sum to 1 USD, expected 0 [External -1000, CustomerAvailable(cus_9) +1001]")
        );
        assert_eq!(
            example(&v, LEDGER_MONEY_CONSERVED),
            "USD: end-of-run balances sum to 1, expected 0"
        );
    }

    #[test]
    fn conservation_passes_on_zero_balances_reported_or_not() {
        let mut s = rich_scenario();
        let c = s.customer(9, 500);
        let (_, p) = s.create(
            MerchantId(1),
            c,
            500,
            Method::CardOnline,
            CaptureMode::Manual,
        );
        s.void(p);
        let mut recs = s.finish();
        // An account never in the journal may be reported at zero.
        recs.push(Rec::A(AuditRecord::Balance {
            account: Account::Merchant(MerchantId(77)),
            currency: USD,
            minor: 0,
        }));
        let v = run(&recs);
        assert!(v.all_passed(), "{v:#?}");
    }

    #[test]
    fn conservation_catches_a_balance_that_disagrees_with_the_journal() {
        let s = rich_scenario();
        let mut recs = s.finish();
        // Move 10 between two reported balances: the total still sums to zero,
        // but neither account matches its journal.
        for r in &mut recs {
            if let Rec::A(AuditRecord::Balance { account, minor, .. }) = r {
                match account {
                    Account::Fees => *minor += 10,
                    Account::Merchant(MerchantId(1)) => *minor -= 10,
                    _ => {}
                }
            }
        }
        let v = run(&recs);
        assert_failed(&v, &[LEDGER_MONEY_CONSERVED]);
        assert_eq!(violations(&v, LEDGER_MONEY_CONSERVED), 2);
        let ex = example(&v, LEDGER_MONEY_CONSERVED);
        assert!(
            ex.starts_with("Merchant(mer_1) USD: reported balance"),
            "{ex}"
        );
    }

    #[test]
    fn conservation_catches_a_journal_account_without_a_balance_record() {
        let mut recs = rich_scenario().finish();
        recs.retain(|r| {
            !matches!(
                r,
                Rec::A(AuditRecord::Balance {
                    account: Account::Fees,
                    ..
                })
            )
        });
        let v = run(&recs);
        assert_failed(&v, &[LEDGER_MONEY_CONSERVED]);
        // The total is off as well: two violations, the currency sorts first.
        assert_eq!(violations(&v, LEDGER_MONEY_CONSERVED), 2);
        assert!(
            example(&v, LEDGER_MONEY_CONSERVED).starts_with("USD: end-of-run balances sum to -")
        );
    }

    #[test]
    fn limits_pass_when_a_customer_spends_down_to_exactly_zero() {
        let mut s = rich_scenario();
        let c = s.customer(9, 1_000);
        s.create(
            MerchantId(1),
            c,
            600,
            Method::QrWallet,
            CaptureMode::Automatic,
        );
        s.create(
            MerchantId(1),
            c,
            400,
            Method::BankInstant,
            CaptureMode::Automatic,
        );
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// The issuer skipped its balance check: a debit overdrew the customer.
    /// The final balance is back above zero, so only the running minimum
    /// catches it.
    #[test]
    fn limits_catch_an_account_overdrawn_in_between() {
        let mut s = rich_scenario();
        let c = s.customer(9, 1_000);
        s.create(
            MerchantId(1),
            c,
            600,
            Method::QrWallet,
            CaptureMode::Automatic,
        );
        let (_, p) = s.create(
            MerchantId(1),
            c,
            450,
            Method::QrWallet,
            CaptureMode::Automatic,
        );
        let overdraft = crate::domain::EntryId(
            s.recs
                .iter()
                .filter(|r| matches!(r, Rec::A(AuditRecord::Journal(_))))
                .count() as u64,
        );
        s.refund(p, 450);
        s.settle();
        let v = s.check();
        assert_failed(&v, &[LEDGER_ACCOUNT_LIMITS]);
        assert_eq!(
            example(&v, LEDGER_ACCOUNT_LIMITS),
            format!("CustomerAvailable(cus_9) USD: fell to -50 after {overdraft}, floor 0")
        );
    }
}
