//! The payment table: one row per payment, the gateway's source of truth for
//! status and amounts. A row is locked by its `busy` flag while an operation
//! talks to the network, so a capture and a void can never both proceed.

use crate::domain::{
    CustomerId, DeclineReason, IdemKey, IssuerId, MerchantId, Method, Money, NetworkId, PaymentId,
    PaymentView, Rail, Status,
};

#[derive(Clone, Copy, Debug)]
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
/// 1, so a vector beats a hash map: no hashing, no per-entry key, no empty
/// buckets — 88 bytes a payment. Ids never inserted (a keyless duplicate
/// caught by the dedup window consumes one) stay empty.
#[derive(Default)]
pub struct PaymentTable {
    rows: Vec<Option<PaymentRecord>>,
}

impl PaymentTable {
    pub fn with_capacity(n: usize) -> PaymentTable {
        PaymentTable {
            rows: Vec::with_capacity(n),
        }
    }

    fn index(id: &PaymentId) -> usize {
        (id.0 as usize).wrapping_sub(1)
    }

    pub fn insert(&mut self, id: PaymentId, rec: PaymentRecord) {
        let i = Self::index(&id);
        if i >= self.rows.len() {
            self.rows.resize(i + 1, None);
        }
        self.rows[i] = Some(rec);
    }

    pub fn get(&self, id: &PaymentId) -> Option<&PaymentRecord> {
        self.rows.get(Self::index(id)).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, id: &PaymentId) -> Option<&mut PaymentRecord> {
        self.rows.get_mut(Self::index(id)).and_then(Option::as_mut)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut PaymentRecord> {
        self.rows.iter_mut().flatten()
    }

    /// Every payment, in id order.
    pub fn values(&self) -> impl Iterator<Item = &PaymentRecord> {
        self.rows.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, MerchantId};

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
        t.get_mut(&PaymentId(3)).unwrap().captured_minor = 5;
        let ids: Vec<u64> = t.values().map(|r| r.id.0).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(t.get(&PaymentId(3)).unwrap().captured_minor, 5);
        assert_eq!(
            std::mem::size_of::<Option<PaymentRecord>>(),
            std::mem::size_of::<PaymentRecord>()
        );
    }
}
