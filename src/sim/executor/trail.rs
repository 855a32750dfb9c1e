//! The path a task's poll took through boxed futures, kept so the next
//! poll's path can be asked for ahead of it.
//!
//! Why: a payment's futures nest, and every hop of a request keeps its part
//! on the heap behind a box ([`super::Boxed`]) so that the many tasks
//! asleep stay small. A wake resumes the chain from the top: the task's
//! future, then each box on the way down to what woke it, each a cold line
//! the poll waits for in turn. The top and the bottom (the sleep that fired)
//! are known to the executor anyway; the boxes between are recorded here as
//! the poll passes them. A task pending on the same await resumes through
//! the same boxes, so the last pending poll's trail predicts the next one.

use std::cell::Cell;

use super::prefetch::LINE;

/// Boxes remembered per task, the outermost kept when there are more (a
/// client's request passes the journey's step, the client's send, the
/// gateway's serve, then the network's and the issuer's guards). With the
/// slot's other fields, one cache line. Recording the gateway's handler
/// box too, and 8 boxes in a two-line slot, measured no better (0.996,
/// 1.002).
pub(super) const LEN: usize = 5;

/// Lines asked for per box: the start of its future's state (no more, as
/// a wake fetches several boxes at once). On the million benchmark 8 did
/// no better (0.997, 5 pairs of 7) and 2 worse (1.013, 6 of 7).
const LINES: usize = 4;

/// Address bits kept: x86_64 user addresses fit in 47 bits (56 with
/// five-level paging). An address that does not fit only makes a useless
/// hint.
const ADDRESS_BITS: u32 = 56;

/// A box's address and how many lines of it to ask for, in one word.
pub(super) fn pack(address: usize, bytes: usize) -> usize {
    let lines = bytes.div_ceil(LINE).clamp(1, LINES);
    (address & ((1 << ADDRESS_BITS) - 1)) | (lines << ADDRESS_BITS)
}

/// The boxes the poll in progress has passed and not yet left finished.
#[derive(Default)]
pub(super) struct Trail {
    boxes: [Cell<usize>; LEN],
    /// Boxes entered and not left, which may exceed [`LEN`] (the excess is
    /// not recorded).
    depth: Cell<usize>,
}

impl Trail {
    pub(super) fn clear(&self) {
        self.depth.set(0);
    }

    /// Records a box the poll enters; returns the depth to go back to if it
    /// finishes ([`Trail::leave`]).
    pub(super) fn enter(&self, packed: usize) -> usize {
        let depth = self.depth.get();
        if let Some(b) = self.boxes.get(depth) {
            b.set(packed);
        }
        self.depth.set(depth + 1);
        depth
    }

    /// A box finished: it and whatever it entered will not be polled again.
    pub(super) fn leave(&self, depth: usize) {
        self.depth.set(depth);
    }

    /// The trail of the poll that just returned `Pending`, for its slot.
    pub(super) fn taken(&self) -> [usize; LEN] {
        let depth = self.depth.get();
        std::array::from_fn(|i| if i < depth { self.boxes[i].get() } else { 0 })
    }
}

/// Asks for the boxes of a trail.
pub(super) fn prefetch(trail: &[usize; LEN]) {
    for &packed in trail {
        if packed == 0 {
            break;
        }
        let start = (packed & ((1 << ADDRESS_BITS) - 1)) as *const u8;
        super::prefetch::bytes(start, (packed >> ADDRESS_BITS) * LINE);
    }
}
