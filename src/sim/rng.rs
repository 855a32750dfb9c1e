//! Seeded randomness. One `--seed` is split into independent streams, one per
//! component (and per index, e.g. per issuer), so adding a random draw in one
//! component never shifts the draws of another.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use std::sync::Mutex;

use crate::domain::fingerprint::{hash_bytes, mix};
use crate::lock::Locked;

/// The run's seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seed(pub u64);

impl Seed {
    /// An independent generator for component `name`, instance `index`.
    pub fn stream(&self, name: &str, index: u64) -> SimRng {
        let s = mix(self.0 ^ hash_bytes(name.as_bytes()) ^ mix(index.wrapping_add(0x9e37)));
        SimRng(Pcg64Mcg::seed_from_u64(s))
    }

    /// A stream shared between tasks (components are `Sync`).
    pub fn shared(&self, name: &str, index: u64) -> SharedRng {
        SharedRng(Mutex::new(self.stream(name, index)))
    }
}

/// A small, fast, portable generator (PCG 64-bit MCG): same numbers on every
/// platform and rand version, which the results file's byte-identity needs.
#[derive(Clone, Debug)]
pub struct SimRng(Pcg64Mcg);

impl SimRng {
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// Uniform integer in [0, n); n must be > 0.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    /// Uniform in [lo, hi].
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// A standard normal deviate, by `rand_distr`'s ziggurat: a table
    /// lookup and a compare for most draws, where Box–Muller took a `ln`, a
    /// `sqrt` and a `cos` (every modelled latency is one such draw; 1.5% of
    /// the million benchmark's CPU went to them). `rand_distr` keeps its
    /// values stable within a minor version, as the results file needs.
    pub fn normal(&mut self) -> f64 {
        self.0.sample(rand_distr::StandardNormal)
    }

    /// Exponential with the given mean (`rand_distr`'s ziggurat too).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        mean * self.0.sample::<f64, _>(rand_distr::Exp1)
    }

    /// Index drawn from cumulative weights (last entry = total; weights
    /// are never negative, so the entries never decrease): the first entry
    /// above the draw, found by bisection, since a thousand merchants made a
    /// linear scan 1% of a payment.
    pub fn pick_cumulative(&mut self, cumulative: &[f64]) -> usize {
        let total = cumulative.last().copied().unwrap_or(0.0);
        let x = self.unit() * total;
        cumulative
            .partition_point(|c| *c <= x)
            .min(cumulative.len().saturating_sub(1))
    }
}

/// A log-normal distribution given the way people quote it: by its median
/// and 99th percentile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogNormal {
    mu: f64,
    sigma: f64,
}

/// The 99th percentile of the standard normal.
const Z99: f64 = 2.326_347_874;

impl LogNormal {
    pub fn from_p50_p99(p50: f64, p99: f64) -> LogNormal {
        let p50 = p50.max(f64::MIN_POSITIVE);
        LogNormal {
            mu: p50.ln(),
            sigma: (p99.max(p50) / p50).ln() / Z99,
        }
    }

    pub fn sample(&self, rng: &mut SimRng) -> f64 {
        (self.mu + self.sigma * rng.normal()).exp()
    }

    pub fn median(&self) -> f64 {
        self.mu.exp()
    }
}

/// A generator behind a short, uncontended lock.
#[derive(Debug)]
pub struct SharedRng(Mutex<SimRng>);

impl SharedRng {
    pub fn with<T>(&self, f: impl FnOnce(&mut SimRng) -> T) -> T {
        f(&mut self.0.locked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bisection picks what a scan for the first entry above the draw
    /// picks, zero weights (repeated entries) and the last entry included.
    #[test]
    fn pick_cumulative_matches_a_linear_scan() {
        let tables: [&[f64]; 4] = [
            &[1.0],
            &[0.3, 0.3, 1.0],
            &[0.0, 0.5, 0.5, 0.5, 2.0, 2.0],
            &[0.1, 0.2, 0.35, 0.5, 0.75, 0.9, 0.99, 1.0],
        ];
        for table in tables {
            let (mut a, mut b) = (Seed(7).stream("pick", 0), Seed(7).stream("pick", 0));
            for _ in 0..10_000 {
                let total = table.last().copied().unwrap_or(0.0);
                let x = a.unit() * total;
                let scan = table.iter().position(|c| x < *c).unwrap_or(table.len() - 1);
                assert_eq!(b.pick_cumulative(table), scan, "{table:?} at {x}");
            }
        }
    }

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Seed(7).stream("issuer", 1), |r, _| Some(r.below(1 << 40)))
            .collect();
        let b: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Seed(7).stream("issuer", 1), |r, _| Some(r.below(1 << 40)))
            .collect();
        let c: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Seed(7).stream("issuer", 2), |r, _| Some(r.below(1 << 40)))
            .collect();
        let d: Vec<u64> = (0..5)
            .map(|_| 0)
            .scan(Seed(8).stream("issuer", 1), |r, _| Some(r.below(1 << 40)))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn normal_has_roughly_unit_variance() {
        let mut r = Seed(1).stream("t", 0);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
    }

    /// Latency models are quoted by their 99th percentile: the normal's
    /// tail must put 1% of draws above `Z99`, and a log-normal's 99th
    /// percentile must be the p99 it was made from.
    #[test]
    fn normal_tail_matches_z99_and_log_normal_its_p99() {
        let mut r = Seed(2).stream("t", 0);
        let n = 200_000;
        let above = (0..n).filter(|_| r.normal() > Z99).count() as f64 / n as f64;
        assert!((above - 0.01).abs() < 0.001, "share above z99 {above}");
        let ln = LogNormal::from_p50_p99(40.0, 400.0);
        let mut xs: Vec<f64> = (0..n).map(|_| ln.sample(&mut r)).collect();
        xs.sort_by(f64::total_cmp);
        let (p50, p99) = (xs[n / 2], xs[n * 99 / 100]);
        assert!((p50 / 40.0 - 1.0).abs() < 0.02, "p50 {p50}");
        assert!((p99 / 400.0 - 1.0).abs() < 0.05, "p99 {p99}");
    }

    #[test]
    fn exponential_has_its_mean() {
        let mut r = Seed(3).stream("t", 0);
        let n = 100_000;
        let mean = (0..n).map(|_| r.exponential(2.5)).sum::<f64>() / n as f64;
        assert!((mean / 2.5 - 1.0).abs() < 0.02, "mean {mean}");
        assert!((0..1000).all(|_| r.exponential(1.0) >= 0.0));
    }
}
