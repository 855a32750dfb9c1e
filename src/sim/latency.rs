//! Latency models for components: fixed, uniform, or log-normal given by its
//! median and 99th percentile (the way SREs quote latency), always capped so
//! no single draw can stall a run.

use std::time::Duration;

use super::rng::SimRng;

/// How a latency is written in a workload file. Exactly one shape:
/// `{ fixed_ms = 5 }`, `{ min_ms = 1, max_ms = 9 }` or `{ p50_ms = 40, p99_ms = 300 }`,
/// each with an optional `cap_ms` (default: 20 × the largest figure given).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap_ms: Option<f64>,
}

impl LatencySpec {
    pub const fn lognormal(p50_ms: f64, p99_ms: f64) -> LatencySpec {
        LatencySpec {
            fixed_ms: None,
            min_ms: None,
            max_ms: None,
            p50_ms: Some(p50_ms),
            p99_ms: Some(p99_ms),
            cap_ms: None,
        }
    }

    /// Checks the shape and turns it into a model; the error says what is wrong
    /// in words a workload author can act on.
    pub fn to_model(&self) -> Result<LatencyModel, String> {
        let nonneg = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(v)
            } else {
                Err(format!("`{name}` must be a number >= 0, got {v}"))
            }
        };
        let model = match (self.fixed_ms, self.min_ms, self.max_ms, self.p50_ms, self.p99_ms) {
            (Some(f), None, None, None, None) => LatencyModel::Fixed {
                ms: nonneg("fixed_ms", f)?,
            },
            (None, Some(lo), Some(hi), None, None) => {
                let (lo, hi) = (nonneg("min_ms", lo)?, nonneg("max_ms", hi)?);
                if lo > hi {
                    return Err(format!("`min_ms` ({lo}) is above `max_ms` ({hi})"));
                }
                LatencyModel::Uniform { min_ms: lo, max_ms: hi }
            }
            (None, None, None, Some(p50), Some(p99)) => {
                let (p50, p99) = (nonneg("p50_ms", p50)?, nonneg("p99_ms", p99)?);
                if p50 <= 0.0 || p99 < p50 {
                    return Err(format!(
                        "log-normal latency needs 0 < `p50_ms` <= `p99_ms`, got p50_ms = {p50}, p99_ms = {p99}"
                    ));
                }
                // p99 = p50 * exp(z99 * sigma) with z99 = 2.3263 (the 99th
                // percentile of the standard normal).
                let sigma = (p99 / p50).ln() / 2.326_347_874;
                LatencyModel::LogNormal {
                    mu: p50.ln(),
                    sigma,
                }
            }
            _ => {
                return Err("give exactly one shape: `fixed_ms`, or `min_ms` and `max_ms`, or `p50_ms` and `p99_ms`".into())
            }
        };
        let largest = [self.fixed_ms, self.max_ms, self.p99_ms]
            .into_iter()
            .flatten()
            .fold(0.0, f64::max);
        let cap = match self.cap_ms {
            Some(c) => nonneg("cap_ms", c)?,
            None => (largest * 20.0).max(1.0),
        };
        Ok(model.capped(cap))
    }
}

/// A latency distribution ready to sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LatencyModel {
    Fixed { ms: f64 },
    Uniform { min_ms: f64, max_ms: f64 },
    LogNormal { mu: f64, sigma: f64 },
    Capped { inner: CappedInner, cap_ms: f64 },
}

/// The uncapped part of a capped model (kept flat so the enum stays `Copy`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CappedInner {
    Fixed(f64),
    Uniform(f64, f64),
    LogNormal(f64, f64),
}

impl LatencyModel {
    pub const ZERO: LatencyModel = LatencyModel::Fixed { ms: 0.0 };

