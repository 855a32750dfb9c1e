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
    /// Empty buckets `width_us` wide (a power-of-two multiple of
    /// [`FIRST_WIDTH_US`], as every series' width is), so series of other
    /// runs can be poured in with [`Buckets::absorb_at`].
    pub fn with_width(width_us: u64) -> Buckets<B> {
        Buckets {
            width_us: width_us.max(FIRST_WIDTH_US),
            buckets: Vec::new(),
        }
    }

    /// Adds `b`, a bucket of another series that started at `start_us` and
    /// is at most as wide as these (its width divides theirs), into the
    /// bucket covering it: how runs merge and how a finer series joins a
    /// coarser one.
    pub fn absorb_at(&mut self, start_us: u64, b: B) {
        self.at(start_us).absorb(b);
    }

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

    /// The buckets, owned.
    pub fn into_vec(self) -> Vec<B> {
        self.buckets
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
