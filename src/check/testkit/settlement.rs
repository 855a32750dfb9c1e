//! Settlement batches: the lines queued by captures and refunds, settled with
//! the contracted fees or with a planted fee rule.

use std::collections::BTreeMap;

use crate::domain::audit::{Account, AuditRecord, EntryKind, SettlementLine, SettlementLineKind};
use crate::domain::{BatchId, FeeSchedule, MerchantId, PaymentId};

use super::{clearing_of, rail_of, Scenario, Unsettled};

impl Scenario {
    /// Queues a settlement line for the next batch, as a capture or refund
    /// does (for planting a line settled twice).
    pub(in crate::check) fn queue_line(
        &mut self,
        p: PaymentId,
        kind: SettlementLineKind,
        amount: i64,
    ) {
        let row = self.rows[&p];
        self.unsettled.push(Unsettled {
            merchant: row.merchant,
            payment: p,
            rail: rail_of(row.method),
            kind,
            amount,
        });
    }

    /// Settles everything captured or refunded since the last batch, with the
    /// contracted fees.
    pub(in crate::check) fn settle(&mut self) -> BatchId {
        self.settle_with(|s, amount| s.fee_minor(amount))
    }

    /// Settles with `fee` as the acquirer's fee rule (for planting bugs).
    pub(in crate::check) fn settle_with(
        &mut self,
        fee: impl Fn(&FeeSchedule, i64) -> i64,
    ) -> BatchId {
        let batch = BatchId(self.next_batch);
        self.next_batch += 1;
        let lines = std::mem::take(&mut self.unsettled);
        // (net, fee) per merchant, in merchant order.
        let mut per_merchant: BTreeMap<MerchantId, (i64, i64)> = BTreeMap::new();
        for u in &lines {
            self.audit(AuditRecord::Settlement(SettlementLine {
                batch,
                merchant: u.merchant,
                payment: u.payment,
                rail: u.rail,
                kind: u.kind,
                amount_minor: u.amount,
            }));
            let m = per_merchant.entry(u.merchant).or_default();
            match u.kind {
                SettlementLineKind::Capture => {
                    let from = clearing_of(self.rows[&u.payment].method);
                    self.post(
                        EntryKind::SettlementClearing,
                        None,
                        None,
                        None,
                        Some(batch),
                        &[(from, -u.amount), (Account::AcquirerClearing, u.amount)],
                    );
                    m.0 += u.amount;
                    m.1 += fee(&self.fees.for_rail(u.rail), u.amount);
                }
                SettlementLineKind::Refund => m.0 -= u.amount,
            }
        }
        for (merchant, (gross, fee)) in per_merchant {
            self.post(
                EntryKind::SettlementDeposit,
                None,
                None,
                None,
                Some(batch),
                &[
                    (Account::AcquirerClearing, -gross),
                    (Account::Merchant(merchant), gross - fee),
                    (Account::Fees, fee),
                ],
            );
        }
        batch
    }
}
