//! A card network (think Visa or Mastercard): it owns the card numbers that
//! start with its digit, and routes each message by the card's BIN range to
//! the issuer that issued it. Every message costs one network hop before the
//! issuer's own.

use std::sync::Arc;

use crate::domain::fingerprint::FxHashMap;
use crate::domain::{DeclineReason, IdemKey, IssuerId, NetworkId, Pan, PaymentId, RefundId};

use super::component::Component;
use super::issuer::{AuthRequest, HoldError, Issuer};

pub struct Network {
    id: NetworkId,
    first_digit: u32,
    component: Component,
    issuers: Vec<Arc<Issuer>>,
    /// BIN range (the BIN without its last three digits) -> issuer.
    bin_ranges: FxHashMap<u32, IssuerId>,
}

/// The BIN range a BIN falls in.
pub fn bin_range(bin: u32) -> u32 {
    bin / 1000
}

impl Network {
    pub fn new(
        id: NetworkId,
        first_digit: u32,
        component: Component,
        issuers: Vec<Arc<Issuer>>,
        bin_ranges: FxHashMap<u32, IssuerId>,
    ) -> Network {
        Network {
            id,
            first_digit,
            component,
            issuers,
            bin_ranges,
        }
    }

    pub fn id(&self) -> NetworkId {
        self.id
    }

    /// Whether this network serves the card (by its first digit).
    pub fn serves(&self, pan: Pan) -> bool {
        pan.bin() / 100_000 == self.first_digit
    }

    fn issuer(&self, id: IssuerId) -> &Issuer {
        &self.issuers[usize::from(id.0)]
    }

    /// Routes an authorization by BIN; returns the issuer that decided.
    pub async fn authorize(
        &self,
        pan: Pan,
        req: AuthRequest,
    ) -> (Option<IssuerId>, Result<(), DeclineReason>) {
        let route = self
            .component
            .serve(|| self.bin_ranges.get(&bin_range(pan.bin())).copied())
            .await;
        match route {
            None => (None, Err(DeclineReason::UnknownAccount)),
            Some(issuer) => (Some(issuer), self.issuer(issuer).authorize(req).await),
        }
    }

    pub async fn capture(
        &self,
        issuer: IssuerId,
        payment: PaymentId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) -> Result<(), HoldError> {
        self.component.serve(|| ()).await;
        self.issuer(issuer)
            .capture(payment, amount_minor, key)
            .await
    }

    pub async fn release(
        &self,
        issuer: IssuerId,
        payment: PaymentId,
        key: Option<IdemKey>,
    ) -> Result<(), HoldError> {
        self.component.serve(|| ()).await;
        self.issuer(issuer).release(payment, key).await
    }

    pub async fn refund(
        &self,
        issuer: IssuerId,
        payment: PaymentId,
        refund: RefundId,
        customer: crate::domain::CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) {
        self.component.serve(|| ()).await;
        self.issuer(issuer)
            .refund(payment, refund, customer, amount_minor, key)
            .await
    }
}
