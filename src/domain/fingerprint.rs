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
