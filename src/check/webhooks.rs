//! Invariants 12-14: webhooks, judged on the gateway's event log, the
//! dead-letter queue and the merchant endpoint's receipt log.
//!
//! Receipts may be read before their emission (the logs interleave in any
//! order), so payload hashes are compared without assuming order: the first
//! emitted hash and the first received hash are kept, with a flag for any
//! later record disagreeing with its own kind's first. Every receipt then
//! equals the emitted hash iff no flag is set and the two firsts agree.

use crate::domain::audit::EventKind;
use crate::domain::{EventId, PaymentId};

use super::tally::Tally;
use super::verdict::{
    InvariantResult, WEBHOOK_APPLIED_ONCE, WEBHOOK_DELIVERED_OR_DEAD_LETTERED,
    WEBHOOK_PAYLOAD_STABLE,
};
use crate::packed::{narrow_u, Bits, DenseMap, Pack};

#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct EventState {
    /// Kind and payment of the first emission (for messages).
    emitted: Option<(EventKind, PaymentId)>,
    emit_hash: u64,
    emit_hash_differs: bool,
    receipts: u32,
    recv_hash: u64,
    recv_hash_differs: bool,
    received_valid: u32,
    applied: u32,
    applied_invalid: u32,
    dead_lettered: bool,
}

/// An [`EventState`] whose hashes agree (one is kept), whose payment id
/// fits in 32 bits and whose counts are small.
#[derive(Clone, Copy)]
struct PackedEvent {
    /// The emitted hash if emitted, else the first received hash (or 0).
    hash: u64,
    payment: u32,
    /// Bit 0 spilled, 1 emitted, 2 dead-lettered, 3-5 kind, then counts:
    /// receipts at 6, valid receipts at 13, applied at 20 (7 bits each),
    /// applied with an invalid signature at 27 (4 bits).
    bits: Bits,
}

const KINDS: [EventKind; 8] = EventKind::ALL;
const EVENT_COUNTS: [(u32, u32); 4] = [(6, 7), (13, 7), (20, 7), (27, 4)];

impl Pack for EventState {
    type Packed = PackedEvent;
    const SPILLED: PackedEvent = PackedEvent {
        hash: 0,
        payment: 0,
        bits: Bits(1),
    };

    fn is_spilled(p: &PackedEvent) -> bool {
        p.bits.flag(0)
    }

    fn pack(&self) -> Option<PackedEvent> {
        let mut bits = Bits(0);
        let (hash, payment) = match self.emitted {
            Some((kind, payment)) => {
                bits.put(1, 1, 1)?;
                let k = KINDS.iter().position(|&k| k == kind)?;
                bits.put(3, 3, k as u32)?;
                (self.emit_hash, narrow_u(payment.0)?)
            }
            None => (self.recv_hash, 0),
        };
        bits.put(2, 1, u32::from(self.dead_lettered))?;
        let counts = [
            self.receipts,
            self.received_valid,
            self.applied,
            self.applied_invalid,
        ];
        for ((shift, width), n) in EVENT_COUNTS.into_iter().zip(counts) {
            bits.put(shift, width, n)?;
        }
        Some(PackedEvent {
            hash,
            payment,
            bits,
        })
    }

    fn unpack(p: &PackedEvent) -> EventState {
        let b = p.bits;
        let [receipts, received_valid, applied, applied_invalid] =
            EVENT_COUNTS.map(|(shift, width)| b.get(shift, width));
        let emitted = b
            .flag(1)
            .then(|| (KINDS[b.get(3, 3) as usize], PaymentId(u64::from(p.payment))));
        EventState {
            emitted,
            emit_hash: if emitted.is_some() { p.hash } else { 0 },
            emit_hash_differs: false,
            receipts,
            recv_hash: if receipts > 0 { p.hash } else { 0 },
            recv_hash_differs: false,
            received_valid,
            applied,
            applied_invalid,
            dead_lettered: b.flag(2),
        }
    }
}

#[derive(Default)]
pub(super) struct Webhooks {
    events: DenseMap<EventId, EventState>,
}

