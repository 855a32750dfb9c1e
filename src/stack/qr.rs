//! The QR-code wallet provider (Alipay, WeChat Pay style): the customer scans
//! the merchant's code, and the provider debits the linked bank account
//! directly — no card network, no hold.

use std::sync::Arc;

use crate::chaos::{CallFault, FaultLayer};

use super::component::Component;
use super::issuer::{Debit, DebitRail, Issuer, IssuerMsg, IssuerReply};

pub struct QrProvider {
    component: Arc<Component>,
    /// Faults aimed at `gateway->qr`, if any.
    inbound: Option<Arc<FaultLayer>>,
}

impl QrProvider {
    /// Whether the faults at this boundary may deliver a message twice.
    pub fn can_duplicate(&self) -> bool {
        self.inbound.as_ref().is_some_and(|l| l.can_duplicate())
    }

    pub fn new(component: Component, inbound: Option<Arc<FaultLayer>>) -> QrProvider {
        QrProvider {
            component: Arc::new(component),
            inbound,
        }
    }

    pub async fn pay(&self, bank: &Arc<Issuer>, debit: Debit) -> Result<IssuerReply, CallFault> {
        hop_then_issuer(
            self.inbound.as_deref(),
            &self.component,
            bank,
            IssuerMsg::Debit(debit, DebitRail::Qr),
        )
        .await
    }
}

/// A rail's own hop, then the issuer's, through the faults aimed at the rail.
pub async fn hop_then_issuer(
    inbound: Option<&FaultLayer>,
    hop: &Arc<Component>,
    bank: &Arc<Issuer>,
    msg: IssuerMsg,
) -> Result<IssuerReply, CallFault> {
    let (hop, bank) = (hop.clone(), bank.clone());
    crate::chaos::through(inbound, move || {
        let (hop, bank) = (hop.clone(), bank.clone());
        async move {
            hop.serve(|| ()).await;
            bank.receive(msg).await
        }
    })
    .await
    .and_then(|r| r)
}
