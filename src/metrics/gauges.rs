//! The stack's depths over time, sampled once a simulated second while the
//! load runs: webhook events not yet delivered or dead-lettered (the queue
//! and the deliveries in retry), the dead-letter queue's size, and
//! downstream messages whose outcome is still unknown. Same bounded buckets
//! as the time series; a bucket keeps the highest sample it saw.

use super::buckets::{Absorb, Buckets};

#[derive(Clone, Copy, Default)]
struct GaugeBucket {
    webhooks_outstanding: u64,
    dead_lettered: u64,
    unresolved: u64,
    sampled: bool,
}

impl Absorb for GaugeBucket {
    fn absorb(&mut self, later: GaugeBucket) {
        self.webhooks_outstanding = self.webhooks_outstanding.max(later.webhooks_outstanding);
        self.dead_lettered = self.dead_lettered.max(later.dead_lettered);
        self.unresolved = self.unresolved.max(later.unresolved);
        self.sampled |= later.sampled;
    }
}

/// One sample of the stack.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    pub webhooks_outstanding: u64,
    /// Dead-lettered so far (a running total: the queue's size).
    pub dead_lettered: u64,
    pub unresolved: u64,
}

#[derive(Default)]
pub struct Gauges {
    buckets: Buckets<GaugeBucket>,
}

impl Gauges {
    pub fn sample(&mut self, at_us: u64, s: Sample) {
        let b = self.buckets.at(at_us);
        b.absorb(GaugeBucket {
            webhooks_outstanding: s.webhooks_outstanding,
            dead_lettered: s.dead_lettered,
            unresolved: s.unresolved,
            sampled: true,
        });
    }

    pub fn report(&self) -> GaugesReport {
        let buckets = self.buckets.as_slice();
        let width_us = self.buckets.width_us();
        let pick = |f: fn(&GaugeBucket) -> u64| {
            buckets
                .iter()
                .map(|b| b.sampled.then(|| f(b)))
                .collect::<Vec<_>>()
        };
        GaugesReport {
            bucket_s: width_us / 1_000_000,
            t_s: (0..buckets.len() as u64)
                .map(|i| i * width_us / 1_000_000)
                .collect(),
            webhooks_outstanding_max: pick(|b| b.webhooks_outstanding),
            dead_lettered: pick(|b| b.dead_lettered),
            unresolved_max: pick(|b| b.unresolved),
        }
    }
}

/// results.json's `gauges`: parallel arrays per bucket (`null` where no
/// sample fell).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GaugesReport {
    pub bucket_s: u64,
    pub t_s: Vec<u64>,
    pub webhooks_outstanding_max: Vec<Option<u64>>,
    pub dead_lettered: Vec<Option<u64>>,
    pub unresolved_max: Vec<Option<u64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_keeps_its_highest_sample() {
        let mut g = Gauges::default();
        let s = |w, d| Sample {
            webhooks_outstanding: w,
            dead_lettered: d,
            unresolved: 0,
        };
        g.sample(0, s(5, 0));
        g.sample(500_000, s(9, 1));
        g.sample(2_000_000, s(2, 1));
        let r = g.report();
        assert_eq!(r.webhooks_outstanding_max, [Some(9), None, Some(2)]);
        assert_eq!(r.dead_lettered, [Some(1), None, Some(1)]);
    }
}