/// Event slots reserved per expected payment. A payment emits one to two
/// events (1.1 at the Singles' Day peak, where most are QR debits; more
/// with captures and refunds). Reserving costs address space only, since
/// a vector's pages are touched as ids arrive; not reserving, the vector
/// doubles, and each doubling copies it while both copies are alive.
const EVENTS_RESERVED_PER_PAYMENT: usize = 2;

impl Webhooks {
    /// Asks for `event`'s slot ahead of a record about it.
    pub(super) fn ask_for(&self, event: EventId) {
        self.events.ask_for(event);
    }

    /// Room for the events of `payments` payments, reserved up front.
    pub(super) fn with_capacity(payments: usize) -> Webhooks {
        Webhooks {
            events: DenseMap::with_capacity(payments.saturating_mul(EVENTS_RESERVED_PER_PAYMENT)),
        }
    }

    pub(super) fn emitted(
        &mut self,
        event: EventId,
        kind: EventKind,
        payment: PaymentId,
        hash: u64,
    ) {
        self.events
            .update(event, EventState::default, |st| match st.emitted {
                None => {
                    st.emitted = Some((kind, payment));
                    st.emit_hash = hash;
                }
                Some(_) => st.emit_hash_differs |= st.emit_hash != hash,
            })
    }

    pub(super) fn received(
        &mut self,
        event: EventId,
        hash: u64,
        signature_valid: bool,
        applied: bool,
    ) {
        self.events.update(event, EventState::default, |st| {
            if st.receipts == 0 {
                st.recv_hash = hash;
            } else {
                st.recv_hash_differs |= st.recv_hash != hash;
            }
            st.receipts = st.receipts.saturating_add(1);
            if signature_valid {
                st.received_valid = st.received_valid.saturating_add(1);
            }
            if applied {
                st.applied = st.applied.saturating_add(1);
                if !signature_valid {
                    st.applied_invalid = st.applied_invalid.saturating_add(1);
                }
            }
        })
    }

    pub(super) fn dead_lettered(&mut self, event: EventId) {
        self.events
            .update(event, EventState::default, |st| st.dead_lettered = true)
    }

