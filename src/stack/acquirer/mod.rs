//! The acquirer: collects the day's captures and refunds, closes a settlement
//! batch on an interval, pulls the money through the clearing accounts of each
//! rail, and deposits each merchant's net minus fees.
//!
//! Per batch and merchant: deposit = captures - refunds - fees, where the fee
//! is charged per capture by the contract in [`FeeTable`] (percentage rounded
//! half up, plus a fixed part) and refunds return no fee.
//!
//! Layout: this file settles; `pending.rs` keeps the lines between batches.

mod pending;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::domain::audit::{
    Account, AuditRecord, BankRailKind, EntryKind, Observer, SettlementLine, SettlementLineKind,
};
use crate::domain::{BatchId, FeeTable, IssuerId, MerchantId, NetworkId, PaymentId, Rail};
use crate::lock::Locked;

use super::ledger::Ledger;
use super::sabotage::{Sabotage, Sabotages};
use pending::PendingLines;

/// A capture or refund waiting for the next batch.
#[derive(Clone, Copy, Debug)]
pub struct PendingLine {
    pub merchant: MerchantId,
    pub payment: PaymentId,
    pub rail: Rail,
    /// The card issuer, for pulling card captures through the network.
    pub issuer: Option<IssuerId>,
    pub kind: SettlementLineKind,
    pub amount_minor: i64,
}

pub struct Acquirer {
    fees: FeeTable,
    ledger: Arc<Ledger>,
    observer: Arc<dyn Observer>,
    sabotage: Sabotages,
    pending: Mutex<PendingLines>,
    next_batch: AtomicU32,
    deposited_minor: AtomicU64,
}

#[derive(Default)]
struct MerchantTotals {
    captures: i64,
    refunds: i64,
    fee: i64,
    fee_booked: i64,
}

impl Acquirer {
    pub fn new(
        fees: FeeTable,
        ledger: Arc<Ledger>,
        observer: Arc<dyn Observer>,
        sabotage: Sabotages,
    ) -> Acquirer {
        Acquirer {
            fees,
            ledger,
            observer,
            sabotage,
            pending: Mutex::new(PendingLines::default()),
            next_batch: AtomicU32::new(1),
            deposited_minor: AtomicU64::new(0),
        }
    }

    pub fn record(&self, line: PendingLine) {
        self.pending.locked().push(&line);
    }

    pub fn pending(&self) -> usize {
        self.pending.locked().len()
    }

    pub fn batches_closed(&self) -> u32 {
        self.next_batch.load(Ordering::Relaxed) - 1
    }

