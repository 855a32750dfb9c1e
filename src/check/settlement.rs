//! Invariants 10-11: settlement, judged on the acquirer's settlement report
//! (one line per capture or refund in a batch) against the ledger.
//!
//! The expected fee is computed here from the contracted [`FeeTable`], per
//! capture line, with the domain's rounding rule — independently of the
//! acquirer's code, so a fee rounded the wrong way shows up as a mismatch.

use crate::domain::audit::{Account, EntryKind, JournalEntry, SettlementLine, SettlementLineKind};
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{BatchId, EntryId, FeeTable, MerchantId};

use super::payments::Payments;
use super::tally::Tally;
use super::verdict::{InvariantResult, SETTLEMENT_DEPOSIT_MATCHES, SETTLEMENT_EACH_CAPTURE_ONCE};

/// What one batch settled for one merchant, from both sides.
#[derive(Default)]
struct BatchMerchant {
    lines: u32,
    capture_sum: i64,
    refund_sum: i64,
    fee_expected: i64,
    deposit_entries: u16,
    first_deposit: EntryId,
    deposit_actual: i64,
    fee_actual: i64,
}

/// Sort key of a deposit counterexample: (batch, merchant), then entries that
/// name no merchant (merchant `None` sorts first within its batch).
type DepositOrder = (Option<BatchId>, Option<MerchantId>, EntryId);

#[derive(Default)]
pub(super) struct Settlement {
    batches: FxHashMap<(BatchId, MerchantId), BatchMerchant>,
    /// Deposit entries that name no batch or pay no merchant.
    orphans: Tally<DepositOrder>,
}

impl Settlement {
    pub(super) fn line(&mut self, l: &SettlementLine, fees: &FeeTable) {
        let bm = self.batches.entry((l.batch, l.merchant)).or_default();
        bm.lines += 1;
        match l.kind {
            SettlementLineKind::Capture => {
                bm.capture_sum += l.amount_minor;
                // A negative line is judged by invariant 10; the fee rule is
                // defined for amounts >= 0 only.
                bm.fee_expected += fees.for_rail(l.rail).fee_minor(l.amount_minor.max(0));
            }
            SettlementLineKind::Refund => bm.refund_sum += l.amount_minor,
        }
    }

    pub(super) fn post(&mut self, e: &JournalEntry) {
        if e.kind != EntryKind::SettlementDeposit {
            return;
        }
        let merchant = e.legs().iter().find_map(|l| match l.account {
            Account::Merchant(m) => Some(m),
            _ => None,
        });
        let (Some(batch), Some(merchant)) = (e.batch, merchant) else {
            let (id, batch) = (e.id, e.batch);
            self.orphans.add((batch, None, id), || {
                format!("{id} (SettlementDeposit) names no batch or pays no merchant")
            });
            return;
        };
        let bm = self.batches.entry((batch, merchant)).or_default();
        if bm.deposit_entries == 0 {
            bm.first_deposit = e.id;
        }
        bm.deposit_entries = bm.deposit_entries.saturating_add(1);
        bm.deposit_actual += e.amount_to(|a| *a == Account::Merchant(merchant));
        bm.fee_actual += e.amount_to(|a| *a == Account::Fees);
    }

