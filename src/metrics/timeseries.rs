//! The run over time, per bucket of simulated time: payments offered
//! (arrivals, by intended time), payments completed (by completion time),
//! errors among them, and the corrected-latency p50/p99 of the payments that
//! completed in the bucket.
//!
//! Memory is bounded whatever the run's length (see [`Buckets`]: at most
//! 2,048 buckets, one second wide at first, doubling). Each bucket's latency
//! histogram has 2 significant digits
//! (values within 1%, or within 0.5 ms below 131 ms; 2,176 `u32` counters,
//! 8.5 KiB) and is allocated only once a payment completes in it, so the
//! series never holds more than about 17 MiB.

use hdrhistogram::Histogram;

use super::buckets::{Absorb, Buckets};
use super::latency::us_to_ms;

/// A histogram of 2 significant digits from 1 ms to 1 hour, for a bucket.
pub fn new_histogram() -> Histogram<u32> {
    Histogram::new_with_bounds(1_000, 3_600_000_000, 2).expect("static bounds are valid")
}

/// One bucket of the series. Public so merged runs can rebuild it from
/// their results.json counts and their histogram logs.
#[derive(Default)]
pub struct Bucket {
    pub offered: u64,
    pub completed: u64,
    pub errors: u64,
    pub latency: Option<Histogram<u32>>,
    /// Service time of every attempt sent in the bucket.
    pub service: Option<Histogram<u32>>,
    /// Answers 429 and 503 the clients saw (refused at the door: rate
    /// limited, shed or the gateway down).
    pub rate_limited: u64,
    pub unavailable: u64,
}

/// Adds `theirs` into `mine` (same bounds, so adding cannot fail short of a
/// counter overflowing 2^32 samples in one bucket).
fn merge(mine: &mut Option<Histogram<u32>>, theirs: Option<Histogram<u32>>) {
    match (mine, theirs) {
        (Some(m), Some(t)) => {
            let _ = m.add(&t);
        }
        (m @ None, t) => *m = t,
        (Some(_), None) => {}
    }
}

impl Absorb for Bucket {
    fn absorb(&mut self, other: Bucket) {
        self.offered += other.offered;
        self.completed += other.completed;
        self.errors += other.errors;
        self.rate_limited += other.rate_limited;
        self.unavailable += other.unavailable;
        merge(&mut self.latency, other.latency);
        merge(&mut self.service, other.service);
    }
}

#[derive(Default)]
pub struct TimeSeries {
    buckets: Buckets<Bucket>,
}

impl TimeSeries {
    /// An arrival the generator offered, at its intended time.
    pub fn offered(&mut self, at_us: u64) {
        self.buckets.at(at_us).offered += 1;
    }

    /// A payment (logical create) that ended at `at_us` after `latency_us`
    /// from its intended start; `error` when it failed definitely for a
    /// reason other than a decline, or ended unknown.
    pub fn completed(&mut self, at_us: u64, latency_us: u64, error: bool) {
        let b = self.buckets.at(at_us);
        b.completed += 1;
        b.errors += u64::from(error);
        b.latency
            .get_or_insert_with(new_histogram)
            .saturating_record(latency_us.max(1));
    }

    /// An attempt answered at `at_us` after `service_us` on the wire.
    pub fn served(&mut self, at_us: u64, service_us: u64) {
        self.buckets
            .at(at_us)
            .service
            .get_or_insert_with(new_histogram)
            .saturating_record(service_us.max(1));
    }

    /// A 429 (`rate_limited`) or a 503 a client saw at `at_us`.
    pub fn refused(&mut self, at_us: u64, rate_limited: bool) {
        let b = self.buckets.at(at_us);
        if rate_limited {
            b.rate_limited += 1;
        } else {
            b.unavailable += 1;
        }
    }

    /// Current bucket width in microseconds.
    pub fn width_us(&self) -> u64 {
        self.buckets.width_us()
    }

    /// The buckets from time 0, [`TimeSeries::width_us`] wide.
    pub fn buckets(&self) -> &[Bucket] {
        self.buckets.as_slice()
    }

    /// An empty series of `width_us` buckets, for merging runs into.
    pub fn with_width(width_us: u64) -> TimeSeries {
        TimeSeries {
            buckets: Buckets::with_width(width_us),
        }
    }

    /// Adds another run's bucket that started at `start_us`.
    pub fn absorb_at(&mut self, start_us: u64, b: Bucket) {
        self.buckets.absorb_at(start_us, b);
    }

