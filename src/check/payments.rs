//! Per-payment state shared by the lifecycle (7-9) and settlement (10)
//! invariants: what the payment table, the journal and the settlement report
//! each say about one payment, folded into one compact record.
//!
//! Amounts come from the legs, never from the entry's kind alone, so a stack
//! that posts the wrong amount is judged on the money it actually moved:
//! - authorized: into `CustomerHold` by a Hold, or the amount of a Debit;
//! - captured: into `IssuerSettlement` by a HoldCapture, or a Debit;
//! - refunded: into `CustomerAvailable` by a Refund.

use crate::domain::audit::{Account, EntryKind, JournalEntry, SettlementLine, SettlementLineKind};
use crate::domain::{BatchId, EntryId, PaymentId};

use super::keys::Target;
use super::tally::Tally;
use crate::packed::{narrow_i, narrow_u, Bits, DenseMap, Pack};

/// One payment as the three sources see it. Stored packed (see
/// [`PackedPayment`]): a Black Friday holds millions of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct PaymentState {
    /// From the payment table's insert; meaningful only if `created`.
    pub created_amount: i64,
    pub authorized: i64,
    pub captured: i64,
    pub refunded: i64,
    pub capture_line_sum: i64,
    pub refund_line_sum: i64,
    /// From the payment table's end-of-run row; meaningful only if `finals > 0`.
    pub final_captured: i64,
    pub final_refunded: i64,
    pub first_hold: EntryId,
    /// The first two resolving entries (HoldCapture or HoldRelease).
    pub resolved_by: [EntryId; 2],
    /// Batches of the first two capture lines.
    pub capture_batches: [BatchId; 2],
    pub holds: u16,
    pub resolves: u16,
    pub capture_lines: u16,
    pub negative_lines: u16,
    pub finals: u16,
    pub created: bool,
    pub in_journal: bool,
}

impl PaymentState {
    fn new() -> PaymentState {
        PaymentState {
            created_amount: 0,
            authorized: 0,
            captured: 0,
            refunded: 0,
            capture_line_sum: 0,
            refund_line_sum: 0,
            final_captured: 0,
            final_refunded: 0,
            first_hold: EntryId(0),
            resolved_by: [EntryId(0); 2],
            capture_batches: [BatchId(0); 2],
            holds: 0,
            resolves: 0,
            capture_lines: 0,
            negative_lines: 0,
            finals: 0,
            created: false,
            in_journal: false,
        }
    }
}

/// A [`PaymentState`] whose amounts fit in 32 bits, whose ids fit in 32 bits,
/// whose second resolving entry and second capture batch are unset (a
/// correct payment has at most one of each) and whose final row's amounts
/// are either unset (0) or equal to the ledger's, as they are at the end of
/// a correct run.
#[derive(Clone, Copy)]
pub(super) struct PackedPayment {
    /// Created, authorized, captured, refunded, capture lines, refund lines.
    amounts: [i32; 6],
    first_hold: u32,
    resolved_by: u32,
    capture_batch: u32,
    /// Bit 0 spilled, 1 created, 2 in_journal, then 4-bit counts: holds at 4,
    /// resolves at 8, capture lines at 12, negative lines at 16, finals at 20;
    /// bit 24 (25): the final row's captured (refunded) amount equals the
    /// ledger's, else it is 0.
    bits: Bits,
}

const COUNT_BITS: u32 = 4;
const COUNT_SHIFTS: [u32; 5] = [4, 8, 12, 16, 20];

impl Pack for PaymentState {
    type Packed = PackedPayment;
    const SPILLED: PackedPayment = PackedPayment {
        amounts: [0; 6],
        first_hold: 0,
        resolved_by: 0,
        capture_batch: 0,
        bits: Bits(1),
    };

    fn is_spilled(p: &PackedPayment) -> bool {
        p.bits.flag(0)
    }

    fn pack(&self) -> Option<PackedPayment> {
        let mut amounts = [0; 6];
        for (slot, v) in amounts.iter_mut().zip(self.amounts()) {
            *slot = narrow_i(v)?;
        }
        let mut bits = Bits(0);
        bits.put(1, 1, u32::from(self.created))?;
        bits.put(2, 1, u32::from(self.in_journal))?;
        bits.put(24, 1, u32::from(self.final_captured == self.captured))?;
        bits.put(25, 1, u32::from(self.final_refunded == self.refunded))?;
        for (shift, n) in COUNT_SHIFTS.into_iter().zip(self.counts()) {
            bits.put(shift, COUNT_BITS, u32::from(n))?;
        }
        Some(PackedPayment {
            amounts,
            first_hold: narrow_u(self.first_hold.0)?,
            resolved_by: narrow_u(self.resolved_by[0].0)?,
            capture_batch: self.capture_batches[0].0,
            bits,
        })
    }

    fn unpack(p: &PackedPayment) -> PaymentState {
        let a = p.amounts.map(i64::from);
        let n = COUNT_SHIFTS.map(|s| p.bits.get(s, COUNT_BITS) as u16);
        let final_of = |bit, ledger| if p.bits.flag(bit) { ledger } else { 0 };
        PaymentState {
            created_amount: a[0],
            authorized: a[1],
            captured: a[2],
            refunded: a[3],
            capture_line_sum: a[4],
            refund_line_sum: a[5],
            final_captured: final_of(24, a[2]),
            final_refunded: final_of(25, a[3]),
            first_hold: EntryId(u64::from(p.first_hold)),
            resolved_by: [EntryId(u64::from(p.resolved_by)), EntryId(0)],
            capture_batches: [BatchId(p.capture_batch), BatchId(0)],
            holds: n[0],
            resolves: n[1],
            capture_lines: n[2],
            negative_lines: n[3],
            finals: n[4],
            created: p.bits.flag(1),
            in_journal: p.bits.flag(2),
        }
    }
}