    /// Invariants 10 and 11, in that order.
    pub(super) fn finish(self, payments: &Payments) -> [InvariantResult; 2] {
        let mut once = Tally::new();
        for (p, ref st) in payments.map.iter() {
            let mut problems = Vec::new();
            if st.captured > 0 {
                match st.capture_lines {
                    0 => problems.push(format!("captured {} but never settled", st.captured)),
                    1 if st.capture_line_sum != st.captured => problems.push(format!(
                        "settled {} in {}, captured {}",
                        st.capture_line_sum, st.capture_batches[0], st.captured
                    )),
                    1 => {}
                    n => problems.push(format!(
                        "capture settled {n} times ({}, {}), expected once",
                        st.capture_batches[0], st.capture_batches[1]
                    )),
                }
            } else if st.capture_lines > 0 {
                problems.push(format!(
                    "{} capture line(s) totalling {} (first in {}) but nothing captured",
                    st.capture_lines, st.capture_line_sum, st.capture_batches[0]
                ));
            }
            if st.refund_line_sum != st.refunded {
                problems.push(format!(
                    "refund lines total {}, the ledger refunded {}",
                    st.refund_line_sum, st.refunded
                ));
            }
            if st.negative_lines > 0 {
                problems.push(format!(
                    "{} line(s) with a negative amount",
                    st.negative_lines
                ));
            }
            if !problems.is_empty() {
                once.add(p, || format!("{p}: {}", problems.join("; ")));
            }
        }

        let mut deposits = self.orphans;
        for (&(batch, merchant), bm) in &self.batches {
            let fee = bm.fee_expected;
            let net = bm.capture_sum - bm.refund_sum - fee;
            let problem = if bm.lines == 0 {
                Some(format!(
                    "deposit {} of {} (fee {}) without any settlement line",
                    bm.first_deposit, bm.deposit_actual, bm.fee_actual
                ))
            } else if bm.deposit_entries == 0 {
                (net != 0 || fee != 0)
                    .then(|| format!("no deposit entry, expected deposit {net} and fee {fee}"))
            } else if bm.deposit_entries > 1 {
                Some(format!(
                    "{} deposit entries (first {}), expected one",
                    bm.deposit_entries, bm.first_deposit
                ))
            } else if bm.deposit_actual != net || bm.fee_actual != fee {
                Some(format!(
                    "{} deposited {} with fee {}, expected deposit {net} and fee {fee} (captures {}, refunds {})",
                    bm.first_deposit, bm.deposit_actual, bm.fee_actual, bm.capture_sum, bm.refund_sum
                ))
            } else {
                None
            };
            if let Some(problem) = problem {
                deposits.add((Some(batch), Some(merchant), EntryId(0)), || {
                    format!("{batch} for {merchant}: {problem}")
                });
            }
        }
        [
            once.result(SETTLEMENT_EACH_CAPTURE_ONCE),
            deposits.result(SETTLEMENT_DEPOSIT_MATCHES),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::verdict::*;
    use crate::domain::audit::{Account, AuditRecord, EntryKind, SettlementLineKind};
    use crate::domain::{BatchId, CaptureMode, MerchantId, Method};

    const M: MerchantId = MerchantId(1);

    #[test]
    fn each_capture_once_passes_when_refunds_settle_in_later_batches() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.card(1, c, 1_000);
        s.settle();
        s.refund(p, 100);
        s.settle();
        s.refund(p, 200);
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// The acquirer's batch cut-off included an already settled capture.
    #[test]
    fn each_capture_once_catches_a_capture_settled_in_two_batches() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.card(1, c, 1_000);
        let first = s.settle();
        s.queue_line(p, SettlementLineKind::Capture, 1_000);
        let second = s.settle();
        let v = s.check();
        // The second batch paid the merchant consistently with its lines, so
        // only the double settlement is wrong.
        assert_failed(&v, &[SETTLEMENT_EACH_CAPTURE_ONCE]);
        assert_eq!(
            example(&v, SETTLEMENT_EACH_CAPTURE_ONCE),
            format!("{p}: capture settled 2 times ({first}, {second}), expected once")
        );
    }

    #[test]
    fn each_capture_once_catches_captures_and_refunds_never_settled() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.card(1, c, 1_000);
        s.settle();
        s.refund(p, 100); // after the last batch
        let (_, q) = s.card(1, c, 500); // likewise
        let v = s.check();
        assert_failed(&v, &[SETTLEMENT_EACH_CAPTURE_ONCE]);
        assert_eq!(violations(&v, SETTLEMENT_EACH_CAPTURE_ONCE), 2);
        assert_eq!(
            example(&v, SETTLEMENT_EACH_CAPTURE_ONCE),
            format!("{p}: refund lines total 0, the ledger refunded 100")
        );
        assert!(p < q);
    }