    /// The mean in milliseconds, ignoring the cap except as an upper bound
    /// (for capacity estimates, not for sampling).
    pub fn mean_ms(&self) -> f64 {
        let mean = |inner: CappedInner| match inner {
            CappedInner::Fixed(ms) => ms,
            CappedInner::Uniform(lo, hi) => (lo + hi) / 2.0,
            CappedInner::LogNormal(mu, sigma) => (mu + sigma * sigma / 2.0).exp(),
        };
        match *self {
            LatencyModel::Fixed { ms } => ms,
            LatencyModel::Uniform { min_ms, max_ms } => mean(CappedInner::Uniform(min_ms, max_ms)),
            LatencyModel::LogNormal { mu, sigma } => mean(CappedInner::LogNormal(mu, sigma)),
            LatencyModel::Capped { inner, cap_ms } => mean(inner).min(cap_ms),
        }
    }

    fn capped(self, cap_ms: f64) -> LatencyModel {
        let inner = match self {
            LatencyModel::Fixed { ms } => CappedInner::Fixed(ms),
            LatencyModel::Uniform { min_ms, max_ms } => CappedInner::Uniform(min_ms, max_ms),
            LatencyModel::LogNormal { mu, sigma } => CappedInner::LogNormal(mu, sigma),
            LatencyModel::Capped { .. } => return self,
        };
        LatencyModel::Capped { inner, cap_ms }
    }

    /// One draw, in milliseconds.
    pub fn sample_ms(&self, rng: &mut SimRng) -> f64 {
        let draw = |inner: CappedInner, rng: &mut SimRng| match inner {
            CappedInner::Fixed(ms) => ms,
            CappedInner::Uniform(lo, hi) => rng.range_f64(lo, hi),
            CappedInner::LogNormal(mu, sigma) => (mu + sigma * rng.normal()).exp(),
        };
        match *self {
            LatencyModel::Fixed { ms } => ms,
            LatencyModel::Uniform { min_ms, max_ms } => {
                draw(CappedInner::Uniform(min_ms, max_ms), rng)
            }
            LatencyModel::LogNormal { mu, sigma } => draw(CappedInner::LogNormal(mu, sigma), rng),
            LatencyModel::Capped { inner, cap_ms } => draw(inner, rng).min(cap_ms),
        }
    }

    pub fn sample(&self, rng: &mut SimRng) -> Duration {
        Duration::from_micros((self.sample_ms(rng) * 1000.0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Seed;

    #[test]
    fn lognormal_hits_its_quoted_percentiles() {
        let model = LatencySpec::lognormal(40.0, 300.0).to_model().unwrap();
        let mut rng = Seed(3).stream("lat", 0);
        let mut xs: Vec<f64> = (0..50_000).map(|_| model.sample_ms(&mut rng)).collect();
        xs.sort_by(|a, b| a.total_cmp(b));
        let p50 = xs[xs.len() / 2];
        let p99 = xs[xs.len() * 99 / 100];
        assert!((p50 / 40.0 - 1.0).abs() < 0.05, "p50 {p50}");
        assert!((p99 / 300.0 - 1.0).abs() < 0.10, "p99 {p99}");
    }

    #[test]
    fn cap_bounds_every_draw() {
        let spec = LatencySpec {
            cap_ms: Some(50.0),
            ..LatencySpec::lognormal(40.0, 3000.0)
        };
        let model = spec.to_model().unwrap();
        let mut rng = Seed(3).stream("lat", 0);
        assert!((0..10_000).all(|_| model.sample_ms(&mut rng) <= 50.0));
    }

    #[test]
    fn ambiguous_or_inverted_shapes_are_rejected() {
        let both = LatencySpec {
            fixed_ms: Some(1.0),
            ..LatencySpec::lognormal(1.0, 2.0)
        };
        assert!(both.to_model().unwrap_err().contains("exactly one shape"));
        assert!(LatencySpec::lognormal(50.0, 10.0).to_model().is_err());
        let neg = LatencySpec {
            fixed_ms: Some(-1.0),
            ..Default::default()
        };
        assert!(neg.to_model().unwrap_err().contains(">= 0"));
    }
}
