//! Operations on an existing payment (capture, void, refund) and the
//! background events that change one (hold expiry, the bank batch window).
//!
//! Each operation first checks and reserves under the table lock, then talks
//! to the network, then commits under the lock again: the reservation is what
//! makes two concurrent operations on one payment safe.

use std::sync::atomic::Ordering;

use crate::domain::audit::BankRailKind;
use crate::domain::audit::{EventKind, SettlementLineKind};
use crate::domain::{
    ApiError, ApiReply, IdemKey, MerchantId, PaymentId, PaymentView, Rail, RefundId, Status,
};
use crate::lock::Locked;
use crate::stack::acquirer::PendingLine;
use crate::stack::issuer::{DebitRail, HoldError};

use super::payments::PaymentRecord;
use super::Gateway;
use crate::stack::sabotage::Sabotage;

impl Gateway {
    /// Checks the row under the lock and marks it busy; the closure decides
    /// whether the operation may proceed.
    fn reserve(
        &self,
        merchant: MerchantId,
        payment: PaymentId,
        check: impl FnOnce(&PaymentRecord) -> Result<(), ApiError>,
    ) -> Result<PaymentRecord, ApiError> {
        let mut payments = self.payments.locked();
        let rec = payments
            .get_mut(&payment)
            .filter(|r| r.merchant == merchant)
            .ok_or(ApiError::NotFound)?;
        if rec.busy {
            return Err(ApiError::InFlight);
        }
        check(rec)?;
        rec.busy = true;
        Ok(*rec)
    }

    /// Clears the busy mark and applies `update`; returns the new view.
    fn commit(&self, payment: PaymentId, update: impl FnOnce(&mut PaymentRecord)) -> PaymentView {
        let mut payments = self.payments.locked();
        let rec = payments
            .get_mut(&payment)
            .expect("reserved rows are never removed");
        rec.busy = false;
        update(rec);
        rec.view()
    }

    fn network_of(&self, rec: &PaymentRecord) -> Result<&crate::stack::network::Network, ApiError> {
        let id = rec.network.ok_or(ApiError::InvalidState)?;
        self.down
            .networks
            .iter()
            .find(|n| n.id() == id)
            .map(|n| n.as_ref())
            .ok_or(ApiError::InvalidState)
    }

    pub(super) async fn capture(
        &self,
        merchant: MerchantId,
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) -> Result<ApiReply, ApiError> {
        let rec = self.reserve(merchant, payment, |r| {
            if r.status != Status::Authorized {
                Err(ApiError::InvalidState)
            } else if amount_minor <= 0 {
                Err(ApiError::InvalidRequest)
            } else if amount_minor > r.amount.minor {
                Err(ApiError::AmountTooLarge)
            } else {
                Ok(())
            }
        })?;
        let result = match (self.network_of(&rec), rec.issuer) {
            (Ok(network), Some(issuer)) => network
                .capture(issuer, payment, amount_minor, key)
                .await
                .map_err(|e| match e {
                    HoldError::NoHold => ApiError::InvalidState,
                    HoldError::AboveHold => ApiError::AmountTooLarge,
                }),
            _ => Err(ApiError::InvalidState),
        };
        let view = self.commit(payment, |r| match result {
            Ok(()) => {
                r.status = Status::Captured;
                r.captured_minor = amount_minor;
            }
            // The hold expired while we were asking: the payment is void.
            Err(ApiError::InvalidState) => r.status = Status::Voided,
            Err(_) => {}
        });
        if result == Err(ApiError::InvalidState) {
            // The expiry sweep skipped this payment while we held it, so the
            // merchant hears of the void from us.
            self.down
                .webhooks
                .emit(merchant, &view, EventKind::PaymentVoided)
                .await;
        }
        result?;
        self.settle_and_notify(
            &rec,
            Some((SettlementLineKind::Capture, amount_minor)),
            view,
            EventKind::PaymentCaptured,
            None,
        )
        .await
    }

    /// The common end of an operation that changed a payment: queue its
    /// settlement line (if it moved money), tell the merchant, reply.
    async fn settle_and_notify(
        &self,
        rec: &PaymentRecord,
        line: Option<(SettlementLineKind, i64)>,
        view: PaymentView,
        event: EventKind,
        refund: Option<RefundId>,
    ) -> Result<ApiReply, ApiError> {
        if let Some((kind, amount_minor)) = line {
            // Captured payments always know their rail (set when they were
            // authorized or debited).
            debug_assert!(rec.rail.is_some());
            if let Some(rail) = rec.rail {
                self.record_settlement(&PendingLine {
                    merchant: rec.merchant,
                    payment: rec.id,
                    rail,
                    issuer: rec.issuer,
                    kind,
                    amount_minor,
                });
            }
        }
        self.down.webhooks.emit(rec.merchant, &view, event).await;
        Ok(ApiReply {
            payment: view,
            refund,
            replayed: false,
        })
    }