impl PaymentState {
    fn amounts(&self) -> [i64; 6] {
        [
            self.created_amount,
            self.authorized,
            self.captured,
            self.refunded,
            self.capture_line_sum,
            self.refund_line_sum,
        ]
    }

    fn counts(&self) -> [u16; 5] {
        [
            self.holds,
            self.resolves,
            self.capture_lines,
            self.negative_lines,
            self.finals,
        ]
    }
}

/// Sort key of a lifecycle counterexample: payments first, then entries that
/// could not be attributed to a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Subject {
    Payment(PaymentId),
    Entry(EntryId),
}

#[derive(Default)]
pub(super) struct Payments {
    pub map: DenseMap<PaymentId, PaymentState>,
    /// Payment entries (hold, capture, release, debit, refund) that name no
    /// payment, or a refund that names no refund: judged under invariant 7.
    pub malformed: Tally<Subject>,
}

impl Payments {
    /// Room for payment ids below `n` up front (see `CheckConfig`).
    pub(super) fn with_capacity(n: usize) -> Payments {
        Payments {
            map: DenseMap::with_capacity(n),
            ..Payments::default()
        }
    }

    fn update<R>(&mut self, p: PaymentId, f: impl FnOnce(&mut PaymentState) -> R) -> R {
        self.map.update(p, PaymentState::new, f)
    }

    pub(super) fn created(&mut self, p: PaymentId, amount_minor: i64) {
        self.update(p, |st| {
            if !st.created {
                st.created = true;
                st.created_amount = amount_minor;
            }
        })
    }

    pub(super) fn final_row(&mut self, p: PaymentId, captured_minor: i64, refunded_minor: i64) {
        self.update(p, |st| {
            st.final_captured = captured_minor;
            st.final_refunded = refunded_minor;
            st.finals = st.finals.saturating_add(1);
        })
    }

    /// Folds a journal entry into its payment; returns what it acted on, for
    /// counting the effects of its idempotency key.
    pub(super) fn post(&mut self, e: &JournalEntry) -> Option<Target> {
        let kind = e.kind;
        match kind {
            EntryKind::Opening | EntryKind::SettlementClearing | EntryKind::SettlementDeposit => {
                return None
            }
            EntryKind::Hold
            | EntryKind::HoldCapture
            | EntryKind::HoldRelease
            | EntryKind::Debit
            | EntryKind::Refund => {}
        }
        let Some(p) = e.payment else {
            let id = e.id;
            self.malformed.add(Subject::Entry(id), || {
                format!("{id} ({kind:?}) names no payment")
            });
            return None;
        };
        let id = e.id;
        let (target, no_refund) = self.update(p, |st| fold_entry(st, e));
        if no_refund {
            self.malformed.add(Subject::Entry(id), || {
                format!("{id} (Refund) of {p} names no refund")
            });
        }
        Some(target.unwrap_or(Target::Payment(p)))
    }

    pub(super) fn line(&mut self, l: &SettlementLine) {
        self.update(l.payment, |st| {
            if l.amount_minor < 0 {
                st.negative_lines = st.negative_lines.saturating_add(1);
            }
            match l.kind {
                SettlementLineKind::Capture => {
                    if let Some(slot) = st.capture_batches.get_mut(usize::from(st.capture_lines)) {
                        *slot = l.batch;
                    }
                    st.capture_lines = st.capture_lines.saturating_add(1);
                    st.capture_line_sum += l.amount_minor;
                }
                SettlementLineKind::Refund => st.refund_line_sum += l.amount_minor,
            }
        })
    }
}

/// Folds a payment entry (hold, capture, release, debit or refund) into its
/// payment; returns the refund it acted on, if any, and whether it is a
/// refund that names no refund.
fn fold_entry(st: &mut PaymentState, e: &JournalEntry) -> (Option<Target>, bool) {
    let id = e.id;
    st.in_journal = true;
    match e.kind {
        EntryKind::Hold => {
            st.authorized += e.amount_to(|a| matches!(a, Account::CustomerHold(_)));
            if st.holds == 0 {
                st.first_hold = id;
            }
            st.holds = st.holds.saturating_add(1);
        }
        EntryKind::HoldCapture => {
            st.captured += e.amount_to(|a| matches!(a, Account::IssuerSettlement(_)));
            resolve(st, id);
        }
        EntryKind::HoldRelease => resolve(st, id),
        EntryKind::Debit => {
            let a = e.amount_to(|a| matches!(a, Account::QrClearing | Account::BankClearing(_)));
            st.authorized += a;
            st.captured += a;
        }
        EntryKind::Refund => {
            st.refunded += e.amount_to(|a| matches!(a, Account::CustomerAvailable(_)));
            return match e.refund {
                Some(r) => (Some(Target::Refund(r)), false),
                None => (None, true),
            };
        }
        EntryKind::Opening | EntryKind::SettlementClearing | EntryKind::SettlementDeposit => {
            unreachable!("filtered by Payments::post")
        }
    }
    (None, false)
}

fn resolve(st: &mut PaymentState, id: EntryId) {
    if let Some(slot) = st.resolved_by.get_mut(usize::from(st.resolves)) {
        *slot = id;
    }
    st.resolves = st.resolves.saturating_add(1);
}
