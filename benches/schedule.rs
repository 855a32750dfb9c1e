//! The schedule must never be the bottleneck: how many intended send times
//! per wall-second the rate-curve schedule produces (the issue asks for well
//! over 10 million), for a constant rate and for a day shape with spikes.
//!
//!   cargo bench --bench schedule

use std::time::Instant;

use paystorm::load::curve::RateCurve;
use paystorm::load::schedule::Schedule;
use paystorm::load::spec::{Arrivals, DayShape, LoadSpec, Spike};
use paystorm::sim::Seed;

fn per_second(spec: &LoadSpec, arrivals: Arrivals) -> (u64, f64) {
    let curve = RateCurve::from_spec(spec, 1.0).expect("a curve shape");
    let start = Instant::now();
    let mut n = 0u64;
    let mut last = 0u64;
    for a in Schedule::new(curve, arrivals, Seed(1).stream("bench", 0)) {
        n += 1;
        last = last.max(a.at_us);
    }
    std::hint::black_box(last);
    (n, n as f64 / start.elapsed().as_secs_f64())
}

fn main() {
    let constant = LoadSpec {
        rate_per_s: Some(583_000.0),
        duration_s: Some(60.0),
        ..LoadSpec::default()
    };
    let mut hourly = vec![1.0; 24];
    hourly[20] = 10.0;
    let day = LoadSpec {
        day: Some(DayShape {
            base_rate_per_s: 400.0,
            hourly,
            hour_s: 3_600.0,
        }),
        spikes: vec![Spike {
            name: "door-buster".into(),
            start_s: 60.0,
            duration_s: 300.0,
            multiplier: 10.0,
            ramp_s: 60.0,
        }],
        ..LoadSpec::default()
    };
    for (name, spec) in [
        ("constant 583k/s x 60 s", &constant),
        ("day shape with a spike", &day),
    ] {
        for arrivals in [Arrivals::Poisson, Arrivals::Uniform] {
            let mut runs: Vec<(u64, f64)> = (0..3).map(|_| per_second(spec, arrivals)).collect();
            runs.sort_by(|a, b| a.1.total_cmp(&b.1));
            let (n, rate) = runs[1];
            println!("{name:<24} {arrivals:<8?} {n:>10} arrivals: {:>6.1} million per wall-second (median of 3)", rate / 1e6);
        }
    }
}