    /// Invariants 12, 13 and 14, in that order.
    pub(super) fn finish(self) -> [InvariantResult; 3] {
        let mut delivered = Tally::new();
        let mut stable = Tally::new();
        let mut once = Tally::new();
        for (ev, ref st) in self.events.iter() {
            if let Some((kind, payment)) = st.emitted {
                if st.received_valid == 0 && !st.dead_lettered {
                    delivered.add(ev, || {
                        format!(
                            "{ev} ({} of {payment}): neither received with a valid signature ({} receipt(s)) nor dead-lettered",
                            kind.as_str(),
                            st.receipts
                        )
                    });
                }
            }
            let problem = if st.emit_hash_differs {
                Some(format!(
                    "emitted more than once with different payload hashes (first {:#018x})",
                    st.emit_hash
                ))
            } else if st.receipts > 0 && st.emitted.is_none() {
                Some(format!(
                    "received {} time(s) but never emitted",
                    st.receipts
                ))
            } else if st.receipts > 0 && (st.recv_hash_differs || st.recv_hash != st.emit_hash) {
                Some(if st.recv_hash != st.emit_hash {
                    format!(
                        "received with payload hash {:#018x}, emitted with {:#018x}",
                        st.recv_hash, st.emit_hash
                    )
                } else {
                    format!(
                        "receipts carry differing payload hashes, emitted with {:#018x}",
                        st.emit_hash
                    )
                })
            } else {
                None
            };
            if let Some(problem) = problem {
                stable.add(ev, || format!("{ev}: {problem}"));
            }
            if st.applied_invalid > 0 {
                once.add(ev, || {
                    format!(
                        "{ev}: applied from {} receipt(s) with an invalid signature",
                        st.applied_invalid
                    )
                });
            } else if st.received_valid > 0 && st.applied != 1 {
                once.add(ev, || {
                    format!(
                        "{ev}: applied {} times over {} valid receipt(s), expected exactly once",
                        st.applied, st.received_valid
                    )
                });
            }
        }
        [
            delivered.result(WEBHOOK_DELIVERED_OR_DEAD_LETTERED),
            stable.result(WEBHOOK_PAYLOAD_STABLE),
            once.result(WEBHOOK_APPLIED_ONCE),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::super::verdict::*;
    use crate::domain::audit::{AuditRecord, EventKind};
    use crate::domain::EventId;

    fn hash(ev: EventId, kind: EventKind) -> u64 {
        Scenario::payload_hash(ev, kind)
    }

    /// Was 64 bytes per event (56 of state).
    #[test]
    fn an_event_takes_24_bytes() {
        assert!(std::mem::size_of::<(EventId, super::PackedEvent)>() <= 24);
    }

    #[test]
    fn events_with_differing_hashes_spill_and_keep_both() {
        use super::{DenseMap, EventState};
        use crate::domain::PaymentId;
        let mut m: DenseMap<EventId, EventState> = DenseMap::default();
        let full = EventState {
            emitted: Some((EventKind::PaymentRefunded, PaymentId(1 << 33))),
            emit_hash: 1,
            emit_hash_differs: true,
            receipts: 300,
            recv_hash: 2,
            recv_hash_differs: true,
            received_valid: 200,
            applied: 100,
            applied_invalid: 20,
            dead_lettered: true,
        };
        m.update(EventId(1), EventState::default, |s| *s = full);
        let small = EventState {
            emitted: Some((EventKind::PaymentRefunded, PaymentId(7))),
            emit_hash: 5,
            receipts: 2,
            recv_hash: 5,
            received_valid: 1,
            applied: 1,
            ..EventState::default()
        };
        m.update(EventId(2), EventState::default, |s| *s = small);
        assert_eq!(m.spilled(), 1);
        assert!(m.get(&EventId(1)) == Some(full));
        assert!(m.get(&EventId(2)) == Some(small));
    }

    #[test]
    fn delivered_passes_on_retried_delivery_and_dead_letters() {
        let mut s = rich_scenario();
        let (_, p) = s.card(1, s.rows.values().next().unwrap().customer, 100);
        // First delivery had a bad signature (a proxy mangled it), the retry
        // got through.
        let ev = s.emit(p, EventKind::PaymentSucceeded);
        s.receive(ev, hash(ev, EventKind::PaymentSucceeded), false, false);
        s.receive(ev, hash(ev, EventKind::PaymentSucceeded), true, true);
        let dead = s.emit(p, EventKind::PaymentCaptured);
        s.audit(AuditRecord::EventDeadLettered {
            event: dead,
            attempts: 5,
        });
        s.settle();
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// The `drop-webhooks` sabotage: the event vanished without a dead letter.
    #[test]
    fn delivered_catches_an_event_neither_received_nor_dead_lettered() {
        let mut s = rich_scenario();
        let (_, p) = s.card(1, s.rows.values().next().unwrap().customer, 100);
        s.settle();
        let lost = s.emit(p, EventKind::PaymentSucceeded);
        let unsigned = s.emit(p, EventKind::PaymentCaptured);
        s.receive(
            unsigned,
            hash(unsigned, EventKind::PaymentCaptured),
            false,
            false,
        );
        let v = s.check();
        assert_failed(&v, &[WEBHOOK_DELIVERED_OR_DEAD_LETTERED]);
        assert_eq!(violations(&v, WEBHOOK_DELIVERED_OR_DEAD_LETTERED), 2);
        assert_eq!(
            example(&v, WEBHOOK_DELIVERED_OR_DEAD_LETTERED),
            format!("{lost} (payment.succeeded of {p}): neither received with a valid signature (0 receipt(s)) nor dead-lettered")
        );
    }

    #[test]
    fn payload_stable_passes_on_duplicate_deliveries_in_any_order() {
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        // The receipt log may be read before the event log.
        let ev = EventId(500);
        let h = hash(ev, EventKind::PaymentRefunded);
        s.receive(ev, h, true, true);
        s.receive(ev, h, true, false);
        s.audit(AuditRecord::EventEmitted {
            event: ev,
            merchant: crate::domain::MerchantId(1),
            payment: p,
            kind: EventKind::PaymentRefunded,
            payload_hash: h,
        });
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// A redelivery rebuilt the payload from the payment's current state.
    #[test]
    fn payload_stable_catches_a_receipt_with_another_payload() {
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        let ev = s.webhook(p, EventKind::PaymentAuthorized);
        let emitted = hash(ev, EventKind::PaymentAuthorized);
        let changed = hash(ev, EventKind::PaymentCaptured);
        s.receive(ev, changed, true, false);
        let v = s.check();
        assert_failed(&v, &[WEBHOOK_PAYLOAD_STABLE]);
        assert_eq!(
            example(&v, WEBHOOK_PAYLOAD_STABLE),
            format!("{ev}: receipts carry differing payload hashes, emitted with {emitted:#018x}")
        );
        // Caught as well when the only receipt differs, read before emission.
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        let ev = EventId(500);
        s.receive(ev, changed, true, true);
        s.audit(AuditRecord::EventEmitted {
            event: ev,
            merchant: crate::domain::MerchantId(1),
            payment: p,
            kind: EventKind::PaymentAuthorized,
            payload_hash: emitted,
        });
        let v = s.check();
        assert_failed(&v, &[WEBHOOK_PAYLOAD_STABLE]);
        assert_eq!(
            example(&v, WEBHOOK_PAYLOAD_STABLE),
            format!(
                "{ev}: received with payload hash {changed:#018x}, emitted with {emitted:#018x}"
            )
        );
    }

    #[test]
    fn payload_stable_catches_reemission_and_receipts_never_emitted() {
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        let ev = s.webhook(p, EventKind::PaymentAuthorized);
        s.audit(AuditRecord::EventEmitted {
            event: ev,
            merchant: crate::domain::MerchantId(1),
            payment: p,
            kind: EventKind::PaymentCaptured,
            payload_hash: hash(ev, EventKind::PaymentCaptured),
        });
        let ghost = EventId(9_999);
        s.receive(ghost, 42, true, true);
        let v = s.check();
        assert_failed(&v, &[WEBHOOK_PAYLOAD_STABLE]);
        assert_eq!(violations(&v, WEBHOOK_PAYLOAD_STABLE), 2);
        assert!(example(&v, WEBHOOK_PAYLOAD_STABLE)
            .starts_with(&format!("{ev}: emitted more than once")));
    }

    #[test]
    fn applied_once_passes_when_redeliveries_are_skipped() {
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        let ev = s.webhook(p, EventKind::PaymentCaptured);
        let h = hash(ev, EventKind::PaymentCaptured);
        s.receive(ev, h, true, false);
        s.receive(ev, h, false, false);
        let v = s.check();
        assert!(v.all_passed(), "{v:#?}");
    }

    /// The merchant endpoint's dedup store was skipped.
    #[test]
    fn applied_once_catches_an_event_applied_twice() {
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        let ev = s.webhook(p, EventKind::PaymentCaptured);
        s.receive(ev, hash(ev, EventKind::PaymentCaptured), true, true);
        let v = s.check();
        assert_failed(&v, &[WEBHOOK_APPLIED_ONCE]);
        assert_eq!(
            example(&v, WEBHOOK_APPLIED_ONCE),
            format!("{ev}: applied 2 times over 2 valid receipt(s), expected exactly once")
        );
    }

    #[test]
    fn applied_once_catches_an_unsigned_receipt_applied() {
        let mut s = rich_scenario();
        let p = *s.rows.keys().next().unwrap();
        let ev = s.emit(p, EventKind::PaymentCaptured);
        let h = hash(ev, EventKind::PaymentCaptured);
        s.receive(ev, h, false, true);
        s.receive(ev, h, true, false);
        let v = s.check();
        assert_failed(&v, &[WEBHOOK_APPLIED_ONCE]);
        assert_eq!(
            example(&v, WEBHOOK_APPLIED_ONCE),
            format!("{ev}: applied from 1 receipt(s) with an invalid signature")
        );
    }
}
