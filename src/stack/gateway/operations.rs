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
use crate::stack::issuer::{DebitRail, IssuerMsg};

use super::downstream::{Pending, Route, Then};
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
        self.payments
            .locked()
            .update(&payment, |rec| {
                if rec.merchant != merchant {
                    return Err(ApiError::NotFound);
                }
                if rec.busy {
                    return Err(ApiError::InFlight);
                }
                check(rec)?;
                rec.busy = true;
                Ok(*rec)
            })
            .unwrap_or(Err(ApiError::NotFound))
    }

    /// Clears the busy mark and applies `update`; returns the new view.
    pub(super) fn commit(
        &self,
        payment: PaymentId,
        update: impl FnOnce(&mut PaymentRecord),
    ) -> PaymentView {
        self.payments
            .locked()
            .update(&payment, |rec| {
                rec.busy = false;
                update(rec);
                rec.view()
            })
            .expect("reserved rows are never removed")
    }

    /// The network (its index) that carried the payment's authorization.
    fn network_of(&self, rec: &PaymentRecord) -> Result<usize, ApiError> {
        let id = rec.network.ok_or(ApiError::InvalidState)?;
        self.down
            .networks
            .iter()
            .position(|n| n.id() == id)
            .ok_or(ApiError::InvalidState)
    }

    /// The route of a message about an authorized card payment.
    fn card_route(&self, rec: &PaymentRecord) -> Result<Route, ApiError> {
        match (self.network_of(rec), rec.issuer) {
            (Ok(network), Some(issuer)) => Ok(Route::Card { network, issuer }),
            _ => Err(ApiError::InvalidState),
        }
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
        let route = match self.card_route(&rec) {
            Ok(route) => route,
            Err(e) => {
                return self
                    .complete_capture(merchant, payment, amount_minor, Err(e))
                    .await
            }
        };
        self.dispatch(Pending {
            merchant,
            key,
            payment,
            route,
            msg: IssuerMsg::Capture {
                payment,
                amount_minor,
                key,
            },
            then: Then::Capture { amount_minor },
        })
        .await
    }

    /// Records how a capture ended.
    pub(super) async fn complete_capture(
        &self,
        merchant: MerchantId,
        payment: PaymentId,
        amount_minor: i64,
        result: Result<(), ApiError>,
    ) -> Result<ApiReply, ApiError> {
        let mut rec = None;
        let view = self.commit(payment, |r| {
            match result {
                Ok(()) => {
                    r.status = Status::Captured;
                    r.captured_minor = amount_minor;
                }
                // The hold expired while we were asking: the payment is void.
                Err(ApiError::InvalidState) => r.status = Status::Voided,
                Err(_) => {}
            }
            rec = Some(*r);
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
        let rec = rec.expect("set by commit");
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
        let route = match self.card_route(&rec) {
            Ok(route) => route,
            Err(e) => return self.complete_void(payment, Err(e)).await,
        };
        self.dispatch(Pending {
            merchant,
            key,
            payment,
            route,
            msg: IssuerMsg::Release { payment, key },
            then: Then::Void,
        })
        .await
    }

    /// Records how a void ended: released now or expired meanwhile, the
    /// payment is void either way, and the merchant hears of it once (the
    /// expiry sweep skipped it while it was busy).
    pub(super) async fn complete_void(
        &self,
        payment: PaymentId,
        result: Result<(), ApiError>,
    ) -> Result<ApiReply, ApiError> {
        let mut rec = None;
        let view = self.commit(payment, |r| {
            r.status = Status::Voided;
            rec = Some(*r);
        });
        let rec = rec.expect("set by commit");
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
        let rec = self
            .payments
            .locked()
            .update(&payment, |rec| {
                if rec.merchant != merchant {
                    return Err(ApiError::NotFound);
                }
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
                Ok(*rec)
            })
            .unwrap_or(Err(ApiError::NotFound))?;
        let refund = RefundId(self.next_refund.fetch_add(1, Ordering::Relaxed));
        let route = match (self.card_route(&rec), rec.issuer) {
            (Ok(route), _) => route,
            (_, Some(bank)) => Route::Bank(bank),
            _ => {
                self.release_refund_reservation(payment, amount_minor);
                return Err(ApiError::InvalidState);
            }
        };
        self.dispatch(Pending {
            merchant,
            key,
            payment,
            route,
            msg: IssuerMsg::Refund {
                payment,
                refund,
                customer: rec.customer,
                amount_minor,
                key,
            },
            then: Then::Refund {
                refund,
                amount_minor,
            },
        })
        .await
    }

    /// Gives back a refund's reservation when the refund did not happen.
    pub(super) fn release_refund_reservation(&self, payment: PaymentId, amount_minor: i64) {
        if self.sabotage.has(Sabotage::RefundRace) {
            return;
        }
        self.payments.locked().update(&payment, |r| {
            r.refund_reserved_minor = (r.refund_reserved_minor - amount_minor).max(0);
        });
    }

    /// Records a refund the issuer credited.
    pub(super) async fn complete_refund(
        &self,
        payment: PaymentId,
        refund: RefundId,
        amount_minor: i64,
    ) -> Result<ApiReply, ApiError> {
        let racy = self.sabotage.has(Sabotage::RefundRace);
        let (view, rec) = self
            .payments
            .locked()
            .update(&payment, |r| {
                if !racy {
                    r.refund_reserved_minor = (r.refund_reserved_minor - amount_minor).max(0);
                }
                r.refunded_minor += amount_minor;
                if r.refunded_minor >= r.captured_minor {
                    r.status = Status::Refunded;
                }
                (r.view(), *r)
            })
            .expect("payments are never removed");
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
            let changed = self
                .payments
                .locked()
                .update(payment, |r| {
                    // A capture in flight will find the hold gone and void it.
                    (r.status == Status::Authorized && !r.busy).then(|| {
                        r.status = Status::Voided;
                        (r.merchant, r.view())
                    })
                })
                .flatten();
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
            let rec = self.payments.locked().get(&t.payment);
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
