//! What travels between a network or rail and an issuer: the messages an
//! issuer receives, with the requests they carry, and its answers. Kept apart
//! from the issuer itself because the gateway, networks and rails build them.

use crate::domain::audit::BankRailKind;
use crate::domain::{CustomerId, DeclineReason, IdemKey, PaymentId, RefundId};

/// One request from a network or rail, with everything the issuer needs.
#[derive(Clone, Copy, Debug)]
pub enum IssuerMsg {
    Auth(AuthRequest),
    /// A card network approved this authorization on the issuer's behalf
    /// while the issuer was unreachable (stand-in); the issuer places the
    /// hold whatever the balance.
    Advice(AuthRequest),
    Capture {
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    },
    Release {
        payment: PaymentId,
        key: Option<IdemKey>,
    },
    Debit(Debit, DebitRail),
    Refund {
        payment: PaymentId,
        refund: RefundId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
    },
}

impl IssuerMsg {
    /// The network-level message id: the kind in the top bits, then the
    /// payment's (or refund's) id. Two deliveries of one message share it.
    pub fn id(&self) -> u64 {
        let (kind, id) = match self {
            IssuerMsg::Auth(r) => (1u64, r.payment.0),
            IssuerMsg::Advice(r) => (6, r.payment.0),
            IssuerMsg::Capture { payment, .. } => (2, payment.0),
            IssuerMsg::Release { payment, .. } => (3, payment.0),
            IssuerMsg::Debit(d, _) => (4, d.payment.0),
            IssuerMsg::Refund { refund, .. } => (5, refund.0),
        };
        (kind << 60) | (id & ((1 << 60) - 1))
    }

    /// The payment the message is about.
    pub fn payment(&self) -> PaymentId {
        match *self {
            IssuerMsg::Auth(r) | IssuerMsg::Advice(r) => r.payment,
            IssuerMsg::Capture { payment, .. }
            | IssuerMsg::Release { payment, .. }
            | IssuerMsg::Refund { payment, .. } => payment,
            IssuerMsg::Debit(d, _) => d.payment,
        }
    }
}

/// The issuer's answer to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerReply {
    Done,
    Declined(DeclineReason),
    Hold(HoldError),
}

/// An authorization request as it arrives from a card network.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub amount_minor: i64,
    pub key: Option<IdemKey>,
    /// Authorize and capture in one message (a "sale").
    pub capture: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldError {
    /// No active hold: captured, released or expired already.
    NoHold,
    /// Capture above the held amount.
    AboveHold,
}

/// A direct debit of a linked account (QR wallet, bank transfer).
#[derive(Clone, Copy, Debug)]
pub struct Debit {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub amount_minor: i64,
    pub key: Option<IdemKey>,
}

/// Where a direct debit's money goes.
#[derive(Clone, Copy, Debug)]
pub enum DebitRail {
    Qr,
    Bank(BankRailKind),
}
