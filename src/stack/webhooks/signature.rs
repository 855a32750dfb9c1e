//! Webhook signatures, as Stripe signs them: HMAC-SHA256 over
//! `"{unix_seconds}.{body}"` with the merchant's secret, sent as
//! `Paystorm-Signature: t=<seconds>,v1=<hex>`. Receivers recompute it and
//! compare in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub type Mac32 = [u8; 32];

/// Signs with `secret`: a merchant's 32-byte key in process, the bytes of
/// a `whsec_...` string for an endpoint registered over HTTP (as Stripe).
pub fn sign(secret: &[u8], t_s: u64, body: &[u8]) -> Mac32 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    let ts = itoa_buf(t_s);
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Constant-time check of a received signature.
pub fn verify(secret: &[u8], t_s: u64, body: &[u8], signature: &Mac32) -> bool {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    let ts = itoa_buf(t_s);
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(signature).is_ok()
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

/// Decimal digits of `n` without allocating.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: u64) -> Digits {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Digits { buf, start: i }
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
