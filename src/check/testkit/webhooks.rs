//! Webhooks: events the stack emits and the merchant's endpoint receives,
//! each remembered per payment so the end of a run can announce what nobody
//! announced yet.

use crate::domain::audit::{AuditRecord, EventKind};
use crate::domain::fingerprint::hash_words;
use crate::domain::{EventId, MerchantId, PaymentId};

use super::Scenario;

impl Scenario {
    pub(in crate::check) fn payload_hash(event: EventId, kind: EventKind) -> u64 {
        hash_words(&[event.0, kind as u64])
    }

    pub(in crate::check) fn emit(&mut self, p: PaymentId, kind: EventKind) -> EventId {
        let event = EventId(self.next_event);
        self.next_event += 1;
        let merchant = self.rows.get(&p).map_or(MerchantId(1), |r| r.merchant);
        self.announced.entry(p).or_default().push(kind);
        self.audit(AuditRecord::EventEmitted {
            event,
            merchant,
            payment: p,
            kind,
            payload_hash: Self::payload_hash(event, kind),
        });
        event
    }

    pub(in crate::check) fn receive(
        &mut self,
        event: EventId,
        payload_hash: u64,
        signature_valid: bool,
        applied: bool,
    ) {
        self.audit(AuditRecord::EventReceived {
            event,
            payload_hash,
            signature_valid,
            applied,
        });
    }

    /// An event emitted and delivered once, validly, and applied.
    pub(in crate::check) fn webhook(&mut self, p: PaymentId, kind: EventKind) -> EventId {
        let event = self.emit(p, kind);
        self.receive(event, Self::payload_hash(event, kind), true, true);
        event
    }
}
