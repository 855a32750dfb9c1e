//! A fixed, seedless 64-bit hash for fingerprints (request parameters, webhook
//! payloads) and for hash maps whose behaviour must not vary between runs.
//! Deterministic across runs and platforms, unlike std's `RandomState`.

use std::hash::Hasher;

pub use rustc_hash::{FxHashMap, FxHashSet};

/// FNV-1a over bytes, then a final avalanche, so similar inputs spread.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

/// A fingerprint of a webhook body, eight bytes a step: the checker only
/// compares two of them for equality (was the payload delivered as
/// emitted?), and every event is hashed twice (emitted, then received);
/// byte at a time, with [`hash_bytes`], that cost 1,200 to 1,900 more
/// instructions a payment (`benches/instructions.sh`). Kept apart from `hash_bytes` because that one also derives the
/// random streams: changing it would change every run's draws.
pub fn hash_payload(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        h = (h ^ w).wrapping_mul(K);
        h ^= h >> 29;
    }
    let mut tail = [0u8; 8];
    tail[..words.remainder().len()].copy_from_slice(words.remainder());
    h = (h ^ u64::from_le_bytes(tail)).wrapping_mul(K);
    mix(h)
}

/// Hashes a sequence of integers (cheaper than formatting them).
pub fn hash_words(words: &[u64]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    for w in words {
        h.write_u64(*w);
    }
    mix(h.finish())
}

/// SplitMix64's finaliser.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_hash_changes_with_any_byte_and_with_the_length() {
        let body = br#"{"id":"evt_7","type":"payment.captured","amount":1250}"#;
        let base = hash_payload(body);
        assert_eq!(base, hash_payload(body), "not deterministic");
        // One bit flipped anywhere, in the whole words and in the tail.
        for i in 0..body.len() {
            let mut changed = body.to_vec();
            changed[i] ^= 1;
            assert_ne!(hash_payload(&changed), base, "byte {i} did not count");
        }
        // Trailing zero bytes are not padding: the length counts.
        let mut longer = body.to_vec();
        longer.push(0);
        assert_ne!(hash_payload(&longer), base);
        assert_ne!(hash_payload(b""), hash_payload(&[0]));
    }
}
