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
use crate::domain::fingerprint::FxHashMap;
use crate::domain::{BatchId, EntryId, PaymentId};

use super::keys::Target;
use super::tally::Tally;

/// One payment as the three sources see it. Kept small (about 110 bytes): a
/// Black Friday holds millions of these.
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

/// Sort key of a lifecycle counterexample: payments first, then entries that
/// could not be attributed to a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Subject {
    Payment(PaymentId),
    Entry(EntryId),
}

#[derive(Default)]
pub(super) struct Payments {
    pub map: FxHashMap<PaymentId, PaymentState>,
    /// Payment entries (hold, capture, release, debit, refund) that name no
    /// payment, or a refund that names no refund: judged under invariant 7.
    pub malformed: Tally<Subject>,
}

impl Payments {
    fn state(&mut self, p: PaymentId) -> &mut PaymentState {
        self.map.entry(p).or_insert_with(PaymentState::new)
    }

    pub(super) fn created(&mut self, p: PaymentId, amount_minor: i64) {
        let st = self.state(p);
        if !st.created {
            st.created = true;
            st.created_amount = amount_minor;
        }
    }

    pub(super) fn final_row(&mut self, p: PaymentId, captured_minor: i64, refunded_minor: i64) {
        let st = self.state(p);
        st.final_captured = captured_minor;
        st.final_refunded = refunded_minor;
        st.finals = st.finals.saturating_add(1);
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
        let st = self.state(p);
        st.in_journal = true;
        let mut target = Target::Payment(p);
        match kind {
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
                let a =
                    e.amount_to(|a| matches!(a, Account::QrClearing | Account::BankClearing(_)));
                st.authorized += a;
                st.captured += a;
            }
            EntryKind::Refund => {
                st.refunded += e.amount_to(|a| matches!(a, Account::CustomerAvailable(_)));
                match e.refund {
                    Some(r) => target = Target::Refund(r),
                    None => self.malformed.add(Subject::Entry(id), || {
                        format!("{id} (Refund) of {p} names no refund")
                    }),
                }
            }
            _ => unreachable!("filtered above"),
        }
        Some(target)
    }

    pub(super) fn line(&mut self, l: &SettlementLine) {
        let st = self.state(l.payment);
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
    }
}

fn resolve(st: &mut PaymentState, id: EntryId) {
    if let Some(slot) = st.resolved_by.get_mut(usize::from(st.resolves)) {
        *slot = id;
    }
    st.resolves = st.resolves.saturating_add(1);
}
