//! Webhook signatures, as Stripe signs them: HMAC-SHA256 over
//! `"{unix_seconds}.{body}"` with the merchant's secret, sent as
//! `Paystorm-Signature: t=<seconds>,v1=<hex>`. Receivers recompute it and
//! compare in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub type Mac32 = [u8; 32];

/// A secret with HMAC's key schedule done: the two SHA-256 blocks of the
/// padded key are hashed once, when the key is made, instead of in every
/// signature (an event is signed and verified once per attempt, and those
/// two blocks were nearly a third of the hashing).
#[derive(Clone)]
pub struct SigningKey(HmacSha256);

impl SigningKey {
    /// `secret`: a merchant's 32-byte key in process, the bytes of a
    /// `whsec_...` string for an endpoint registered over HTTP (as Stripe).
    pub fn new(secret: &[u8]) -> SigningKey {
        SigningKey(HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length"))
    }

    fn over(&self, t_s: u64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(itoa::Buffer::new().format(t_s).as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    pub fn sign(&self, t_s: u64, body: &[u8]) -> Mac32 {
        self.over(t_s, body).finalize().into_bytes().into()
    }

    /// Constant-time check of a received signature.
    pub fn verify(&self, t_s: u64, body: &[u8], signature: &Mac32) -> bool {
        self.over(t_s, body).verify_slice(signature).is_ok()
    }
}

/// Never prints the key.
impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

/// Signs with `secret` (see [`SigningKey::new`] for what a secret is).
pub fn sign(secret: &[u8], t_s: u64, body: &[u8]) -> Mac32 {
    SigningKey::new(secret).sign(t_s, body)
}

/// Constant-time check of a received signature.
pub fn verify(secret: &[u8], t_s: u64, body: &[u8], signature: &Mac32) -> bool {
    SigningKey::new(secret).verify(t_s, body, signature)
}

/// The header value, for transports that send one (live mode).
pub fn header(t_s: u64, signature: &Mac32) -> String {
    format!("t={t_s},v1={}", hex::encode(signature))
}

/// Reads a `Paystorm-Signature` header: `t=<seconds>,v1=<hex>` (other
/// schemes, as Stripe sends `v0` beside `v1`, are skipped). `None` if it
/// has no timestamp or no well-formed `v1`.
pub fn parse_header(value: &str) -> Option<(u64, Mac32)> {
    let mut t = None;
    let mut v1 = None;
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", s)) => t = s.parse::<u64>().ok(),
            Some(("v1", h)) => {
                let mut mac = [0u8; 32];
                if hex::decode_to_slice(h, &mut mac).is_ok() {
                    v1 = Some(mac);
                }
            }
            _ => {}
        }
    }
    Some((t?, v1?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_reference_hmac() {
        // HMAC-SHA256(key = 32 x 0x0b, "1700000000.{}"), computed with Python's hmac module.
        let secret = [0x0b; 32];
        let sig = sign(&secret, 1_700_000_000, b"{}");
        assert_eq!(
            header(1_700_000_000, &sig),
            "t=1700000000,v1=943eb17e669b75864224700e3b506ef93d10a0596eef3b7626af941cf1734edc"
        );
        assert!(verify(&secret, 1_700_000_000, b"{}", &sig));
        assert!(
            !verify(&secret, 1_700_000_001, b"{}", &sig),
            "timestamp is signed"
        );
        assert!(
            !verify(&secret, 1_700_000_000, b"{ }", &sig),
            "body is signed"
        );
        assert!(
            !verify(&[0x0c; 32], 1_700_000_000, b"{}", &sig),
            "secret matters"
        );
    }

    /// A key made once signs every message as a fresh one would: signing
    /// does not consume or change it.
    #[test]
    fn a_reused_key_signs_as_a_fresh_one() {
        let secret = [0x0b; 32];
        let key = SigningKey::new(&secret);
        for (t, body) in [
            (1_700_000_000, &b"{}"[..]),
            (1_700_000_001, b"{\"a\":1}"),
            (1_700_000_000, b"{}"),
        ] {
            let sig = key.sign(t, body);
            assert_eq!(sig, sign(&secret, t, body));
            assert!(key.verify(t, body, &sig));
            assert!(!key.verify(t + 1, body, &sig));
        }
        assert_eq!(format!("{key:?}"), "SigningKey(..)");
    }

    #[test]
    fn a_header_reads_back_and_a_malformed_one_does_not() {
        let sig = sign(b"whsec_abc", 1_700_000_000, b"{}");
        let h = header(1_700_000_000, &sig);
        assert_eq!(parse_header(&h), Some((1_700_000_000, sig)));
        assert_eq!(
            parse_header(&format!("v0=00,{h}")),
            Some((1_700_000_000, sig))
        );
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "t=1,v1=abcd"] {
            assert_eq!(parse_header(bad), None, "{bad}");
        }
    }
}
