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

const MIX_1: u64 = 0xbf58_476d_1ce4_e5b9;
const MIX_2: u64 = 0x94d0_49bb_1331_11eb;

/// SplitMix64's finaliser. A bijection of `u64` ([`unmix`] undoes it).
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(MIX_1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX_2);
    z ^ (z >> 31)
}

/// The `x` with `mix(x) == z`: a number that looks random can carry an
/// index and be looked up without a hash table (the token vault's tokens).
pub fn unmix(mut z: u64) -> u64 {
    z = unshift(z, 31).wrapping_mul(inverse(MIX_2));
    z = unshift(z, 27).wrapping_mul(inverse(MIX_1));
    unshift(z, 30)
}

/// The `x` with `x ^ (x >> k) == y`.
fn unshift(y: u64, k: u32) -> u64 {
    let mut x = y;
    for _ in 0..64u32.div_ceil(k) {
        x = y ^ (x >> k);
    }
    x
}

/// The multiplicative inverse of an odd `c` modulo 2^64 (Newton's
/// iteration: each step doubles the bits that are right).
const fn inverse(c: u64) -> u64 {
    let mut x = c;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(c.wrapping_mul(x)));
        i += 1;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmix_undoes_mix() {
        assert_eq!(MIX_1.wrapping_mul(inverse(MIX_1)), 1);
        assert_eq!(MIX_2.wrapping_mul(inverse(MIX_2)), 1);
        let mut z = 0x1234_5678_9abc_def0u64;
        for x in [0, 1, 2, u64::MAX, 1 << 63, 42] {
            assert_eq!(unmix(mix(x)), x);
        }
        for _ in 0..10_000 {
            z = mix(z.wrapping_add(1));
            assert_eq!(unmix(mix(z)), z);
            assert_eq!(mix(unmix(z)), z);
        }
    }

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