    #[test]
    fn each_capture_once_catches_a_capture_line_for_a_voided_payment() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        let (_, p) = s.create(M, c, 700, Method::CardOnline, CaptureMode::Manual);
        s.void(p);
        s.queue_line(p, SettlementLineKind::Capture, 700);
        let batch = s.settle();
        let v = s.check();
        assert_failed(&v, &[SETTLEMENT_EACH_CAPTURE_ONCE]);
        assert_eq!(
            example(&v, SETTLEMENT_EACH_CAPTURE_ONCE),
            format!("{p}: 1 capture line(s) totalling 700 (first in {batch}) but nothing captured")
        );
    }

    #[test]
    fn deposit_passes_with_fees_rounded_half_up_across_rails_and_merchants() {
        let mut s = rich_scenario();
        let c = s.customer(9, 100_000);
        // 2.9% of 1550 = 44.95 -> 45; 0.6% of 250 = 1.5 -> 2; 0.2% of 1250 = 2.5 -> 3.
        s.card(1, c, 1_550);
        s.create(M, c, 250, Method::QrWallet, CaptureMode::Automatic);
        s.create(
            MerchantId(2),
            c,
            1_250,
            Method::BankInstant,
            CaptureMode::Automatic,
        );
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// The `fee-rounding-leak` sabotage: the percentage part truncated.
    #[test]
    fn deposit_catches_a_fee_rounded_the_wrong_way() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        s.settle();
        s.card(3, c, 1_550);
        let batch = s.settle_with(|f, amount| f.fee_minor_truncated(amount));
        let v = s.check();
        assert_failed(&v, &[SETTLEMENT_DEPOSIT_MATCHES]);
        let ex = example(&v, SETTLEMENT_DEPOSIT_MATCHES);
        assert!(ex.starts_with(&format!("{batch} for mer_3: je_")), "{ex}");
        assert!(
            ex.ends_with("deposited 1476 with fee 74, expected deposit 1475 and fee 75 (captures 1550, refunds 0)"),
            "{ex}"
        );
    }

    #[test]
    fn deposit_catches_a_deposit_without_lines_and_lines_without_deposit() {
        let mut s = rich_scenario();
        let c = s.customer(9, 10_000);
        // A deposit for a batch that settled nothing for this merchant.
        s.post(
            EntryKind::SettlementDeposit,
            None,
            None,
            None,
            Some(BatchId(50)),
            &[
                (Account::AcquirerClearing, -100),
                (Account::Merchant(MerchantId(4)), 100),
            ],
        );
        // Lines whose deposit was never posted.
        s.card(5, c, 1_000);
        let batch = s.settle();
        let mut recs = s.finish();
        let before = recs.len();
        let mut dropped = None;
        recs.retain(|r| match r {
            Rec::A(AuditRecord::Journal(e))
                if e.kind == EntryKind::SettlementDeposit && e.batch == Some(batch) =>
            {
                dropped = Some(e.amount_to(|a| *a == Account::Merchant(MerchantId(5))));
                false
            }
            _ => true,
        });
        assert_eq!(recs.len(), before - 1);
        // Keep the balances consistent with the journal that remains.
        for r in &mut recs {
            if let Rec::A(AuditRecord::Balance { account, minor, .. }) = r {
                match account {
                    Account::Merchant(MerchantId(5)) => *minor = 0,
                    Account::Fees => *minor -= 59,
                    Account::AcquirerClearing => *minor += dropped.unwrap() + 59,
                    _ => {}
                }
            }
        }
        let v = run(&recs);
        assert_failed(&v, &[SETTLEMENT_DEPOSIT_MATCHES]);
        assert_eq!(violations(&v, SETTLEMENT_DEPOSIT_MATCHES), 2);
        assert_eq!(
            example(&v, SETTLEMENT_DEPOSIT_MATCHES),
            format!("{batch} for mer_5: no deposit entry, expected deposit 941 and fee 59")
        );
    }
}
