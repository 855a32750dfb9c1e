//! The payment table: one row per payment, the gateway's source of truth for
//! status and amounts. A row is locked by its `busy` flag while an operation
//! talks to the network, so a capture and a void can never both proceed.

use crate::domain::{
    Currency, CustomerId, DeclineReason, IdemKey, IssuerId, MerchantId, Method, Money, NetworkId,
    PaymentId, PaymentView, Rail, Status,
};
use crate::packed::{index_of, narrow_i, narrow_u, Bits, DenseMap, Pack};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaymentRecord {
    pub id: PaymentId,
    pub merchant: MerchantId,
    pub customer: CustomerId,
    pub amount: Money,
    pub method: Method,
    pub key: Option<IdemKey>,
    pub rail: Option<Rail>,
    pub issuer: Option<IssuerId>,
    pub network: Option<NetworkId>,
    pub status: Status,
    pub captured_minor: i64,
    pub refunded_minor: i64,
    /// Refunds accepted but not yet confirmed by the issuer.
    pub refund_reserved_minor: i64,
    pub decline: Option<DeclineReason>,
    pub callback: bool,
    pub busy: bool,
}

impl PaymentRecord {
    pub fn view(&self) -> PaymentView {
        PaymentView {
            id: self.id,
            amount: self.amount,
            status: self.status,
            method: self.method,
            captured_minor: self.captured_minor,
            refunded_minor: self.refunded_minor,
            decline: self.decline,
        }
    }

    /// What is left to refund, counting refunds still in flight.
    pub fn refundable_minor(&self) -> i64 {
        self.captured_minor - self.refunded_minor - self.refund_reserved_minor
    }
}

/// The payment table, indexed by payment id. Ids are handed out densely from
/// 1, so a vector beats a hash map (see [`DenseMap`]), and each row is packed
/// into 48 bytes instead of 88: ids and amounts in 32 bits, enums as
/// indices, anything wider kept whole beside the vector. Rows are read and
/// changed by value ([`PaymentTable::update`]), never by reference.
/// Ids never inserted (a keyless duplicate caught by the dedup window
/// consumes one) stay empty.
#[derive(Default)]
pub struct PaymentTable {
    rows: DenseMap<PaymentId, PaymentRecord>,
}

impl PaymentTable {
    /// `n` payments expected: the rows are reserved up front.
    pub fn with_capacity(n: usize) -> PaymentTable {
        PaymentTable {
            rows: DenseMap::with_capacity(n + 1),
        }
    }

    pub fn insert(&mut self, id: PaymentId, rec: PaymentRecord) {
        self.rows.update(id, || rec, |r| *r = rec);
    }

    pub fn get(&self, id: &PaymentId) -> Option<PaymentRecord> {
        self.rows.get(id)
    }

    /// Applies `f` to the row of `id`, if there is one.
    pub fn update<R>(
        &mut self,
        id: &PaymentId,
        f: impl FnOnce(&mut PaymentRecord) -> R,
    ) -> Option<R> {
        self.rows.update_existing(*id, f)
    }

    /// Applies `f` to every row, in id order.
    pub fn update_all(&mut self, mut f: impl FnMut(&mut PaymentRecord)) {
        let ids: Vec<PaymentId> = self.rows.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.rows.update_existing(id, &mut f);
        }
    }

    /// Every payment, in id order.
    pub fn values(&self) -> impl Iterator<Item = PaymentRecord> + '_ {
        self.rows.iter().map(|(_, r)| r)
    }
}

/// A row in 48 bytes.
#[derive(Clone, Copy)]
pub struct PackedRecord {
    key: u64,
    id: u32,
    merchant: u32,
    customer: u32,
    amount: i32,
    currency: u32,
    captured: i32,
    refunded: i32,
    reserved: i32,
    /// Bits 0-2 method, 3-5 status, 6-8 decline (0 none), 9 callback, 10
    /// busy, 11 has a key, 12-14 rail (0 none, 1 card, 2 QR, 3 instant, 4
    /// batch), 15 has a network, 16 packed (0: spilled), 17-24 the network.
    bits: Bits,
    /// Bits 0-16 the issuer (0 none, else id + 1), 17-24 the card rail's
    /// network.
    route: Bits,
}

impl Pack for PaymentRecord {
    type Packed = PackedRecord;
    const SPILLED: PackedRecord = PackedRecord {
        key: 0,
        id: 0,
        merchant: 0,
        customer: 0,
        amount: 0,
        currency: 0,
        captured: 0,
        refunded: 0,
        reserved: 0,
        bits: Bits(0),
        route: Bits(0),
    };

    fn is_spilled(p: &PackedRecord) -> bool {
        !p.bits.flag(16)
    }

