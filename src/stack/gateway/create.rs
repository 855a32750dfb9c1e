//! Creating a payment, rail by rail: the card path (vault, fraud screen,
//! network, issuer), the QR wallet, the instant bank rail, and the batch
//! rail's queue.

use std::sync::atomic::Ordering;

use crate::domain::audit::{AuditRecord, EventKind, SettlementLineKind};
use crate::domain::{
    ApiError, ApiReply, CaptureMode, CreateParams, DeclineReason, IdemKey, Method, PaymentId, Rail,
    Status,
};
use crate::lock::Locked;
use crate::stack::acquirer::PendingLine;
use crate::stack::issuer::{AuthRequest, Debit, DebitRail, IssuerMsg};
use crate::stack::tokens::DetokenizeError;
use crate::stack::transfer::QueuedTransfer;

use super::downstream::{Outcome, Pending, Route, Then};
use super::fraud::FraudVerdict;
use super::payments::PaymentRecord;
use super::Gateway;

impl Gateway {
    /// Executes a create. `id` is preallocated for keyless requests (the dedup
    /// window remembers it before execution starts).
    pub(super) async fn create(
        &self,
        params: CreateParams,
        key: Option<IdemKey>,
        id: Option<PaymentId>,
    ) -> Result<ApiReply, ApiError> {
        if params.amount.minor <= 0
            || (params.method.is_card() && params.token.is_none())
            || params.merchant.0 >= self.down.merchants
        {
            return Err(ApiError::InvalidRequest);
        }
        if params.method == Method::BankBatch {
            // Refuse before creating anything if the batch queue is full.
            if self.down.bank.batch_full() {
                return Err(ApiError::Unavailable);
            }
        }
        let id = id.unwrap_or_else(|| PaymentId(self.next_payment.fetch_add(1, Ordering::Relaxed)));
        self.payments.locked().insert(
            id,
            PaymentRecord {
                id,
                merchant: params.merchant,
                customer: params.customer,
                amount: params.amount,
                method: params.method,
                key,
                rail: None,
                issuer: None,
                network: None,
                status: Status::Processing,
                captured_minor: 0,
                refunded_minor: 0,
                refund_reserved_minor: 0,
                decline: None,
                callback: params.callback,
                busy: false,
            },
        );
        self.observer.audit(AuditRecord::PaymentCreated {
            payment: id,
            merchant: params.merchant,
            key,
            params_fingerprint: params.fingerprint(),
            amount: params.amount,
            method: params.method,
        });
        let pending = |route, msg| Pending {
            merchant: params.merchant,
            key,
            payment: id,
            route,
            msg,
            then: Then::Create { params },
        };
        let debit = Debit {
            payment: id,
            customer: params.customer,
            amount_minor: params.amount.minor,
            key,
        };
        // The customer's bank, for the rails that debit it directly (a card
        // is routed by its number; asking for it there was a cache miss for
        // nothing).
        let bank = match params.method {
            Method::CardOnline | Method::CardNfc => None,
            _ => self.down.customer_bank.get(params.customer).copied(),
        };
        let outcome = match (params.method, bank) {
            (Method::CardOnline | Method::CardNfc, _) => {
                match self.route_card(id, params, key).await {
                    Ok(p) => return self.dispatch(p).await,
                    Err(outcome) => outcome,
                }
            }
            (_, None) => Outcome::declined(DeclineReason::UnknownAccount),
            (Method::QrWallet, Some(bank)) => {
                return self
                    .dispatch(pending(
                        Route::Qr(bank),
                        IssuerMsg::Debit(debit, DebitRail::Qr),
                    ))
                    .await
            }
            (Method::BankInstant, Some(bank)) => {
                let rail = DebitRail::Bank(crate::domain::audit::BankRailKind::Instant);
                return self
                    .dispatch(pending(
                        Route::BankInstant(bank),
                        IssuerMsg::Debit(debit, rail),
                    ))
                    .await;
            }
            (Method::BankBatch, Some(bank)) => {
                let queued = self.down.bank.enqueue_batch(QueuedTransfer {
                    payment: id,
                    customer: params.customer,
                    amount_minor: params.amount.minor,
                    key,
                });
                match queued {
                    Ok(()) => Outcome {
                        status: Status::Processing,
                        decline: None,
                        rail: Some(Rail::BankBatch),
                        issuer: Some(bank),
                    },
                    // Lost the race for the last slot: nothing happened.
                    Err(_) => Outcome::failed(),
                }
            }
        };
        self.complete_create(id, outcome).await
    }

