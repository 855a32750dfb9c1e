//! The JSON bodies of the HTTP API, shared by the server and the HTTP client
//! transport so the two cannot drift, with the conversions to and from the
//! domain's types. `openapi/paystorm.yaml` describes the same shapes.
//!
//! Amounts are integer minor units with an ISO currency code, as everywhere
//! in paystorm; ids are prefixed strings (see [`ids`]).

pub mod ids;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::domain::api::{ApiReply, WalletPresentation};
use crate::domain::{
    ApiError, CaptureMode, Currency, DeclineReason, Method, Money, PaymentView, Status,
};

/// The largest amount the edge accepts, in minor units (ten billion in a
/// two-decimal currency): far above any payment, far below overflow in the
/// ledger's sums.
pub const AMOUNT_MINOR_MAX: i64 = 1_000_000_000_000;

/// `POST /v1/payments`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// `cus_<n>`: the paying customer.
    pub customer: String,
    /// Minor units, above 0.
    pub amount: i64,
    /// ISO 4217, either case (`usd` as Stripe writes it, or `USD`).
    pub currency: String,
    /// `card_online`, `card_nfc`, `qr_wallet`, `bank_instant`, `bank_batch`.
    pub method: String,
    /// `automatic` (default) or `manual` (authorize now, capture later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_method: Option<String>,
    /// What the customer's wallet presented (card methods only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<CardPresentation>,
    /// A per-request callback when the payment reaches a final state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

/// A device-bound token and the device presenting it. Never a card number.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardPresentation {
    pub token: String,
    pub device: String,
}

/// `POST /v1/payments/{id}/capture`; without an amount, the whole hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapturePayment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_to_capture: Option<i64>,
}

/// `POST /v1/payments/{id}/refunds`; without an amount, all that remains.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
}

/// `POST /v1/payments/{id}/void` takes no parameters (an empty body or `{}`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoidPayment {}

/// A payment as the API shows it (every payment route answers one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub id: String,
    pub object: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub method: String,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    /// Why it was declined (`declined` payments only).
    pub decline_code: Option<String>,
    /// The refund this request created (refund replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<String>,
}

impl Payment {
    pub fn from_reply(reply: &ApiReply) -> Payment {
        let p = &reply.payment;
        Payment {
            id: p.id.to_string(),
            object: "payment".to_string(),
            amount: p.amount.minor,
            currency: p.amount.currency.as_str().to_ascii_lowercase(),
            status: p.status.as_str().to_string(),
            method: p.method.as_str().to_string(),
            amount_captured: p.captured_minor,
            amount_refunded: p.refunded_minor,
            decline_code: p.decline.map(|d| d.as_str().to_string()),
            refund: reply.refund.map(|r| r.to_string()),
        }
    }

    /// Back to the domain's view; `Err` names the first field that does not
    /// parse (a server speaking another version of the API).
    pub fn to_reply(&self, replayed: bool) -> Result<ApiReply, String> {
        PaymentText {
            id: Cow::Borrowed(&self.id),
            object: Cow::Borrowed(&self.object),
            amount: self.amount,
            currency: Cow::Borrowed(&self.currency),
            status: Cow::Borrowed(&self.status),
            method: Cow::Borrowed(&self.method),
            amount_captured: self.amount_captured,
            amount_refunded: self.amount_refunded,
            decline_code: self.decline_code.as_deref().map(Cow::Borrowed),
            refund: self.refund.as_deref().map(Cow::Borrowed),
        }
        .to_reply(replayed)
    }
}

/// [`Payment`] as a client reads it: the text fields borrowed from the
/// answer's bytes (owned only if the JSON escapes something), so reading a
/// reply allocates nothing. The load generator reads one per request, and
/// on a machine it shares with the server its CPU is the server's loss.
#[derive(Clone, Debug, Deserialize)]
pub struct PaymentText<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub object: Cow<'a, str>,
    pub amount: i64,
    #[serde(borrow)]
    pub currency: Cow<'a, str>,
    #[serde(borrow)]
    pub status: Cow<'a, str>,
    #[serde(borrow)]
    pub method: Cow<'a, str>,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    #[serde(borrow)]
    pub decline_code: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub refund: Option<Cow<'a, str>>,
}

