//! The QR-code wallet provider (Alipay, WeChat Pay style): the customer scans
//! the merchant's code, and the provider debits the linked bank account
//! directly — no card network, no hold.

use crate::domain::DeclineReason;

use super::component::Component;
use super::issuer::{Debit, DebitRail, Issuer};

pub struct QrProvider {
    component: Component,
}

impl QrProvider {
    pub fn new(component: Component) -> QrProvider {
        QrProvider { component }
    }

    pub async fn pay(&self, bank: &Issuer, debit: Debit) -> Result<(), DeclineReason> {
        bank.debit_after_hop(&self.component, debit, DebitRail::Qr)
            .await
    }
}
