//! Histogram buckets for payment latencies, in seconds.
//!
//! A card authorization takes a few hundred milliseconds end to end, a
//! gateway hop a few, and a client gives up after some seconds; so the
//! buckets run from 1 ms to 30 s, denser where payments live (50 ms - 1 s).
//! Request-duration histograms also get a bucket at every latency limit of
//! the run's objectives, exactly where `paystorm rules` asks for one
//! (`le="0.3"` for `p(99) < 300ms`): a Prometheus SLI needs a bucket
//! boundary at the threshold, or it can only interpolate.

use crate::slo::Slo;

/// The base buckets: 1 ms to 30 s.
pub const LATENCY_S: [f64; 17] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// At most this many buckets, whatever the objectives (each one is a
/// series per operation and method).
pub const BUCKETS_MAX: usize = 40;

/// The base buckets plus each percentile objective's limit, computed as
/// `paystorm rules` computes it (`limit_ms / 1000.0`) so the `le` labels
/// print the same. Sorted, without duplicates, at most [`BUCKETS_MAX`]
/// (the base buckets are dropped first if the objectives need the room).
pub fn request_buckets(slos: &[Slo]) -> Vec<f64> {
    let mut limits: Vec<f64> = slos
        .iter()
        .filter(|s| s.budget_share().is_some())
        .filter_map(|s| s.latency().map(|(_, _, limit_ms)| limit_ms / 1000.0))
        .filter(|l| l.is_finite() && *l > 0.0)
        .collect();
    limits.sort_by(f64::total_cmp);
    limits.dedup();
    limits.truncate(BUCKETS_MAX);
    let mut all = limits.clone();
    for b in LATENCY_S {
        if all.len() >= BUCKETS_MAX {
            break;
        }
        all.push(b);
    }
    all.sort_by(f64::total_cmp);
    all.dedup();
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slos(text: &str) -> Vec<Slo> {
        let f = crate::slo::SloFile::parse(text, "t.toml").unwrap();
        crate::slo::compile(&f.slo).unwrap()
    }

    #[test]
    fn a_latency_objective_adds_its_limit_as_a_bucket() {
        let b = request_buckets(&slos(
            "[[slo]]\nname = \"fast\"\nthreshold = \"p(99) < 320ms\"\n[[slo]]\nname = \"up\"\nobjective = 0.99\n",
        ));
        assert!(b.contains(&0.32), "{b:?}");
        assert_eq!(b.len(), LATENCY_S.len() + 1);
        assert!(b.windows(2).all(|w| w[0] < w[1]));
        // What rules.rs writes for the same limit.
        assert_eq!(format!("{}", 320.0 / 1000.0), "0.32");
    }

    #[test]
    fn a_limit_on_a_base_bucket_is_not_doubled_and_avg_adds_none() {
        let b = request_buckets(&slos(
            "[[slo]]\nname = \"fast\"\nthreshold = \"p(95) < 300ms\"\n[[slo]]\nname = \"avg\"\nthreshold = \"avg < 123ms\"\n",
        ));
        assert_eq!(b, LATENCY_S.to_vec());
    }
}
