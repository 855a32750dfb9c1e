//! The compact form a [`Slot`] is stored in: ids in 32 bits and attempt
//! counts in 3 bits each, so a key's map entry takes 40 bytes. Kept apart
//! because it is bit layout only; a slot that does not fit spills whole.

use crate::domain::{MerchantId, PaymentId, RefundId, Status};
use crate::packed::{narrow_i, narrow_u, Bits, Pack};

use super::slot::{Body, Counts, Effects, KeyState, OpKind, Slot, Target};

/// A [`Slot`] whose ids fit in 32 bits, whose attempt counts are below 8,
/// whose effects have one target and whose reply amount fits in 32 bits.
#[derive(Clone, Copy)]
pub(in crate::check) struct PackedSlot {
    fingerprint: u64,
    merchant: u32,
    /// Bits 0-23: the eight attempt counts, 3 bits each, in [`Counts`]
    /// order; 24-26: 0 no history, 1-4 the [`OpKind`], 7 spilled; 27-29:
    /// the body's status, 7 no body; 30-31: effects 0 none, 1 on a payment,
    /// 2 on a refund.
    bits: Bits,
    payment: u32,
    /// `u32::MAX`: no refund.
    refund: u32,
    amount: i32,
    effect: u32,
}

const OP_KINDS: [OpKind; 4] = [
    OpKind::Create,
    OpKind::Capture,
    OpKind::Void,
    OpKind::Refund,
];
const STATUSES: [Status; 7] = Status::ALL;
const KIND_SHIFT: u32 = 24;
const STATUS_SHIFT: u32 = 27;
const EFFECT_SHIFT: u32 = 30;
const NO_BODY: u32 = 7;

impl Counts {
    fn all(&self) -> [u16; 8] {
        [
            self.ok,
            self.ok_processing,
            self.declined,
            self.failed,
            self.errors,
            self.info,
            self.unfinished,
            self.mismatched,
        ]
    }

    fn from_all(n: [u16; 8]) -> Counts {
        let [ok, ok_processing, declined, failed, errors, info, unfinished, mismatched] = n;
        Counts {
            ok,
            ok_processing,
            declined,
            failed,
            errors,
            info,
            unfinished,
            mismatched,
        }
    }
}

impl Pack for Slot {
    type Packed = PackedSlot;
    const SPILLED: PackedSlot = PackedSlot {
        fingerprint: 0,
        merchant: 0,
        bits: Bits(7 << KIND_SHIFT),
        payment: 0,
        refund: 0,
        amount: 0,
        effect: 0,
    };

    fn is_spilled(p: &PackedSlot) -> bool {
        p.bits.get(KIND_SHIFT, 3) == 7
    }

    fn pack(&self) -> Option<PackedSlot> {
        let mut p = PackedSlot {
            fingerprint: 0,
            merchant: 0,
            bits: Bits(0),
            payment: 0,
            refund: u32::MAX,
            amount: 0,
            effect: 0,
        };
        p.bits.put(STATUS_SHIFT, 3, NO_BODY)?;
        if let Some((merchant, st)) = self.hist {
            p.fingerprint = st.fingerprint;
            p.merchant = merchant.0;
            let kind = OP_KINDS.iter().position(|&k| k == st.kind)? as u32;
            p.bits.put(KIND_SHIFT, 3, kind + 1)?;
            for (i, n) in st.counts.all().into_iter().enumerate() {
                p.bits.put(3 * i as u32, 3, u32::from(n))?;
            }
            if let Some(b) = st.body {
                let status = STATUSES.iter().position(|&s| s == b.status)? as u32;
                p.bits.put(STATUS_SHIFT, 3, status)?;
                p.payment = narrow_u(b.payment.0)?;
                p.refund = b.refund.map_or(Some(u32::MAX), |r| narrow_u(r.0))?;
                p.amount = narrow_i(b.amount_minor)?;
            }
        }
        if let Some(e) = self.effects {
            let (code, id) = match e.first {
                Target::Payment(p) => (1, p.0),
                Target::Refund(r) => (2, r.0),
            };
            p.bits.put(EFFECT_SHIFT, 2, code)?;
            p.effect = narrow_u(id)?;
        }
        Some(p)
    }

    fn unpack(p: &PackedSlot) -> Slot {
        let b = p.bits;
        let hist = match b.get(KIND_SHIFT, 3) {
            0 => None,
            kind => {
                let body = match b.get(STATUS_SHIFT, 3) {
                    NO_BODY => None,
                    status => Some(Body {
                        payment: PaymentId(u64::from(p.payment)),
                        refund: (p.refund != u32::MAX).then_some(RefundId(u64::from(p.refund))),
                        amount_minor: i64::from(p.amount),
                        status: STATUSES[status as usize],
                    }),
                };
                let counts =
                    Counts::from_all(std::array::from_fn(|i| b.get(3 * i as u32, 3) as u16));
                Some((
                    MerchantId(p.merchant),
                    KeyState {
                        fingerprint: p.fingerprint,
                        kind: OP_KINDS[kind as usize - 1],
                        counts,
                        body,
                    },
                ))
            }
        };
        let first = match b.get(EFFECT_SHIFT, 2) {
            0 => None,
            1 => Some(Target::Payment(PaymentId(u64::from(p.effect)))),
            _ => Some(Target::Refund(RefundId(u64::from(p.effect)))),
        };
        Slot {
            hist,
            effects: first.map(|first| Effects {
                first,
                second: None,
                more: false,
            }),
        }
    }
}
