//! Asking the memory system for a cache line ahead of its use.
//!
//! Why: a run's per-payment tables are far larger than the caches, so most
//! lookups wait for memory. Where a loop knows what it will touch a few
//! steps ahead (the sim executor's calendar, the checker's chunk of
//! records) it asks for it now and the fetches overlap the work between.
//!
//! A prefetch is a hint: it never faults, whatever the address, and changes
//! nothing a program can observe but time. On targets without one it is a
//! no-op.

/// A cache line's size on the machines paystorm runs on.
pub const LINE: usize = 64;

/// Asks for the cache line holding `p`.
#[inline(always)]
pub fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` only hints the cache; it reads nothing the
    // program sees and never faults, for any address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
