//! Creating a payment, rail by rail.

use std::sync::atomic::Ordering;

use crate::domain::audit::{AuditRecord, EventKind, SettlementLineKind};
use crate::domain::{
    ApiError, ApiReply, CaptureMode, CreateParams, DeclineReason, IdemKey, IssuerId, Method,
    PaymentId, Rail, Status,
};
use crate::lock::Locked;
use crate::stack::acquirer::PendingLine;
use crate::stack::issuer::{AuthRequest, Debit};
use crate::stack::tokens::DetokenizeError;
use crate::stack::transfer::QueuedTransfer;

use super::fraud::FraudVerdict;
use super::payments::PaymentRecord;
use super::Gateway;

/// How a rail answered.
struct Outcome {
    status: Status,
    decline: Option<DeclineReason>,
    rail: Option<Rail>,
    issuer: Option<IssuerId>,
}

impl Outcome {
    fn declined(reason: DeclineReason) -> Outcome {
        Outcome {
            status: Status::Declined,
            decline: Some(reason),
            rail: None,
            issuer: None,
        }
    }
}

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
        let bank = self.down.customer_bank.get(&params.customer).copied();
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

        let outcome = match (params.method, bank) {
            (Method::CardOnline | Method::CardNfc, _) => self.authorize_card(id, params, key).await,
            (_, None) => Outcome::declined(DeclineReason::UnknownAccount),
            (Method::QrWallet | Method::BankInstant, Some(bank)) => {
                let issuer = &self.down.issuers[usize::from(bank.0)];
                let debit = Debit {
                    payment: id,
                    customer: params.customer,
                    amount_minor: params.amount.minor,
                    key,
                };
                let (r, rail) = if params.method == Method::QrWallet {
                    (self.down.qr.pay(issuer, debit).await, Rail::Qr)
                } else {
                    (
                        self.down.bank.instant(issuer, debit).await,
                        Rail::BankInstant,
                    )
                };
                direct_outcome(r, rail, bank)
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
                    Err(_) => Outcome {
                        status: Status::Failed,
                        decline: None,
                        rail: None,
                        issuer: None,
                    },
                }
            }
        };
        let view = {
            let mut payments = self.payments.locked();
            let rec = payments.get_mut(&id).expect("row inserted above");
            rec.status = outcome.status;
            rec.decline = outcome.decline;
            rec.rail = outcome.rail;
            rec.issuer = outcome.issuer;
            if let Some(Rail::Card(n)) = outcome.rail {
                rec.network = Some(n);
            }
            if outcome.status == Status::Captured {
                rec.captured_minor = params.amount.minor;
            }
            rec.view()
        };
        if let Some(reason) = outcome.decline {
            *self.stats.locked().declines.entry(reason).or_default() += 1;
        }
        if let (Status::Captured, Some(rail)) = (outcome.status, outcome.rail) {
            self.record_settlement(&capture_line(params, id, rail, outcome.issuer));
        }
        let kind = match outcome.status {
            Status::Authorized => EventKind::PaymentAuthorized,
            Status::Captured => EventKind::PaymentSucceeded,
            Status::Processing => EventKind::PaymentProcessing,
            Status::Failed => EventKind::PaymentFailed,
            _ => EventKind::PaymentDeclined,
        };
        self.down.webhooks.emit(params.merchant, &view, kind).await;
        if outcome.status != Status::Processing {
            self.fire_callback(id, params.callback, outcome.status);
        }
        Ok(ApiReply {
            payment: view,
            refund: None,
            replayed: false,
        })
    }

    async fn authorize_card(
        &self,
        id: PaymentId,
        params: CreateParams,
        key: Option<IdemKey>,
    ) -> Outcome {
        let Some((token, device)) = params.token else {
            return Outcome::declined(DeclineReason::UnknownAccount);
        };
        let pan = match self.down.tokens.detokenize(token, device).await {
            Ok(pan) => pan,
            Err(DetokenizeError::DeviceMismatch) => {
                return Outcome::declined(DeclineReason::TokenDeviceMismatch)
            }
            Err(DetokenizeError::UnknownToken) => {
                return Outcome::declined(DeclineReason::UnknownAccount)
            }
        };
        let now = self.clock.now_us();
        if self.fraud.screen(params.customer, params.amount.minor, now) != FraudVerdict::Pass {
            return Outcome::declined(DeclineReason::SuspectedFraud);
        }
        let Some(network) = self.down.networks.iter().find(|n| n.serves(pan)) else {
            return Outcome::declined(DeclineReason::UnknownAccount);
        };
        let capture = params.capture == CaptureMode::Automatic;
        let (issuer, decision) = network
            .authorize(
                pan,
                AuthRequest {
                    payment: id,
                    customer: params.customer,
                    amount_minor: params.amount.minor,
                    key,
                    capture,
                },
            )
            .await;
        match decision {
            Ok(()) => Outcome {
                status: if capture {
                    Status::Captured
                } else {
                    Status::Authorized
                },
                decline: None,
                rail: Some(Rail::Card(network.id())),
                issuer,
            },
            Err(reason) => Outcome::declined(reason),
        }
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

fn direct_outcome(r: Result<(), DeclineReason>, rail: Rail, bank: IssuerId) -> Outcome {
    match r {
        Ok(()) => Outcome {
            status: Status::Captured,
            decline: None,
            rail: Some(rail),
            issuer: Some(bank),
        },
        Err(reason) => Outcome::declined(reason),
    }
}

fn capture_line(
    params: CreateParams,
    id: PaymentId,
    rail: Rail,
    issuer: Option<IssuerId>,
) -> PendingLine {
    PendingLine {
        merchant: params.merchant,
        payment: id,
        rail,
        issuer,
        kind: SettlementLineKind::Capture,
        amount_minor: params.amount.minor,
    }
}
