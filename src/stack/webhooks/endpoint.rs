//! The merchant's webhook endpoint, in process. It verifies the signature,
//! applies each event id once (a redelivery is acknowledged but skipped), and
//! sometimes fails: a 5xx before processing, or a lost acknowledgement after
//! processing — the case that makes deduplication necessary.

use std::sync::{Arc, Mutex};

use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::fingerprint::hash_payload;
use crate::domain::{EventId, MerchantId};
use crate::lock::Locked;
use crate::stack::component::Component;
use crate::stack::config::EndpointConfig;
use crate::stack::world::MerchantSetup;

use super::signature::{Mac32, SigningKey};

use fixedbitset::FixedBitSet;

/// Signatures older than this are refused (replay protection).
pub const SIGNATURE_TOLERANCE_S: u64 = 300;

pub struct MerchantEndpoint {
    component: Component,
    cfg: EndpointConfig,
    merchants: Vec<MerchantSetup>,
    /// Each merchant's signing key, by merchant id.
    keys: Vec<SigningKey>,
    /// The event ids applied, one bit each: the dispatcher numbers events
    /// from 1 as they are emitted. A hash set pre-sized for them took about
    /// 13 MB per cell on the million benchmark (1.3 million events in all);
    /// the bits take 80 KB. Marking one also touches memory the last mark
    /// did, as events are delivered in about the order they were emitted.
    seen: Mutex<FixedBitSet>,
    observer: Arc<dyn Observer>,
}

/// The delivery did not get a 2xx back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryFailed;

#[derive(Clone)]
pub struct Delivery {
    pub merchant: MerchantId,
    pub event: EventId,
    pub t_s: u64,
    pub body: Arc<[u8]>,
    pub signature: Mac32,
}

impl MerchantEndpoint {
    pub fn new(
        component: Component,
        cfg: EndpointConfig,
        merchants: Vec<MerchantSetup>,
        observer: Arc<dyn Observer>,
        expected_events: usize,
    ) -> MerchantEndpoint {
        MerchantEndpoint {
            component,
            cfg,
            keys: merchants
                .iter()
                .map(|m| SigningKey::new(&m.webhook_secret))
                .collect(),
            merchants,
            seen: Mutex::new(FixedBitSet::with_capacity(expected_events + 1)),
            observer,
        }
    }

    pub async fn deliver(&self, d: Delivery) -> Result<(), DeliveryFailed> {
        let (fail_before, lose_ack) = self.component.rng().with(|r| {
            (
                r.chance(self.cfg.failure_share),
                r.chance(self.cfg.lost_ack_share),
            )
        });
        let now_s = self.component.clock().unix_s();
        self.component
            .serve(|| {
                let merchant = self
                    .merchants
                    .get(d.merchant.0 as usize)
                    .ok_or(DeliveryFailed)?;
                if merchant.endpoint_down || fail_before {
                    return Err(DeliveryFailed);
                }
                let fresh = now_s.saturating_sub(d.t_s) <= SIGNATURE_TOLERANCE_S;
                let valid =
                    fresh && self.keys[d.merchant.0 as usize].verify(d.t_s, &d.body, &d.signature);
                let applied = valid && first_time(&mut self.seen.locked(), d.event);
                self.observer.audit(AuditRecord::EventReceived {
                    event: d.event,
                    payload_hash: hash_payload(&d.body),
                    signature_valid: valid,
                    applied,
                });
                if !valid || lose_ack {
                    Err(DeliveryFailed)
                } else {
                    Ok(())
                }
            })
            .await
    }
}

/// Marks `event` seen; true if it was not before. The set grows to the
/// largest id seen (ids are dense: one bit per event emitted).
fn first_time(seen: &mut FixedBitSet, event: EventId) -> bool {
    let bit = event.0 as usize;
    if bit >= seen.len() {
        seen.grow((bit + 1).max(seen.len() * 2));
    }
    !seen.put(bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_applied_the_first_time_only_whatever_the_order() {
        let mut seen = FixedBitSet::with_capacity(4);
        for id in [3, 1, 100_000, 2, 0] {
            assert!(first_time(&mut seen, EventId(id)), "{id} is new");
        }
        for id in [0, 1, 2, 3, 100_000] {
            assert!(!first_time(&mut seen, EventId(id)), "{id} again");
        }
        assert!(first_time(&mut seen, EventId(99_999)));
    }
}