impl PaymentText<'_> {
    /// Back to the domain's view; `Err` names the first field that does not
    /// parse (a server speaking another version of the API).
    pub fn to_reply(&self, replayed: bool) -> Result<ApiReply, String> {
        let id = ids::payment_id(&self.id).ok_or_else(|| format!("id `{}`", self.id))?;
        // Either case on the wire; upper-cased on the stack.
        let currency = <[u8; 3]>::try_from(self.currency.as_bytes())
            .ok()
            .map(|code| code.map(|b| b.to_ascii_uppercase()))
            .and_then(|code| Currency::parse(std::str::from_utf8(&code).ok()?))
            .ok_or_else(|| format!("currency `{}`", self.currency))?;
        let status = Status::ALL
            .into_iter()
            .find(|s| s.as_str() == self.status)
            .ok_or_else(|| format!("status `{}`", self.status))?;
        let method = method(&self.method).ok_or_else(|| format!("method `{}`", self.method))?;
        let decline = match &self.decline_code {
            None => None,
            Some(code) => Some(
                DeclineReason::ALL
                    .into_iter()
                    .find(|d| d.as_str() == code)
                    .ok_or_else(|| format!("decline_code `{code}`"))?,
            ),
        };
        let refund = match &self.refund {
            None => None,
            Some(r) => Some(ids::refund_id(r).ok_or_else(|| format!("refund `{r}`"))?),
        };
        Ok(ApiReply {
            payment: PaymentView {
                id,
                amount: Money::new(self.amount, currency),
                status,
                method,
                captured_minor: self.amount_captured,
                refunded_minor: self.amount_refunded,
                decline,
            },
            refund,
            replayed,
        })
    }
}

pub fn method(name: &str) -> Option<Method> {
    Method::ALL.into_iter().find(|m| m.as_str() == name)
}

pub fn capture_mode(name: &str) -> Option<CaptureMode> {
    match name {
        "automatic" => Some(CaptureMode::Automatic),
        "manual" => Some(CaptureMode::Manual),
        _ => None,
    }
}

pub fn capture_mode_name(mode: CaptureMode) -> &'static str {
    match mode {
        CaptureMode::Automatic => "automatic",
        CaptureMode::Manual => "manual",
    }
}

/// `{"error": {"type", "code", "message"}}`, Stripe's error shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// Stripe's error classes: `invalid_request_error`, `idempotency_error`,
    /// `authentication_error`, `permission_error`, `rate_limit_error`,
    /// `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A stable, machine-readable code; for the domain's errors
    /// [`ApiError::as_str`].
    pub code: String,
    /// One sentence for a person.
    pub message: String,
}

/// Stripe's error class of each domain error.
pub fn error_type(e: ApiError) -> &'static str {
    match e {
        ApiError::IdempotencyMismatch | ApiError::InFlight => "idempotency_error",
        ApiError::RateLimited { .. } => "rate_limit_error",
        ApiError::Internal | ApiError::Unavailable | ApiError::UpstreamTimeout => "api_error",
        ApiError::DuplicateRequest
        | ApiError::NotFound
        | ApiError::InvalidState
        | ApiError::AmountTooLarge
        | ApiError::InvalidRequest => "invalid_request_error",
    }
}

pub fn error_message(e: ApiError) -> &'static str {
    match e {
        ApiError::IdempotencyMismatch => "Keys for idempotent requests can only be used with the same parameters they were first used with.",
        ApiError::InFlight => "There is currently another in-progress request using this idempotency key; retry later.",
        ApiError::DuplicateRequest => "An identical request without an idempotency key was made moments ago.",
        ApiError::NotFound => "No such payment.",
        ApiError::InvalidState => "The payment is not in a state that allows this operation.",
        ApiError::AmountTooLarge => "The amount is above what remains to capture or refund.",
        ApiError::InvalidRequest => "The request is not valid for this payment method.",
        ApiError::Internal => "The server failed while executing the request.",
        ApiError::Unavailable => "The service is temporarily unavailable; retry later.",
        ApiError::RateLimited { .. } => "Too many requests; retry after the Retry-After delay.",
        ApiError::UpstreamTimeout => "A downstream party did not answer in time; the outcome is not known yet. Retry with the same idempotency key.",
    }
}

