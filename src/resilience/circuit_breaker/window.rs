//! The breaker's sliding window: the last N calls (a ring of outcomes) or
//! the calls of the last N seconds (a ring of one-second buckets). Either
//! keeps running sums, so a decision costs O(1).

use super::WindowKind;

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub calls: u64,
    pub failures: u64,
    pub slow: u64,
}

impl Counts {
    pub fn add(&mut self, failed: bool, slow: bool) {
        self.calls += 1;
        self.failures += u64::from(failed);
        self.slow += u64::from(slow);
    }

    fn sub(&mut self, other: &Counts) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.slow -= other.slow;
    }

    fn plus(&mut self, other: &Counts) {
        self.calls += other.calls;
        self.failures += other.failures;
        self.slow += other.slow;
    }
}

pub enum SlidingWindow {
    /// Outcomes of the last N calls as (failed, slow), oldest overwritten.
    Count {
        ring: Vec<(bool, bool)>,
        next: usize,
        sum: Counts,
    },
    /// One bucket per second for the last N seconds: (second, counts).
    Time {
        ring: Vec<(u64, Counts)>,
        sum: Counts,
    },
}

impl SlidingWindow {
    pub fn new(kind: WindowKind, size: u32) -> SlidingWindow {
        let size = size.max(1) as usize;
        match kind {
            WindowKind::Count => SlidingWindow::Count {
                ring: Vec::with_capacity(size),
                next: 0,
                sum: Counts::default(),
            },
            WindowKind::Time => SlidingWindow::Time {
                ring: vec![(u64::MAX, Counts::default()); size],
                sum: Counts::default(),
            },
        }
    }

    pub fn add(&mut self, now_us: u64, failed: bool, slow: bool) {
        match self {
            SlidingWindow::Count { ring, next, sum } => {
                if ring.len() < ring.capacity() {
                    ring.push((failed, slow));
                } else {
                    let (f, s) = ring[*next];
                    sum.sub(&Counts {
                        calls: 1,
                        failures: u64::from(f),
                        slow: u64::from(s),
                    });
                    ring[*next] = (failed, slow);
                    *next = (*next + 1) % ring.len();
                }
                sum.add(failed, slow);
            }
            SlidingWindow::Time { .. } => {
                self.expire(now_us);
                if let SlidingWindow::Time { ring, sum } = self {
                    let second = now_us / 1_000_000;
                    let n = ring.len();
                    let slot = &mut ring[(second % n as u64) as usize];
                    if slot.0 != second {
                        *slot = (second, Counts::default());
                    }
                    slot.1.add(failed, slow);
                    sum.add(failed, slow);
                }
            }
        }
    }

    /// Drops the buckets older than the window (time windows only).
    fn expire(&mut self, now_us: u64) {
        if let SlidingWindow::Time { ring, sum } = self {
            let second = now_us / 1_000_000;
            let n = ring.len() as u64;
            let mut fresh = Counts::default();
            for slot in ring.iter_mut() {
                if slot.0 != u64::MAX && slot.0 + n <= second {
                    *slot = (u64::MAX, Counts::default());
                }
                if slot.0 != u64::MAX {
                    fresh.plus(&slot.1);
                }
            }
            *sum = fresh;
        }
    }

    pub fn counts(&mut self, now_us: u64) -> Counts {
        self.expire(now_us);
        match self {
            SlidingWindow::Count { sum, .. } | SlidingWindow::Time { sum, .. } => *sum,
        }
    }

    pub fn clear(&mut self) {
        match self {
            SlidingWindow::Count { ring, next, sum } => {
                ring.clear();
                *next = 0;
                *sum = Counts::default();
            }
            SlidingWindow::Time { ring, sum } => {
                ring.iter_mut()
                    .for_each(|s| *s = (u64::MAX, Counts::default()));
                *sum = Counts::default();
            }
        }
    }
}
