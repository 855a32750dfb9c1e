//! What a remote client can know: its own history. The book keeps, per
//! idempotency key, the payments its replies named and whether any attempt
//! ended without an answer; per payment, the last state a reply showed.
//! It is fed by the generator's history events, as the checker is in sim
//! mode, and grows with keys and payments, never with raw events.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::history::{Failure, HistoryEvent, HistoryKind, Invocation, ReplySummary};
use crate::domain::{IdemKey, MerchantId, OpId, Operation, PaymentId, Status};
use crate::lock::Locked;

/// One logical request's key, as the server scopes it.
pub type KeyId = (MerchantId, IdemKey);

/// What the replies for one key said.
#[derive(Clone, Debug, Default)]
pub struct KeyRecord {
    /// The first invocation's operation (the one a retry repeats).
    pub op: Option<Operation>,
    /// Every payment a reply for this key named (ok or declined).
    pub payments: Vec<PaymentId>,
    /// A definite answer came back for some attempt.
    pub answered: bool,
    /// Some attempt timed out or was abandoned.
    pub unknown: bool,
    /// The key was refused for other parameters (a deliberate reuse).
    pub mismatched: bool,
}

/// What the last reply naming a payment said.
#[derive(Clone, Copy, Debug)]
pub struct SeenPayment {
    pub merchant: MerchantId,
    pub amount_minor: i64,
    pub status: Status,
}

#[derive(Default)]
pub struct Book {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Invocations waiting for their completion.
    open: BTreeMap<OpId, Invocation>,
    pub keys: BTreeMap<KeyId, KeyRecord>,
    pub payments: BTreeMap<PaymentId, SeenPayment>,
}

impl Observer for Book {
    fn audit(&self, _: AuditRecord) {}

    fn history(&self, event: HistoryEvent) {
        let mut inner = self.inner.locked();
        match event.kind {
            HistoryKind::Invoke(inv) => {
                inner.open.insert(event.op, inv);
                if let Some(key) = inv.key.filter(|_| inv.op.is_mutating()) {
                    let rec = inner.keys.entry((inv.merchant, key)).or_default();
                    rec.op.get_or_insert(inv.op);
                }
            }
            HistoryKind::Ok(reply) => inner.complete(event.op, Some(reply), false, false),
            HistoryKind::Fail(Failure::Declined { reply, .. }) => {
                inner.complete(event.op, Some(reply), false, false)
            }
            HistoryKind::Fail(Failure::Api(e)) => inner.complete(
                event.op,
                None,
                false,
                e == crate::domain::ApiError::IdempotencyMismatch,
            ),
            HistoryKind::Info(_) => inner.complete(event.op, None, true, false),
        }
    }
}

impl Inner {
    fn complete(&mut self, op: OpId, reply: Option<ReplySummary>, unknown: bool, mismatch: bool) {
        let Some(inv) = self.open.remove(&op) else {
            return;
        };
        if let Some(r) = reply {
            self.payments.insert(
                r.payment,
                SeenPayment {
                    merchant: inv.merchant,
                    amount_minor: r.amount_minor,
                    status: r.status,
                },
            );
        }
        let Some(key) = inv.key.filter(|_| inv.op.is_mutating()) else {
            return;
        };
        let rec = self.keys.entry((inv.merchant, key)).or_default();
        if mismatch {
            rec.mismatched = true;
            return;
        }
        rec.unknown |= unknown;
        if let Some(r) = reply {
            rec.answered = true;
            // Captures, voids and refunds name their payment too; only a
            // create's key can name two.
            if !rec.payments.contains(&r.payment) {
                rec.payments.push(r.payment);
            }
        } else if !unknown {
            rec.answered = true;
        }
    }
}

impl Book {
    pub fn keys(&self) -> BTreeMap<KeyId, KeyRecord> {
        self.inner.locked().keys.clone()
    }

    pub fn payments(&self) -> BTreeMap<PaymentId, SeenPayment> {
        self.inner.locked().payments.clone()
    }
}
