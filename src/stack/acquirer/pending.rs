//! The lines waiting for the next settlement batch, in arrival order.
//!
//! A batch holds every capture and refund since the one before: at the
//! Singles' Day peak about 16 million lines per cell within the minute, and
//! a daily batch would hold a day's. A line took 32 bytes, six of them
//! padding around its rail, issuer and kind; here it is packed into 24,
//! exactly (no field is narrowed, so nothing can fail to fit). Lines are
//! kept in chunks that are never moved once allocated, so a growing batch
//! is never copied, as one vector's would be at each doubling.

use super::PendingLine;
use crate::domain::audit::SettlementLineKind;
use crate::domain::{IssuerId, MerchantId, NetworkId, PaymentId, Rail};

/// Lines per chunk: 1.5 MiB, so the unfilled end of the last chunk is
/// small beside any batch large enough to matter.
const CHUNK: usize = 1 << 16;

/// A [`PendingLine`] in 24 bytes instead of 32.
#[derive(Clone, Copy)]
struct Packed {
    payment: u64,
    amount_minor: i64,
    merchant: u32,
    issuer: u16,
    network: u8,
    /// Bits 0-1: the rail (card, QR, bank instant, bank batch); bit 2: a
    /// refund; bit 3: an issuer is named.
    flags: u8,
}

impl Packed {
    fn pack(l: &PendingLine) -> Packed {
        let (rail, network) = match l.rail {
            Rail::Card(n) => (0, n.0),
            Rail::Qr => (1, 0),
            Rail::BankInstant => (2, 0),
            Rail::BankBatch => (3, 0),
        };
        let refund = match l.kind {
            SettlementLineKind::Capture => 0,
            SettlementLineKind::Refund => 1,
        };
        Packed {
            payment: l.payment.0,
            amount_minor: l.amount_minor,
            merchant: l.merchant.0,
            issuer: l.issuer.map_or(0, |i| i.0),
            network,
            flags: rail | refund << 2 | u8::from(l.issuer.is_some()) << 3,
        }
    }

    fn unpack(&self) -> PendingLine {
        PendingLine {
            merchant: MerchantId(self.merchant),
            payment: PaymentId(self.payment),
            rail: match self.flags & 3 {
                0 => Rail::Card(NetworkId(self.network)),
                1 => Rail::Qr,
                2 => Rail::BankInstant,
                _ => Rail::BankBatch,
            },
            issuer: (self.flags & 8 != 0).then_some(IssuerId(self.issuer)),
            kind: if self.flags & 4 != 0 {
                SettlementLineKind::Refund
            } else {
                SettlementLineKind::Capture
            },
            amount_minor: self.amount_minor,
        }
    }
}

/// Pending lines, packed, in chunks of [`CHUNK`].
#[derive(Default)]
pub(super) struct PendingLines {
    chunks: Vec<Vec<Packed>>,
    len: usize,
}

impl PendingLines {
    pub(super) fn push(&mut self, line: &PendingLine) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(Packed::pack(line)),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(Packed::pack(line));
                self.chunks.push(chunk);
            }
        }
        self.len += 1;
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn last(&self) -> Option<PendingLine> {
        self.chunks.last()?.last().map(Packed::unpack)
    }

    /// Every line, in the order they were pushed.
    pub(super) fn iter(&self) -> impl Iterator<Item = PendingLine> + '_ {
        self.chunks.iter().flatten().map(Packed::unpack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: u64) -> PendingLine {
        let rails = [
            Rail::Card(NetworkId(0)),
            Rail::Card(NetworkId(1)),
            Rail::Card(NetworkId(u8::MAX)),
            Rail::Qr,
            Rail::BankInstant,
            Rail::BankBatch,
        ];
        PendingLine {
            merchant: MerchantId((i as u32).wrapping_mul(2_654_435_761)),
            payment: PaymentId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            rail: rails[i as usize % rails.len()],
            issuer: match i % 4 {
                0 => None,
                1 => Some(IssuerId(0)),
                2 => Some(IssuerId(u16::MAX)),
                _ => Some(IssuerId((i % 7) as u16 * 9_000)),
            },
            kind: if i % 2 == 0 {
                SettlementLineKind::Capture
            } else {
                SettlementLineKind::Refund
            },
            amount_minor: (i as i64).wrapping_mul(-0x1234_5678_9abc) | 1,
        }
    }

    fn same(a: &PendingLine, b: &PendingLine) -> bool {
        (
            a.merchant,
            a.payment,
            a.rail,
            a.issuer,
            a.kind,
            a.amount_minor,
        ) == (
            b.merchant,
            b.payment,
            b.rail,
            b.issuer,
            b.kind,
            b.amount_minor,
        )
    }

    #[test]
    fn a_line_is_24_bytes_where_it_was_32() {
        assert_eq!(std::mem::size_of::<Packed>(), 24);
        assert!(std::mem::size_of::<PendingLine>() > 24);
    }

    /// Every field comes back as it went in: each rail, both kinds, with
    /// and without an issuer, and ids and amounts of full width.
    #[test]
    fn lines_come_back_exactly_across_chunks_in_order() {
        let mut lines = PendingLines::default();
        let n = CHUNK as u64 * 2 + 5;
        for i in 0..n {
            lines.push(&line(i));
        }
        assert_eq!(lines.len(), n as usize);
        assert!(same(&lines.last().expect("a last line"), &line(n - 1)));
        let mut count = 0;
        for (i, got) in lines.iter().enumerate() {
            assert!(same(&got, &line(i as u64)), "line {i}: {got:?}");
            count += 1;
        }
        assert_eq!(count, n as usize);
        assert_eq!(lines.chunks.len(), 3, "two full chunks and a started one");
    }
}
