//! Arrivals from a rate curve: intended send times produced one at a time
//! by inverting the cumulative curve Λ(t) = ∫ r. Evenly spaced arrivals sit at
//! Λ = 1, 2, 3…; Poisson arrivals at the partial sums of unit exponentials (a
//! seeded non-homogeneous Poisson process). No memory grows with the run, and
//! each arrival costs a logarithm and a square root.

use crate::sim::SimRng;

use super::curve::RateCurve;
use super::spec::{Arrival, Arrivals};

pub struct Schedule {
    curve: RateCurve,
    arrivals: Arrivals,
    rng: SimRng,
    /// The cumulative value of the next arrival.
    next: f64,
    /// Segment of the curve that holds `next`.
    segment: usize,
}

impl Schedule {
    pub fn new(curve: RateCurve, arrivals: Arrivals, rng: SimRng) -> Schedule {
        let mut s = Schedule {
            curve,
            arrivals,
            rng,
            next: 0.0,
            segment: 0,
        };
        s.next = s.step();
        s
    }

    fn step(&mut self) -> f64 {
        match self.arrivals {
            Arrivals::Uniform => 1.0,
            Arrivals::Poisson => self.rng.exponential(1.0),
        }
    }
}

impl Iterator for Schedule {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        let points = self.curve.points();
        let cum = self.curve.cumulative();
        let u = self.next;
        while self.segment + 1 < points.len() && cum[self.segment + 1] <= u {
            self.segment += 1;
        }
        if self.segment + 1 >= points.len() {
            return None;
        }
        let (t0, r0) = points[self.segment];
        let (t1, r1) = points[self.segment + 1];
        let slope = (r1 - r0) / (t1 - t0);
        let need = u - cum[self.segment];
        // Solve r0·τ + slope·τ²/2 = need in the stable form.
        let root = (r0 * r0 + 2.0 * slope * need).max(0.0).sqrt();
        let tau = if r0 + root > 0.0 {
            2.0 * need / (r0 + root)
        } else {
            0.0
        };
        let t = (t0 + tau).min(t1);
        self.next += self.step();
        Some(Arrival {
            at_us: (t * 1e6) as u64,
            payment: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::spec::{LoadSpec, Stage};
    use crate::sim::Seed;

    fn constant(arrivals: Arrivals) -> Schedule {
        let spec = LoadSpec {
            rate_per_s: Some(100.0),
            duration_s: Some(60.0),
            ..LoadSpec::default()
        };
        Schedule::new(
            RateCurve::from_spec(&spec, 1.0).unwrap(),
            arrivals,
            Seed(1).stream("s", 0),
        )
    }

    #[test]
    fn uniform_schedule_has_rate_times_duration_arrivals_evenly_spaced() {
        let times: Vec<u64> = constant(Arrivals::Uniform).map(|a| a.at_us).collect();
        assert!((5999..=6000).contains(&times.len()), "{}", times.len());
        assert!(times
            .windows(2)
            .all(|w| (w[1] - w[0]).abs_diff(10_000) <= 1));
    }

    #[test]
    fn poisson_schedule_is_close_to_rate_and_increasing() {
        let times: Vec<u64> = constant(Arrivals::Poisson).map(|a| a.at_us).collect();
        assert!((5700..6300).contains(&times.len()), "{}", times.len());
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(*times.last().unwrap() < 60_000_000);
    }

    #[test]
    fn ramp_puts_arrivals_where_the_rate_is() {
        // 0 -> 200/s over 10 s: the first half holds a quarter of the arrivals.
        let spec = LoadSpec {
            stages: vec![Stage {
                target_per_s: 200.0,
                duration_s: 10.0,
            }],
            ..LoadSpec::default()
        };
        let curve = RateCurve::from_spec(&spec, 1.0).unwrap();
        let times: Vec<u64> = Schedule::new(curve, Arrivals::Uniform, Seed(1).stream("s", 0))
            .map(|a| a.at_us)
            .collect();
        assert!((999..=1000).contains(&times.len()), "{}", times.len());
        let first_half = times.iter().filter(|t| **t < 5_000_000).count();
        assert!((249..=251).contains(&first_half), "{first_half}");
    }
}