    fn pack(&self) -> Option<PackedRecord> {
        let mut p = PackedRecord {
            key: self.key.map_or(0, |k| k.0),
            id: narrow_u(self.id.0)?,
            merchant: self.merchant.0,
            customer: self.customer.0,
            amount: narrow_i(self.amount.minor)?,
            currency: self.amount.currency.code(),
            captured: narrow_i(self.captured_minor)?,
            refunded: narrow_i(self.refunded_minor)?,
            reserved: narrow_i(self.refund_reserved_minor)?,
            ..Self::SPILLED
        };
        let b = &mut p.bits;
        b.put(0, 3, index_of(&Method::ALL, &self.method)?)?;
        b.put(3, 3, index_of(&Status::ALL, &self.status)?)?;
        let decline = match self.decline {
            Some(d) => index_of(&DeclineReason::ALL, &d)? + 1,
            None => 0,
        };
        b.put(6, 3, decline)?;
        b.put(9, 1, u32::from(self.callback))?;
        b.put(10, 1, u32::from(self.busy))?;
        b.put(11, 1, u32::from(self.key.is_some()))?;
        let (rail, rail_network) = match self.rail {
            None => (0, 0),
            Some(Rail::Card(n)) => (1, n.0),
            Some(Rail::Qr) => (2, 0),
            Some(Rail::BankInstant) => (3, 0),
            Some(Rail::BankBatch) => (4, 0),
        };
        b.put(12, 3, rail)?;
        b.put(15, 1, u32::from(self.network.is_some()))?;
        b.put(16, 1, 1)?;
        b.put(17, 8, u32::from(self.network.map_or(0, |n| n.0)))?;
        p.route
            .put(0, 17, self.issuer.map_or(0, |i| u32::from(i.0) + 1))?;
        p.route.put(17, 8, u32::from(rail_network))?;
        Some(p)
    }

    fn unpack(p: &PackedRecord) -> PaymentRecord {
        let b = p.bits;
        let decline = b.get(6, 3) as usize;
        let rail_network = NetworkId(p.route.get(17, 8) as u8);
        let issuer = p.route.get(0, 17);
        PaymentRecord {
            id: PaymentId(u64::from(p.id)),
            merchant: MerchantId(p.merchant),
            customer: CustomerId(p.customer),
            amount: Money::new(i64::from(p.amount), Currency::from_code(p.currency)),
            method: Method::ALL[b.get(0, 3) as usize % Method::ALL.len()],
            key: b.flag(11).then_some(IdemKey(p.key)),
            rail: match b.get(12, 3) {
                1 => Some(Rail::Card(rail_network)),
                2 => Some(Rail::Qr),
                3 => Some(Rail::BankInstant),
                4 => Some(Rail::BankBatch),
                _ => None,
            },
            issuer: (issuer > 0).then(|| IssuerId((issuer - 1) as u16)),
            network: b.flag(15).then(|| NetworkId(b.get(17, 8) as u8)),
            status: Status::ALL[b.get(3, 3) as usize % Status::ALL.len()],
            captured_minor: i64::from(p.captured),
            refunded_minor: i64::from(p.refunded),
            refund_reserved_minor: i64::from(p.reserved),
            decline: (decline > 0)
                .then(|| DeclineReason::ALL[(decline - 1) % DeclineReason::ALL.len()]),
            callback: b.flag(9),
            busy: b.flag(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64) -> PaymentRecord {
        PaymentRecord {
            id: PaymentId(id),
            merchant: MerchantId(0),
            customer: CustomerId(0),
            amount: Money::new(1, Currency::USD),
            method: Method::QrWallet,
            key: None,
            rail: None,
            issuer: None,
            network: None,
            status: Status::Processing,
            captured_minor: 0,
            refunded_minor: 0,
            refund_reserved_minor: 0,
            decline: None,
            callback: false,
            busy: false,
        }
    }

    #[test]
    fn table_keeps_holes_and_id_order() {
        let mut t = PaymentTable::with_capacity(2);
        t.insert(PaymentId(3), rec(3));
        t.insert(PaymentId(1), rec(1));
        assert!(t.get(&PaymentId(2)).is_none());
        assert!(t.get(&PaymentId(0)).is_none(), "id 0 is never issued");
        assert!(t.get(&PaymentId(9)).is_none());
        t.update(&PaymentId(3), |r| r.captured_minor = 5).unwrap();
        assert_eq!(t.update(&PaymentId(2), |r| r.captured_minor = 5), None);
        let ids: Vec<u64> = t.values().map(|r| r.id.0).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(t.get(&PaymentId(3)).unwrap().captured_minor, 5);
        assert_eq!(std::mem::size_of::<PackedRecord>(), 48);
    }

    /// Every field comes back as written, in the packed row or spilled.
    #[test]
    fn rows_round_trip_packed_or_spilled() {
        let mut t = PaymentTable::with_capacity(0);
        let mut wide = rec(4);
        wide.captured_minor = i64::MAX;
        let rows = [
            PaymentRecord {
                key: Some(IdemKey(u64::MAX)),
                rail: Some(Rail::Card(NetworkId(255))),
                issuer: Some(IssuerId(u16::MAX)),
                network: Some(NetworkId(7)),
                status: Status::Refunded,
                method: Method::BankBatch,
                decline: Some(DeclineReason::SuspectedFraud),
                callback: true,
                busy: true,
                amount: Money::new(-5, Currency::parse("CNY").unwrap()),
                ..rec(1)
            },
            PaymentRecord {
                rail: Some(Rail::BankInstant),
                issuer: Some(IssuerId(0)),
                key: Some(IdemKey(0)),
                ..rec(2)
            },
            PaymentRecord {
                rail: Some(Rail::Qr),
                ..rec(3)
            },
            wide,
            rec(u64::from(u32::MAX) + 1),
        ];
        for r in rows {
            t.insert(r.id, r);
        }
        for r in rows {
            assert_eq!(t.get(&r.id), Some(r));
        }
    }
}
