//! The arrival schedule: intended send times from a constant rate, either
//! evenly spaced or as a seeded Poisson process. Times are produced one at a
//! time, so a billion-arrival schedule costs no memory.

use crate::sim::SimRng;

use super::spec::{Arrivals, LoadSpec};

pub struct Schedule {
    gap_mean_us: f64,
    end_us: f64,
    next_us: f64,
    arrivals: Arrivals,
    rng: SimRng,
}

impl Schedule {
    pub fn new(spec: &LoadSpec, rng: SimRng) -> Schedule {
        let gap = 1e6 / spec.rate_per_s.max(1e-9);
        let mut s = Schedule {
            gap_mean_us: gap,
            end_us: spec.duration_s * 1e6,
            next_us: 0.0,
            arrivals: spec.arrivals,
            rng,
        };
        s.next_us = s.gap();
        s
    }

    fn gap(&mut self) -> f64 {
        match self.arrivals {
            Arrivals::Uniform => self.gap_mean_us,
            Arrivals::Poisson => self.rng.exponential(self.gap_mean_us),
        }
    }
}

impl Iterator for Schedule {
    /// Intended send time, microseconds since the start of the run.
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if self.next_us >= self.end_us {
            return None;
        }
        let at = self.next_us;
        self.next_us += self.gap();
        Some(at as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Seed;

    fn spec(arrivals: Arrivals) -> LoadSpec {
        LoadSpec {
            rate_per_s: 100.0,
            duration_s: 60.0,
            arrivals,
            ..LoadSpec::default()
        }
    }

    #[test]
    fn uniform_schedule_has_rate_times_duration_arrivals() {
        let n = Schedule::new(&spec(Arrivals::Uniform), Seed(1).stream("s", 0)).count();
        assert!((5999..=6000).contains(&n), "{n}");
    }

    #[test]
    fn poisson_schedule_is_close_to_rate_and_increasing() {
        let times: Vec<u64> =
            Schedule::new(&spec(Arrivals::Poisson), Seed(1).stream("s", 0)).collect();
        assert!((5700..6300).contains(&times.len()), "{}", times.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(*times.last().unwrap() < 60_000_000);
    }
}