    /// The card path up to the network: the vault maps the token back to the
    /// card (refusing another device's), the fraud screen runs, and the
    /// card's first digit picks the network. Either the authorization to
    /// send, or why the payment ends here.
    async fn route_card(
        &self,
        id: PaymentId,
        params: CreateParams,
        key: Option<IdemKey>,
    ) -> Result<Pending, Outcome> {
        let Some((token, device)) = params.token else {
            return Err(Outcome::declined(DeclineReason::UnknownAccount));
        };
        // The fraud screen reads the card's entry right after the vault's
        // answer: the vault names it with its own before its sleep.
        let screened =
            crate::stack::component::Component::hint_line(|| self.fraud.place(params.customer));
        let pan = match (self.down.tokens)
            .detokenize_then(token, device, screened)
            .await
        {
            Ok(Ok(pan)) => pan,
            Ok(Err(DetokenizeError::DeviceMismatch)) => {
                return Err(Outcome::declined(DeclineReason::TokenDeviceMismatch))
            }
            Ok(Err(DetokenizeError::UnknownToken)) => {
                return Err(Outcome::declined(DeclineReason::UnknownAccount))
            }
            // The vault did not answer: a read, so nothing happened anywhere.
            Err(_) => return Err(Outcome::failed()),
        };
        let now = self.clock.now_us();
        if self.fraud.screen(params.customer, params.amount.minor, now) != FraudVerdict::Pass {
            return Err(Outcome::declined(DeclineReason::SuspectedFraud));
        }
        let Some(network) = self.down.networks.iter().position(|n| n.serves(pan)) else {
            return Err(Outcome::declined(DeclineReason::UnknownAccount));
        };
        Ok(Pending {
            merchant: params.merchant,
            key,
            payment: id,
            route: Route::CardAuth { network, pan },
            msg: IssuerMsg::Auth(AuthRequest {
                payment: id,
                customer: params.customer,
                amount_minor: params.amount.minor,
                key,
                capture: params.capture == CaptureMode::Automatic,
            }),
            then: Then::Create { params },
        })
    }

    /// Records how a create ended: the row, the decline count, the
    /// settlement line of a capture, the webhook and the callback.
    pub(super) async fn complete_create(
        &self,
        id: PaymentId,
        outcome: Outcome,
    ) -> Result<ApiReply, ApiError> {
        let (view, rec) = self
            .payments
            .locked()
            .update(&id, |rec| {
                rec.status = outcome.status;
                rec.decline = outcome.decline;
                rec.rail = outcome.rail;
                rec.issuer = outcome.issuer;
                if let Some(Rail::Card(n)) = outcome.rail {
                    rec.network = Some(n);
                }
                if outcome.status == Status::Captured {
                    rec.captured_minor = rec.amount.minor;
                }
                (rec.view(), *rec)
            })
            .expect("row inserted by create");
        if let Some(reason) = outcome.decline {
            *self.stats.locked().declines.entry(reason).or_default() += 1;
        }
        if let (Status::Captured, Some(rail)) = (outcome.status, outcome.rail) {
            self.record_settlement(&PendingLine {
                merchant: rec.merchant,
                payment: id,
                rail,
                issuer: outcome.issuer,
                kind: SettlementLineKind::Capture,
                amount_minor: rec.amount.minor,
            });
        }
        let kind = match outcome.status {
            Status::Authorized => EventKind::PaymentAuthorized,
            Status::Captured => EventKind::PaymentSucceeded,
            Status::Processing => EventKind::PaymentProcessing,
            Status::Failed => EventKind::PaymentFailed,
            _ => EventKind::PaymentDeclined,
        };
        self.down.webhooks.emit(rec.merchant, &view, kind).await;
        if outcome.status != Status::Processing {
            self.fire_callback(id, rec.callback, outcome.status);
        }
        Ok(ApiReply {
            payment: view,
            refund: None,
            replayed: false,
        })
    }

    pub(super) fn record_settlement(&self, line: &PendingLine) {
        self.down.acquirer.record(*line);
    }

    pub(super) fn fire_callback(&self, payment: PaymentId, requested: bool, status: Status) {
        if requested {
            self.stats.locked().callbacks += 1;
            self.observer
                .audit(AuditRecord::CallbackFired { payment, status });
        }
    }
}
