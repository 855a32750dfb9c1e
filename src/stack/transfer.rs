//! Bank transfers, account to account. The instant rail (Faster Payments,
//! RTP) answers within the request; the batch rail (ACH) queues transfers and
//! runs them all at each batch window, so the payment stays `processing` until
//! then and the merchant learns the outcome by webhook.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::chaos::{CallFault, FaultLayer};

use crate::domain::audit::BankRailKind;
use crate::domain::{CustomerId, IdemKey, PaymentId};
use crate::lock::Locked;

use super::component::Component;
use super::issuer::{Debit, DebitRail, Issuer, IssuerMsg, IssuerReply};
use super::qr::hop_then_issuer;

pub struct BankRails {
    instant: Arc<Component>,
    /// Faults aimed at `gateway->bank` (the instant rail), if any.
    inbound: Option<Arc<FaultLayer>>,
    batch: Mutex<VecDeque<QueuedTransfer>>,
    batch_queue_max: usize,
}

#[derive(Clone, Copy, Debug)]
pub struct QueuedTransfer {
    pub payment: PaymentId,
    pub customer: CustomerId,
    pub amount_minor: i64,
    pub key: Option<IdemKey>,
}

/// The batch queue is full; the gateway answers 503 and nothing is stored.
#[derive(Clone, Copy, Debug)]
pub struct BatchQueueFull;

impl BankRails {
    /// Whether the faults at this boundary may deliver a message twice.
    pub fn can_duplicate(&self) -> bool {
        self.inbound.as_ref().is_some_and(|l| l.can_duplicate())
    }

    pub fn new(
        instant: Component,
        batch_queue_max: u32,
        inbound: Option<Arc<FaultLayer>>,
    ) -> BankRails {
        BankRails {
            instant: Arc::new(instant),
            inbound,
            batch: Mutex::new(VecDeque::new()),
            batch_queue_max: batch_queue_max as usize,
        }
    }

    pub async fn instant(
        &self,
        bank: &Arc<Issuer>,
        debit: Debit,
    ) -> Result<IssuerReply, CallFault> {
        hop_then_issuer(
            self.inbound.as_deref(),
            &self.instant,
            bank,
            IssuerMsg::Debit(debit, DebitRail::Bank(BankRailKind::Instant)),
        )
        .await
    }

    pub fn enqueue_batch(&self, t: QueuedTransfer) -> Result<(), BatchQueueFull> {
        let mut q = self.batch.locked();
        if q.len() >= self.batch_queue_max {
            return Err(BatchQueueFull);
        }
        q.push_back(t);
        Ok(())
    }

    /// Takes the transfers of this batch window, in arrival order.
    pub fn take_batch(&self) -> Vec<QueuedTransfer> {
        self.batch.locked().drain(..).collect()
    }

    pub fn batch_full(&self) -> bool {
        self.batch_pending() >= self.batch_queue_max
    }

    pub fn batch_pending(&self) -> usize {
        self.batch.locked().len()
    }
}