    pub(super) async fn void(
        &self,
        merchant: MerchantId,
        payment: PaymentId,
        key: Option<IdemKey>,
    ) -> Result<ApiReply, ApiError> {
        let rec = self.reserve(merchant, payment, |r| {
            if r.status == Status::Authorized {
                Ok(())
            } else {
                Err(ApiError::InvalidState)
            }
        })?;
        let result = match (self.network_of(&rec), rec.issuer) {
            (Ok(network), Some(issuer)) => network
                .release(issuer, payment, key)
                .await
                .map_err(|_| ApiError::InvalidState),
            _ => Err(ApiError::InvalidState),
        };
        // Released now or expired meanwhile: void either way, and the
        // merchant hears of it once (the expiry sweep skipped it while busy).
        let view = self.commit(payment, |r| r.status = Status::Voided);
        let reply = self
            .settle_and_notify(&rec, None, view, EventKind::PaymentVoided, None)
            .await;
        result.and(reply)
    }

    pub(super) async fn refund(
        &self,
        merchant: MerchantId,
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) -> Result<ApiReply, ApiError> {
        let racy = self.sabotage.has(Sabotage::RefundRace);
        let rec = {
            let mut payments = self.payments.locked();
            let rec = payments
                .get_mut(&payment)
                .filter(|r| r.merchant == merchant)
                .ok_or(ApiError::NotFound)?;
            if rec.status != Status::Captured {
                return Err(ApiError::InvalidState);
            }
            if amount_minor <= 0 {
                return Err(ApiError::InvalidRequest);
            }
            if amount_minor > rec.refundable_minor() {
                return Err(ApiError::AmountTooLarge);
            }
            if !racy {
                rec.refund_reserved_minor += amount_minor;
            }
            *rec
        };
        let refund = RefundId(self.next_refund.fetch_add(1, Ordering::Relaxed));
        let bank = rec.issuer.map(|i| &self.down.issuers[usize::from(i.0)]);
        match (self.network_of(&rec), rec.issuer, bank) {
            (Ok(network), Some(issuer), _) => {
                network
                    .refund(issuer, payment, refund, rec.customer, amount_minor, key)
                    .await
            }
            (_, _, Some(bank)) => {
                bank.refund(payment, refund, rec.customer, amount_minor, key)
                    .await
            }
            _ => return Err(ApiError::InvalidState),
        }
        let view = {
            let mut payments = self.payments.locked();
            let r = payments
                .get_mut(&payment)
                .expect("payments are never removed");
            if !racy {
                r.refund_reserved_minor -= amount_minor;
            }
            r.refunded_minor += amount_minor;
            if r.refunded_minor >= r.captured_minor {
                r.status = Status::Refunded;
            }
            r.view()
        };
        self.settle_and_notify(
            &rec,
            Some((SettlementLineKind::Refund, amount_minor)),
            view,
            EventKind::PaymentRefunded,
            Some(refund),
        )
        .await
    }

    /// The issuers released these holds at expiry: the payments are void.
    pub async fn on_holds_expired(&self, expired: &[PaymentId]) {
        for payment in expired {
            let changed = {
                let mut payments = self.payments.locked();
                match payments.get_mut(payment) {
                    // A capture in flight will find the hold gone and void it.
                    Some(r) if r.status == Status::Authorized && !r.busy => {
                        r.status = Status::Voided;
                        Some((r.merchant, r.view()))
                    }
                    _ => None,
                }
            };
            if let Some((merchant, view)) = changed {
                self.stats.locked().holds_expired += 1;
                self.down
                    .webhooks
                    .emit(merchant, &view, EventKind::PaymentVoided)
                    .await;
            }
        }
    }

    /// Runs one window of the batch bank rail: every queued transfer is
    /// debited (or bounced), and its payment completes.
    pub async fn run_bank_batch(&self) -> usize {
        let batch = self.down.bank.take_batch();
        if batch.is_empty() {
            return 0;
        }
        self.stats.locked().bank_batches += 1;
        for t in &batch {
            let rec = self.payments.locked().get(&t.payment).copied();
            let Some(rec) = rec else { continue };
            let bank = rec.issuer.map(|i| &self.down.issuers[usize::from(i.0)]);
            let result = match bank {
                Some(bank) => bank.debit_now(
                    t.payment,
                    t.customer,
                    t.amount_minor,
                    t.key,
                    DebitRail::Bank(BankRailKind::Batch),
                ),
                None => Err(crate::domain::DeclineReason::UnknownAccount),
            };
            let view = self.commit(t.payment, |r| match result {
                Ok(()) => {
                    r.status = Status::Captured;
                    r.captured_minor = t.amount_minor;
                }
                Err(reason) => {
                    r.status = Status::Failed;
                    r.decline = Some(reason);
                }
            });
            let kind = if result.is_ok() {
                self.record_settlement(&PendingLine {
                    merchant: rec.merchant,
                    payment: t.payment,
                    rail: Rail::BankBatch,
                    issuer: rec.issuer,
                    kind: SettlementLineKind::Capture,
                    amount_minor: t.amount_minor,
                });
                EventKind::PaymentSucceeded
            } else {
                EventKind::PaymentFailed
            };
            self.down.webhooks.emit(rec.merchant, &view, kind).await;
            self.fire_callback(t.payment, rec.callback, view.status);
        }
        batch.len()
    }
}