    pub fn report(&self) -> TimeSeriesReport {
        let q = |h: &Option<Histogram<u32>>, q: f64| {
            h.as_ref()
                .filter(|h| !h.is_empty())
                .map(|h| us_to_ms(h.value_at_quantile(q)))
        };
        let quantile = |b: &Bucket, p: f64| q(&b.latency, p);
        let buckets = self.buckets.as_slice();
        let width_us = self.buckets.width_us();
        TimeSeriesReport {
            bucket_s: width_us / 1_000_000,
            t_s: (0..buckets.len() as u64)
                .map(|i| i * width_us / 1_000_000)
                .collect(),
            offered: buckets.iter().map(|b| b.offered).collect(),
            completed: buckets.iter().map(|b| b.completed).collect(),
            errors: buckets.iter().map(|b| b.errors).collect(),
            p50_ms: buckets.iter().map(|b| quantile(b, 0.50)).collect(),
            p99_ms: buckets.iter().map(|b| quantile(b, 0.99)).collect(),
            service_p99_ms: buckets.iter().map(|b| q(&b.service, 0.99)).collect(),
            rate_limited: buckets.iter().map(|b| b.rate_limited).collect(),
            unavailable: buckets.iter().map(|b| b.unavailable).collect(),
        }
    }
}

/// results.json's `timeseries`: parallel arrays, one entry per bucket from
/// the start of the run to the last bucket that saw an arrival or a
/// completion. `t_s` is each bucket's start; the percentiles are `null` for
/// a bucket in which no payment completed.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TimeSeriesReport {
    pub bucket_s: u64,
    pub t_s: Vec<u64>,
    pub offered: Vec<u64>,
    pub completed: Vec<u64>,
    pub errors: Vec<u64>,
    pub p50_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
    /// p99 of the service time of the attempts answered in the bucket.
    pub service_p99_ms: Vec<Option<f64>>,
    /// 429s and 503s the clients saw in the bucket.
    pub rate_limited: Vec<u64>,
    pub unavailable: Vec<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::buckets::MAX_BUCKETS;

    const S: u64 = 1_000_000;

    #[test]
    fn counts_land_in_their_second() {
        let mut ts = TimeSeries::default();
        for i in 0..10 {
            ts.offered(i * 100_000); // ten in second 0
        }
        ts.offered(2 * S + 5);
        for i in 0..100 {
            ts.completed(S + i, (i + 1) * 1_000, i % 10 == 0);
        }
        let r = ts.report();
        assert_eq!(r.bucket_s, 1);
        assert_eq!(r.t_s, [0, 1, 2]);
        assert_eq!(r.offered, [10, 0, 1]);
        assert_eq!(r.completed, [0, 100, 0]);
        assert_eq!(r.errors, [0, 10, 0]);
        assert_eq!(r.p50_ms[0], None, "no completion, no percentile");
        let p50 = r.p50_ms[1].unwrap();
        let p99 = r.p99_ms[1].unwrap();
        assert!((p50 - 50.0).abs() <= 0.5, "p50 {p50}");
        assert!((p99 - 99.0).abs() <= 1.0, "p99 {p99}");
    }

    #[test]
    fn a_long_run_merges_pairs_and_doubles_the_width() {
        let mut ts = TimeSeries::default();
        // One arrival and one completion every simulated second for 24 h.
        let day = 86_400u64;
        for t in 0..day {
            ts.offered(t * S);
            ts.completed(t * S + 500_000, 20_000, t % 100 == 0);
        }
        let r = ts.report();
        assert_eq!(r.bucket_s, 64, "86,400 s / 2,048 buckets rounds up to 64 s");
        assert!(r.t_s.len() <= MAX_BUCKETS);
        assert_eq!(r.t_s.len(), day.div_ceil(64) as usize);
        assert_eq!(r.offered.iter().sum::<u64>(), day, "merging loses nothing");
        assert_eq!(r.completed.iter().sum::<u64>(), day);
        assert_eq!(r.errors.iter().sum::<u64>(), day.div_ceil(100));
        assert_eq!(r.offered[0], 64);
        assert_eq!(r.t_s[1], 64);
        // 2 significant digits: 20 ms reads back within half a millisecond.
        assert!(r.p99_ms.iter().all(|p| (p.unwrap() - 20.0).abs() < 0.6));
    }

    #[test]
    fn merging_keeps_the_histograms() {
        let mut ts = TimeSeries::default();
        ts.completed(0, 1_000_000, false); // 1 s latency in second 0
        ts.completed(S, 3_000_000, false); // 3 s latency in second 1
        ts.offered(MAX_BUCKETS as u64 * S); // forces one merge
        assert_eq!(ts.width_us(), 2 * S);
        let r = ts.report();
        assert_eq!(r.completed[0], 2);
        assert_eq!(r.t_s.len(), MAX_BUCKETS / 2 + 1);
        let (p50, p99) = (r.p50_ms[0].unwrap(), r.p99_ms[0].unwrap());
        assert!((p50 - 1000.0).abs() < 10.0, "p50 {p50}");
        assert!((p99 - 3000.0).abs() < 30.0, "p99 {p99}");
    }
}
