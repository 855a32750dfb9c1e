//! Integer identifiers. Inside the stack every id is an integer: no `String`
//! keys on the hot path. The API edge renders them with a prefix when a person
//! has to read one (`pay_…`, `key_…`).

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub $inner);

        impl $name {
            /// What the id's rendering starts with.
            pub const PREFIX: &'static str = $prefix;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

id_type!(
    /// A payment created by the gateway.
    PaymentId(u64), "pay_"
);
id_type!(
    /// A refund of (part of) a payment.
    RefundId(u64), "re_"
);
id_type!(
    /// An idempotency key. Keys are scoped per merchant, as in Stripe's API.
    IdemKey(u64), "key_"
);
/// Idempotency keys to size a table for, for `payments` payments: about
/// 1.25 a payment (captures, voids and refunds carry keys of their own;
/// the million benchmark retains 1.23). The gateway's pruning queue is
/// sized by it (its key table, as the checker's, has two slots a journey).
pub fn keys_for_payments(payments: usize) -> usize {
    payments.saturating_mul(5) / 4
}

id_type!(MerchantId(u32), "mer_");
id_type!(CustomerId(u32), "cus_");
id_type!(IssuerId(u16), "iss_");
id_type!(NetworkId(u8), "net_");
id_type!(
    /// A webhook event; the same id always carries the same payload.
    EventId(u64), "evt_"
);
id_type!(
    /// One settlement batch of the acquirer.
    BatchId(u32), "batch_"
);
id_type!(
    /// One client operation in the history (one attempt of one request).
    OpId(u64), "op_"
);
id_type!(
    /// One double-entry journal entry.
    EntryId(u64), "je_"
);
