//! Asking the memory system for what the executor will touch next.
//!
//! Why: the sim thread spends much of its time waiting for memory, not
//! computing. A run keeps tens of thousands of tasks and a hundred thousand
//! timers alive, far more than the caches hold, and each wake lands on a
//! cold line three times over: the timer's slot, the task's slot, and the
//! task's future, whose state the poll reads first (`perf annotate` put the
//! loads of those three at about a fifth of the sim thread's samples). The
//! executor knows each of them several steps ahead — timers due in the same
//! millisecond are fired in a batch, their wakers drained in a batch, the
//! calendar says which task the next instant wakes, and the ready queue is
//! first in, first out — so it can ask for them early and let the fetches
//! overlap the work in between. For the task the next timer wakes it asks
//! for the whole path its poll will take: the future's top, the boxes its
//! last poll went through (`trail.rs`) and the lines around the sleep that
//! fires (`Core::prefetch_upcoming`).
//!
//! The prefetch itself is `crate::prefetch::line`.

/// How many steps ahead the batch loops (timer slots, task slots) ask: each
/// step is a few nanoseconds of work, a fetch from memory a hundred or more.
/// Against 8 on the million benchmark: 16 used 2.2% more CPU (seven pairs
/// of seven), 4 0.6% more (six of seven, not significant).
pub(super) const SLOT_AHEAD: usize = 8;

/// Bytes of a future fetched ahead of its poll. A poll reads the state of
/// the top future first, wherever the compiler put it (the journey's is 416
/// bytes in), and the largest tasks are over a kilobyte. 1,024 used 1% less
/// CPU than 512 on the million benchmark (6 pairs of 7, not significant).
const FUTURE_BYTES: usize = 1024;

pub(super) use crate::prefetch::{line, LINE};

/// Asks for the first [`FUTURE_BYTES`] of the value behind `p` (all of it
/// when smaller).
#[inline(always)]
pub(super) fn value<T: ?Sized>(p: &T) {
    bytes(
        (p as *const T).cast::<u8>(),
        std::mem::size_of_val(p).min(FUTURE_BYTES),
    );
}

/// Asks for the lines holding `len` bytes from `start`.
#[inline(always)]
pub(super) fn bytes(start: *const u8, len: usize) {
    let mut offset = 0;
    while offset < len {
        line(start.wrapping_add(offset));
        offset += LINE;
    }
}

/// Lines either side of a sleep about to fire ([`SLEEPER_BEFORE`] bytes
/// before, [`SLEEPER_AFTER`] after): the state of the future that awaits it,
/// which the poll its wake causes reads last, at the bottom of the chain.
/// On the million benchmark 448 + 192 used 2.4% less CPU than 192 + 128
/// (6 pairs of 7), and 960 + 320 2.1% more (6 of 7).
pub(super) const SLEEPER_BEFORE: usize = 448;
pub(super) const SLEEPER_AFTER: usize = 192;

/// Asks for the lines around `address` (see [`SLEEPER_BEFORE`]).
#[inline(always)]
pub(super) fn around(address: usize) {
    bytes(
        address.saturating_sub(SLEEPER_BEFORE) as *const u8,
        SLEEPER_BEFORE + SLEEPER_AFTER,
    );
}
