//! The QR-code wallet provider (Alipay, WeChat Pay style): the customer scans
//! the merchant's code, and the provider debits the linked bank account
//! directly — no card network, no hold.

use std::sync::Arc;

use crate::domain::{CustomerId, DeclineReason, IdemKey, PaymentId};

use super::component::Component;
use super::issuer::{DebitRail, Issuer};

pub struct QrProvider {
    component: Component,
}

impl QrProvider {
    pub fn new(component: Component) -> QrProvider {
        QrProvider { component }
    }

    pub async fn pay(
        &self,
        bank: &Arc<Issuer>,
        payment: PaymentId,
        customer: CustomerId,
        amount_minor: i64,
        key: Option<IdemKey>,
    ) -> Result<(), DeclineReason> {
        self.component.serve(|| ()).await;
        bank.debit(payment, customer, amount_minor, key, DebitRail::Qr)
            .await
    }
}