    /// Closes a batch with everything pending. Returns the number of lines.
    pub fn settle(&self) -> usize {
        let lines = {
            let mut pending = self.pending.locked();
            if pending.is_empty() {
                return 0;
            }
            let taken = std::mem::take(&mut *pending);
            // Off-by-one cursor: the last line is settled now and again in
            // the next batch.
            if let Some(last) = taken
                .last()
                .filter(|_| self.sabotage.has(Sabotage::DoubleSettle) && taken.len() > 1)
            {
                pending.push(&last);
            }
            taken
        };
        let batch = BatchId(self.next_batch.fetch_add(1, Ordering::Relaxed));

        // Pull each rail's captures into the acquirer's clearing account.
        let mut from_issuers: BTreeMap<(IssuerId, NetworkId), i64> = BTreeMap::new();
        let mut from_rails: BTreeMap<Account, i64> = BTreeMap::new();
        let mut merchants: BTreeMap<MerchantId, MerchantTotals> = BTreeMap::new();
        for line in lines.iter() {
            self.observer.audit(AuditRecord::Settlement(SettlementLine {
                batch,
                merchant: line.merchant,
                payment: line.payment,
                rail: line.rail,
                kind: line.kind,
                amount_minor: line.amount_minor,
            }));
            let totals = merchants.entry(line.merchant).or_default();
            match line.kind {
                SettlementLineKind::Refund => totals.refunds += line.amount_minor,
                SettlementLineKind::Capture => {
                    totals.captures += line.amount_minor;
                    let schedule = self.fees.for_rail(line.rail);
                    totals.fee += schedule.fee_minor(line.amount_minor);
                    totals.fee_booked += if self.sabotage.has(Sabotage::FeeRoundingLeak) {
                        schedule.fee_minor_truncated(line.amount_minor)
                    } else {
                        schedule.fee_minor(line.amount_minor)
                    };
                    let source = match line.rail {
                        Rail::Card(network) => {
                            if let Some(issuer) = line.issuer {
                                *from_issuers.entry((issuer, network)).or_default() +=
                                    line.amount_minor;
                            }
                            Account::NetworkClearing(network)
                        }
                        Rail::Qr => Account::QrClearing,
                        Rail::BankInstant => Account::BankClearing(BankRailKind::Instant),
                        Rail::BankBatch => Account::BankClearing(BankRailKind::Batch),
                    };
                    *from_rails.entry(source).or_default() += line.amount_minor;
                }
            }
        }
        for ((issuer, network), sum) in from_issuers {
            self.ledger.post(
                self.ledger
                    .draft(EntryKind::SettlementClearing)
                    .batch(batch)
                    .leg(Account::IssuerSettlement(issuer), -sum)
                    .leg(Account::NetworkClearing(network), sum),
            );
        }
        for (source, sum) in from_rails {
            self.ledger.post(
                self.ledger
                    .draft(EntryKind::SettlementClearing)
                    .batch(batch)
                    .leg(source, -sum)
                    .leg(Account::AcquirerClearing, sum),
            );
        }
        for (merchant, t) in merchants {
            let net = t.captures - t.refunds;
            let deposit = net - t.fee;
            self.ledger.post(
                self.ledger
                    .draft(EntryKind::SettlementDeposit)
                    .batch(batch)
                    .leg(Account::AcquirerClearing, -net)
                    // Kept at 0: the checker matches a deposit to its
                    // merchant by this leg (captures equal to refunds plus
                    // fees do happen, e.g. a capture of 31 cents).
                    .leg_kept(Account::Merchant(merchant), deposit)
                    .leg(Account::Fees, t.fee_booked),
            );
            self.deposited_minor
                .fetch_add(deposit.max(0) as u64, Ordering::Relaxed);
        }
        lines.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::domain::{Currency, NetworkId};
    use crate::sim::Clock;
    use crate::stack::ledger::testing::Journal;

    #[tokio::test(start_paused = true)]
    async fn a_deposit_of_exactly_zero_still_names_its_merchant() {
        let journal = Arc::new(Journal::default());
        let ledger = Arc::new(Ledger::new(Currency::USD, journal.clone(), Clock::start()));
        let fees = FeeTable::default();
        let acquirer = Acquirer::new(fees, ledger, journal.clone(), Sabotages::NONE);
        // The smallest capture whose card fee (2.9% + 30) eats it whole.
        let amount = (1..1_000)
            .find(|&a| fees.for_rail(Rail::Card(NetworkId(0))).fee_minor(a) == a)
            .expect("some capture equals its fee");
        acquirer.record(PendingLine {
            merchant: MerchantId(7),
            payment: PaymentId(1),
            rail: Rail::Card(NetworkId(0)),
            issuer: Some(IssuerId(0)),
            kind: SettlementLineKind::Capture,
            amount_minor: amount,
        });
        acquirer.settle();
        let entries = journal.0.locked();
        let deposit = entries
            .iter()
            .find(|e| e.kind == EntryKind::SettlementDeposit)
            .expect("a deposit entry");
        assert!(
            deposit
                .legs()
                .iter()
                .any(|l| l.account == Account::Merchant(MerchantId(7)) && l.minor == 0),
            "{deposit:?}"
        );
    }
}
