//! Identifiers as they travel over HTTP: strings with a prefix (`pay_17`,
//! `cus_3`, `tok_…`), parsed back into the integer ids the stack uses inside.
//! Both the server and the client use these, so the two cannot drift.

use sha2::{Digest, Sha256};

use crate::domain::{CustomerId, DeviceId, IdemKey, PaymentId, RefundId, Token};

/// Stripe's limit on an idempotency key's length, in characters.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// How a payment id starts on the wire (`pay_17`).
pub const PAYMENT_PREFIX: &str = "pay_";

/// Parses `<prefix><decimal>` into its number; `None` for anything else
/// (another prefix, a sign, leading zeros, overflow, trailing text).
/// Checked without allocating: the server parses an id in most requests and
/// the client one in most answers.
fn number<T: std::str::FromStr>(text: &str, prefix: &str) -> Option<T> {
    let digits = text.strip_prefix(prefix)?;
    // Only the canonical spelling: `pay_007` or `pay_+7` is not `pay_7`.
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

pub fn payment_id(text: &str) -> Option<PaymentId> {
    number(text, PAYMENT_PREFIX).map(PaymentId)
}

pub fn refund_id(text: &str) -> Option<RefundId> {
    number(text, "re_").map(RefundId)
}

pub fn customer_id(text: &str) -> Option<CustomerId> {
    number(text, "cus_").map(CustomerId)
}

pub fn token(text: &str) -> Option<Token> {
    number(text, "tok_").map(Token)
}

pub fn device(text: &str) -> Option<DeviceId> {
    number(text, "dev_").map(DeviceId)
}

pub fn token_text(t: Token) -> String {
    format!("tok_{}", t.0)
}

pub fn device_text(d: DeviceId) -> String {
    format!("dev_{}", d.0)
}

/// Why an `Idempotency-Key` header was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    Empty,
    TooLong { chars: usize },
}

/// Maps an `Idempotency-Key` header to the stack's key type. The stack scopes
/// keys by merchant itself (as Stripe scopes them by account), so the same
/// string from two merchants never collides.
///
/// The generator's own keys (`key_<n>`, n < 2^63, the domain's `Display`)
/// map to `IdemKey(n)`, so the checker matches the client's history with the
/// stack's audit trail exactly as in sim mode; any other string maps to the
/// first 63 bits of its SHA-256 with the top bit set, a space the canonical
/// form never reaches (a collision needs about 3 billion keys per merchant).
pub fn idempotency_key(text: &str) -> Result<IdemKey, KeyProblem> {
    let chars = text.chars().count();
    if chars == 0 {
        return Err(KeyProblem::Empty);
    }
    if chars > IDEMPOTENCY_KEY_CHARS_MAX {
        return Err(KeyProblem::TooLong { chars });
    }
    if let Some(n) = number::<u64>(text, "key_").filter(|n| *n < 1 << 63) {
        return Ok(IdemKey(n));
    }
    let digest = Sha256::digest(text.as_bytes());
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest[..8]);
    Ok(IdemKey(u64::from_be_bytes(word) | 1 << 63))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_only_in_canonical_form() {
        assert_eq!(payment_id("pay_17"), Some(PaymentId(17)));
        assert_eq!(payment_id(&PaymentId(9).to_string()), Some(PaymentId(9)));
        assert_eq!(payment_id("pay_0"), Some(PaymentId(0)));
        for bad in [
            "pay_",
            "pay_07",
            "pay_+7",
            "pay_-1",
            "pay_1x",
            "re_1",
            "",
            "pay_99999999999999999999",
        ] {
            assert_eq!(payment_id(bad), None, "{bad}");
        }
        assert_eq!(customer_id("cus_4294967296"), None);
    }

    #[test]
    fn generator_keys_keep_their_number_and_others_land_above_it() {
        assert_eq!(idempotency_key("key_65536"), Ok(IdemKey(65536)));
        let other = idempotency_key("order-2026-11-27-0001").unwrap();
        assert!(other.0 >= 1 << 63);
        assert_eq!(idempotency_key("order-2026-11-27-0001"), Ok(other));
        assert_ne!(idempotency_key("key_065536").unwrap(), IdemKey(65536));
        assert_eq!(idempotency_key(""), Err(KeyProblem::Empty));
        assert!(idempotency_key(&"k".repeat(255)).is_ok());
        assert_eq!(
            idempotency_key(&"k".repeat(256)),
            Err(KeyProblem::TooLong { chars: 256 })
        );
    }
}
