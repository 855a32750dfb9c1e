//! The payment table: one row per payment, the gateway's source of truth for
//! status and amounts. A row is locked by its `busy` flag while an operation
//! talks to the network, so a capture and a void can never both proceed.

use crate::domain::{
    CustomerId, DeclineReason, IdemKey, IssuerId, MerchantId, Method, Money, NetworkId, PaymentId,
    PaymentView, Rail, Status,
};

#[derive(Clone, Copy, Debug)]
pub struct PaymentRecord {
    pub id: PaymentId,
    pub merchant: MerchantId,
    pub customer: CustomerId,
    pub amount: Money,
    pub method: Method,
    pub key: Option<IdemKey>,
    pub rail: Option<Rail>,
    pub issuer: Option<IssuerId>,
    pub network: Option<NetworkId>,
    pub status: Status,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    /// Refunds accepted but not yet confirmed by the issuer.
    pub refund_reserved_minor: i64,
    pub decline: Option<DeclineReason>,
    pub callback: bool,
    pub busy: bool,
}

impl PaymentRecord {
    pub fn view(&self) -> PaymentView {
        PaymentView {
            id: self.id,
            amount: self.amount,
            status: self.status,
            method: self.method,
            captured_minor: self.captured_minor,
            refunded_minor: self.refunded_minor,
            decline: self.decline,
        }
    }

    /// What is left to refund, counting refunds still in flight.
    pub fn refundable_minor(&self) -> i64 {
        self.captured_minor - self.refunded_minor - self.refund_reserved_minor
    }
}
