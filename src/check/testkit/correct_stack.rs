//! What a correct stack does for each request: the payment rows it keeps and
//! the journal entries and audit records it posts, with no client history.
//! Separate from the client calls so a test can run a step of the stack
//! without a request (an expiry, a batch run) or plant a wrong one.

use crate::domain::audit::{Account, AuditRecord, EntryKind, SettlementLineKind};
use crate::domain::{CaptureMode, CreateParams, IdemKey, Method, PaymentId, RefundId, Status};

use super::{clearing_of, rail_of, Row, Scenario, Unsettled, ISSUER};

impl Scenario {
    /// A new payment id, its row announced as the stack announces it.
    fn insert_payment(&mut self, key: Option<IdemKey>, p: &CreateParams) -> PaymentId {
        let id = self.new_payment_id();
        self.audit(AuditRecord::PaymentCreated {
            payment: id,
            merchant: p.merchant,
            key,
            params_fingerprint: p.fingerprint(),
            amount: p.amount,
            method: p.method,
        });
        id
    }

    /// Inserts the payment row and posts what creating it moves.
    pub(in crate::check) fn execute_create(
        &mut self,
        key: Option<IdemKey>,
        p: &CreateParams,
    ) -> PaymentId {
        let id = self.insert_payment(key, p);
        let a = p.amount.minor;
        let c = p.customer;
        let mut row = Row {
            merchant: p.merchant,
            customer: c,
            method: p.method,
            amount: a,
            status: Status::Captured,
            held: 0,
            captured: 0,
            refunded: 0,
        };
        match p.method {
            Method::CardOnline | Method::CardNfc => {
                self.post(
                    EntryKind::Hold,
                    Some(id),
                    None,
                    key,
                    None,
                    &[
                        (Account::CustomerAvailable(c), -a),
                        (Account::CustomerHold(c), a),
                    ],
                );
                row.held = a;
                row.status = Status::Authorized;
            }
            Method::QrWallet | Method::BankInstant => {
                self.post(
                    EntryKind::Debit,
                    Some(id),
                    None,
                    key,
                    None,
                    &[
                        (Account::CustomerAvailable(c), -a),
                        (clearing_of(p.method), a),
                    ],
                );
                row.captured = a;
                self.unsettled.push(Unsettled {
                    merchant: p.merchant,
                    payment: id,
                    rail: rail_of(p.method),
                    kind: SettlementLineKind::Capture,
                    amount: a,
                });
            }
            Method::BankBatch => row.status = Status::Processing,
        }
        self.rows.insert(id, row);
        if p.method.is_card() && p.capture == CaptureMode::Automatic {
            self.execute_capture(id, key, a);
        }
        id
    }

    /// Inserts a declined payment row (no money moves).
    pub(in crate::check) fn execute_decline(
        &mut self,
        key: Option<IdemKey>,
        p: &CreateParams,
    ) -> PaymentId {
        let id = self.insert_payment(key, p);
        self.rows.insert(
            id,
            Row {
                merchant: p.merchant,
                customer: p.customer,
                method: p.method,
                amount: p.amount.minor,
                status: Status::Declined,
                held: 0,
                captured: 0,
                refunded: 0,
            },
        );
        id
    }

    pub(in crate::check) fn execute_capture(
        &mut self,
        p: PaymentId,
        key: Option<IdemKey>,
        amount: i64,
    ) {
        let row = self.rows[&p];
        let c = row.customer;
        let mut legs = vec![
            (Account::CustomerHold(c), -row.held),
            (Account::IssuerSettlement(ISSUER), amount),
        ];
        // The unused part of the hold returns to available; capturing more
        // than the hold (a bug) takes the difference from available.
        if amount != row.held {
            legs.push((Account::CustomerAvailable(c), row.held - amount));
        }
        self.post(EntryKind::HoldCapture, Some(p), None, key, None, &legs);
        let row = self.rows.get_mut(&p).unwrap();
        row.held = 0;
        row.captured += amount;
        row.status = Status::Captured;
        self.unsettled.push(Unsettled {
            merchant: row.merchant,
            payment: p,
            rail: rail_of(row.method),
            kind: SettlementLineKind::Capture,
            amount,
        });
    }

    /// Releases the hold: a void (with its key) or an expiry (key `None`).
    pub(in crate::check) fn execute_release(&mut self, p: PaymentId, key: Option<IdemKey>) {
        let row = self.rows[&p];
        let c = row.customer;
        self.post(
            EntryKind::HoldRelease,
            Some(p),
            None,
            key,
            None,
            &[
                (Account::CustomerHold(c), -row.held),
                (Account::CustomerAvailable(c), row.held),
            ],
        );
        let row = self.rows.get_mut(&p).unwrap();
        row.held = 0;
        row.status = Status::Voided;
    }

    /// The batch rail ran: the debit happened (`succeeded`) or bounced.
    pub(in crate::check) fn execute_bank_batch(
        &mut self,
        p: PaymentId,
        key: Option<IdemKey>,
        succeeded: bool,
    ) {
        let row = self.rows[&p];
        if succeeded {
            self.post(
                EntryKind::Debit,
                Some(p),
                None,
                key,
                None,
                &[
                    (Account::CustomerAvailable(row.customer), -row.amount),
                    (clearing_of(row.method), row.amount),
                ],
            );
            self.unsettled.push(Unsettled {
                merchant: row.merchant,
                payment: p,
                rail: rail_of(row.method),
                kind: SettlementLineKind::Capture,
                amount: row.amount,
            });
        }
        let row = self.rows.get_mut(&p).unwrap();
        if succeeded {
            row.captured = row.amount;
            row.status = Status::Captured;
        } else {
            row.status = Status::Failed;
        }
    }

    pub(in crate::check) fn execute_refund(
        &mut self,
        p: PaymentId,
        key: Option<IdemKey>,
        amount: i64,
    ) -> RefundId {
        let r = RefundId(self.next_refund);
        self.next_refund += 1;
        let row = self.rows[&p];
        self.post(
            EntryKind::Refund,
            Some(p),
            Some(r),
            key,
            None,
            &[
                (Account::AcquirerClearing, -amount),
                (Account::CustomerAvailable(row.customer), amount),
            ],
        );
        let row = self.rows.get_mut(&p).unwrap();
        row.refunded += amount;
        if row.refunded >= row.captured {
            row.status = Status::Refunded;
        }
        self.unsettled.push(Unsettled {
            merchant: row.merchant,
            payment: p,
            rail: rail_of(row.method),
            kind: SettlementLineKind::Refund,
            amount,
        });
        r
    }
}
