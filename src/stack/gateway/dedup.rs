//! The dedup window for requests without an idempotency key: an identical
//! (customer, merchant, amount) request within the window is a duplicate (the
//! double click of a legacy checkout), handled by policy.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::domain::fingerprint::FxHashMap;
use crate::domain::{CustomerId, MerchantId, PaymentId};
use crate::lock::Locked;

type DedupKey = (CustomerId, MerchantId, i64);

#[derive(Default)]
struct Inner {
    seen: FxHashMap<DedupKey, (u64, PaymentId)>,
    order: VecDeque<(u64, DedupKey)>,
}

pub struct DedupWindow {
    window_us: u64,
    inner: Mutex<Inner>,
}

impl DedupWindow {
    pub fn new(window_s: f64) -> DedupWindow {
        DedupWindow {
            window_us: (window_s * 1e6) as u64,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Returns the earlier payment if this request duplicates one within the
    /// window; otherwise remembers it under `payment`.
    /// A crash of a window kept in memory: it remembers nothing.
    pub fn forget_everything(&self) {
        let mut inner = self.inner.locked();
        inner.seen.clear();
        inner.order.clear();
    }

    pub fn check_or_insert(
        &self,
        customer: CustomerId,
        merchant: MerchantId,
        amount_minor: i64,
        now_us: u64,
        payment: PaymentId,
    ) -> Option<PaymentId> {
        let mut inner = self.inner.locked();
        // Forget what fell out of the window (bounded by the window's traffic).
        while let Some(&(at, k)) = inner.order.front() {
            if now_us.saturating_sub(at) < self.window_us {
                break;
            }
            inner.order.pop_front();
            if inner.seen.get(&k).is_some_and(|(t, _)| *t == at) {
                inner.seen.remove(&k);
            }
        }
        let key = (customer, merchant, amount_minor);
        if let Some((_, earlier)) = inner.seen.get(&key) {
            return Some(*earlier);
        }
        inner.seen.insert(key, (now_us, payment));
        inner.order.push_back((now_us, key));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_caught_only_within_the_window() {
        let w = DedupWindow::new(10.0);
        let (c, m) = (CustomerId(1), MerchantId(2));
        assert_eq!(w.check_or_insert(c, m, 500, 0, PaymentId(1)), None);
        assert_eq!(
            w.check_or_insert(c, m, 500, 9_000_000, PaymentId(2)),
            Some(PaymentId(1))
        );
        assert_eq!(
            w.check_or_insert(c, m, 501, 9_000_000, PaymentId(3)),
            None,
            "other amount"
        );
        assert_eq!(
            w.check_or_insert(c, m, 500, 10_000_001, PaymentId(4)),
            None,
            "window passed"
        );
    }
}
