//! Buckets of simulated time with bounded memory whatever the run's length:
//! at most [`MAX_BUCKETS`]. They start one simulated second wide; when a run
//! outgrows them, adjacent pairs merge and the width doubles (a 24-hour run
//! ends with 64 s buckets). The run's time series and every SLO's series
//! share this shape, so their buckets line up.

/// The most buckets a series keeps.
pub const MAX_BUCKETS: usize = 2_048;

/// Width of the first buckets: one simulated second.
pub const FIRST_WIDTH_US: u64 = 1_000_000;

/// What a bucket holds; two adjacent buckets merge by absorbing.
pub trait Absorb: Default {
    fn absorb(&mut self, later: Self);
}

pub struct Buckets<B> {
    width_us: u64,
    buckets: Vec<B>,
}

impl<B: Absorb> Default for Buckets<B> {
    fn default() -> Buckets<B> {
        Buckets {
            width_us: FIRST_WIDTH_US,
            buckets: Vec::new(),
        }
    }
}

impl<B: Absorb> Buckets<B> {
    /// The bucket holding time `at_us` (coarsening first if need be).
    pub fn at(&mut self, at_us: u64) -> &mut B {
        while at_us / self.width_us >= MAX_BUCKETS as u64 {
            self.coarsen();
        }
        let i = (at_us / self.width_us) as usize;
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, B::default);
        }
        &mut self.buckets[i]
    }

    /// Current bucket width in microseconds.
    pub fn width_us(&self) -> u64 {
        self.width_us
    }

    /// The buckets from time 0 to the last one touched.
    pub fn as_slice(&self) -> &[B] {
        &self.buckets
    }

    /// Merges adjacent pairs and doubles the width.
    fn coarsen(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        let mut merged = Vec::with_capacity(MAX_BUCKETS);
        let mut it = old.into_iter();
        while let Some(mut first) = it.next() {
            if let Some(second) = it.next() {
                first.absorb(second);
            }
            merged.push(first);
        }
        self.buckets = merged;
        self.width_us *= 2;
    }
}