/// The domain error a code names (the HTTP client's way back); `retry_after_ms`
/// comes from the `Retry-After` header.
pub fn api_error(code: &str, retry_after_ms: u32) -> Option<ApiError> {
    ApiError::ALL
        .into_iter()
        .find(|e| e.as_str() == code)
        .map(|e| match e {
            ApiError::RateLimited { .. } => ApiError::RateLimited { retry_after_ms },
            e => e,
        })
}

/// `POST /v1/wallet_sessions`: the harness's device simulator.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWalletSession {
    pub customer: String,
}

/// What the customer's phone hands the checkout after the customer
/// authenticated: a device-bound token, never a card number.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WalletSession {
    pub object: String,
    pub customer: String,
    pub token: String,
    pub device: String,
}

impl WalletSession {
    pub fn new(customer: crate::domain::CustomerId, p: WalletPresentation) -> WalletSession {
        WalletSession {
            object: "wallet_session".to_string(),
            customer: customer.to_string(),
            token: ids::token_text(p.token),
            device: ids::device_text(p.device),
        }
    }

    pub fn presentation(&self) -> Option<WalletPresentation> {
        Some(WalletPresentation {
            token: ids::token(&self.token)?,
            device: ids::device(&self.device)?,
        })
    }
}

/// `POST /v1/webhook_endpoints`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// `http://` or `https://`, where deliveries will be POSTed.
    pub url: String,
}

/// A registered endpoint. `secret` is shown once, at registration, as
/// Stripe does: the merchant verifies `Paystorm-Signature` with it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub object: String,
    pub url: String,
    pub secret: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PaymentId, RefundId};

    #[test]
    fn a_payment_survives_the_wire() {
        let reply = ApiReply {
            payment: PaymentView {
                id: PaymentId(42),
                amount: Money::new(4_500, Currency::USD),
                status: Status::Declined,
                method: Method::CardNfc,
                captured_minor: 0,
                refunded_minor: 0,
                decline: Some(DeclineReason::InsufficientFunds),
            },
            refund: Some(RefundId(7)),
            replayed: false,
        };
        let text = serde_json::to_string(&Payment::from_reply(&reply)).unwrap();
        let back: Payment = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back.to_reply(true).unwrap(),
            ApiReply {
                replayed: true,
                ..reply
            }
        );
        // The client's borrowed reading agrees, also where JSON escapes a
        // character (then the field is owned) and with upper-case currency.
        let borrowed: PaymentText = serde_json::from_str(&text).unwrap();
        assert!(matches!(borrowed.id, Cow::Borrowed(_)));
        assert_eq!(borrowed.to_reply(false).unwrap(), reply);
        let escaped = text
            .replace("\"declined\"", "\"d\\u0065clined\"")
            .replace("\"usd\"", "\"USD\"");
        let borrowed: PaymentText = serde_json::from_str(&escaped).unwrap();
        assert!(matches!(borrowed.status, Cow::Owned(_)));
        assert_eq!(borrowed.to_reply(false).unwrap(), reply);
    }

    #[test]
    fn every_domain_error_code_maps_back() {
        for e in [
            ApiError::IdempotencyMismatch,
            ApiError::InFlight,
            ApiError::NotFound,
            ApiError::RateLimited {
                retry_after_ms: 2000,
            },
            ApiError::UpstreamTimeout,
        ] {
            assert_eq!(api_error(e.as_str(), 2000), Some(e));
        }
        assert_eq!(api_error("missing_api_key", 0), None);
    }
}
