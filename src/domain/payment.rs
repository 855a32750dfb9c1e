//! The payment: what a merchant asks for, the rails it can travel on, and the
//! states it moves through.
//!
//! State machine (card rails; QR and bank rails skip the hold):
//!
//! ```text
//!              +--> Declined                       (issuer or fraud said no)
//!   create ----+--> Authorized --capture--> Captured --refund--> Refunded (in full)
//!              |        |
//!              |        +--void / hold expiry--> Voided
//!              +--> Captured                        (auto-capture, QR, instant bank)
//!              +--> Processing --batch--> Captured | Failed   (batch bank rail)
//! ```

use super::fingerprint::hash_words;
use super::ids::{CustomerId, MerchantId, NetworkId, PaymentId};
use super::money::Money;

/// How the customer pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Card not present: wallet token passed to an online checkout.
    CardOnline,
    /// Card present: phone tapped on a contactless (NFC) terminal.
    CardNfc,
    /// QR-code wallet payment debiting a linked account, no card network.
    QrWallet,
    /// Account-to-account transfer on an instant rail (Faster Payments, RTP).
    BankInstant,
    /// Account-to-account transfer on a batch rail (ACH): settles later.
    BankBatch,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::CardOnline,
        Method::CardNfc,
        Method::QrWallet,
        Method::BankInstant,
        Method::BankBatch,
    ];

    pub fn is_card(self) -> bool {
        matches!(self, Method::CardOnline | Method::CardNfc)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Method::CardOnline => "card_online",
            Method::CardNfc => "card_nfc",
            Method::QrWallet => "qr_wallet",
            Method::BankInstant => "bank_instant",
            Method::BankBatch => "bank_batch",
        }
    }
}

/// The rail money travels on to reach the acquirer; each has a fee schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rail {
    Card(NetworkId),
    Qr,
    BankInstant,
    BankBatch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMode {
    /// Authorize and capture in one request.
    Automatic,
    /// Authorize now (a hold), capture or void later.
    Manual,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Accepted; the batch rail has not run yet.
    Processing,
    /// Funds held at the issuer, not yet captured.
    Authorized,
    /// Money moved from the customer (possibly partly refunded since).
    Captured,
    /// Refunded in full.
    Refunded,
    /// Hold released before capture (void or expiry).
    Voided,
    /// Refused by the issuer, the fraud rules or the token vault.
    Declined,
    /// Could not be completed (the batch rail bounced it).
    Failed,
}

impl Status {
    /// Every status, in a fixed order (compact encodings index into it).
    pub const ALL: [Status; 7] = [
        Status::Processing,
        Status::Authorized,
        Status::Captured,
        Status::Refunded,
        Status::Voided,
        Status::Declined,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Processing => "processing",
            Status::Authorized => "authorized",
            Status::Captured => "captured",
            Status::Refunded => "refunded",
            Status::Voided => "voided",
            Status::Declined => "declined",
            Status::Failed => "failed",
        }
    }

    /// Whether a payment in this state moved or holds money for the merchant.
    pub fn is_success(self) -> bool {
        matches!(
            self,
            Status::Processing | Status::Authorized | Status::Captured | Status::Refunded
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    InsufficientFunds,
    LimitExceeded,
    SuspectedFraud,
    /// The token was presented from a device it is not bound to.
    TokenDeviceMismatch,
    UnknownAccount,
}

impl DeclineReason {
    pub const ALL: [DeclineReason; 5] = [
        DeclineReason::InsufficientFunds,
        DeclineReason::LimitExceeded,
        DeclineReason::SuspectedFraud,
        DeclineReason::TokenDeviceMismatch,
        DeclineReason::UnknownAccount,
    ];

    /// The name results.json uses (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineReason::InsufficientFunds => "insufficient_funds",
            DeclineReason::LimitExceeded => "limit_exceeded",
            DeclineReason::SuspectedFraud => "suspected_fraud",
            DeclineReason::TokenDeviceMismatch => "token_device_mismatch",
            DeclineReason::UnknownAccount => "unknown_account",
        }
    }
}

/// What a merchant asks the gateway to create. The wallet token and device
/// travel with card requests; the gateway never sees a PAN in the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CreateParams {
    pub merchant: MerchantId,
    pub customer: CustomerId,
    pub amount: Money,
    pub method: Method,
    pub capture: CaptureMode,
    /// Token and device for card methods; ignored by the other rails.
    pub token: Option<(super::card::Token, super::card::DeviceId)>,
    /// Ask for a per-request callback (the `return_url` of the talk) when the
    /// payment reaches a final state.
    pub callback: bool,
}

impl CreateParams {
    /// The fingerprint the idempotency layer compares: two requests with the
    /// same key must carry the same fingerprint.
    pub fn fingerprint(&self) -> u64 {
        let token = self.token.map_or(0, |(t, d)| t.0 ^ d.0.rotate_left(17));
        hash_words(&[
            u64::from(self.merchant.0),
            u64::from(self.customer.0),
            self.amount.minor as u64,
            u64::from(self.amount.currency.code()),
            self.method as u64,
            self.capture as u64,
            token,
            u64::from(self.callback),
        ])
    }
}

/// The body of a payment reply: what the merchant is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PaymentView {
    pub id: PaymentId,
    pub amount: Money,
    pub status: Status,
    pub method: Method,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    pub decline: Option<DeclineReason>,
}
