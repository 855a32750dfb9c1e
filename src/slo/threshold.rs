//! k6-style threshold expressions, so a k6 user's thresholds carry over:
//! `"p(99) < 300ms"`, `"p(99.9)<=1s"`, `"avg < 120"`, `"med < 80ms"`,
//! `"max < 2s"`, `"rate < 0.001"`. A latency without a unit is in
//! milliseconds, as in k6.

use std::fmt;

/// What a threshold measures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// A percentile of latency (`p(99)`; `med` is `p(50)`).
    Percentile(f64),
    Avg,
    Min,
    Max,
    /// The share of bad outcomes (k6's `rate` of a failure metric).
    Rate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Cmp::Lt => measured < limit,
            Cmp::Le => measured <= limit,
            Cmp::Gt => measured > limit,
            Cmp::Ge => measured >= limit,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A parsed threshold: `stat cmp limit`, the limit in milliseconds for a
/// latency and a share (0-1) for a rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    pub stat: Stat,
    pub cmp: Cmp,
    pub limit: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.stat {
            Stat::Percentile(p) => write!(f, "p({p}) {} {} ms", self.cmp.as_str(), self.limit),
            Stat::Avg => write!(f, "avg {} {} ms", self.cmp.as_str(), self.limit),
            Stat::Min => write!(f, "min {} {} ms", self.cmp.as_str(), self.limit),
            Stat::Max => write!(f, "max {} {} ms", self.cmp.as_str(), self.limit),
            Stat::Rate => write!(f, "rate {} {}", self.cmp.as_str(), self.limit),
        }
    }
}

impl Threshold {
    pub fn parse(text: &str) -> Result<Threshold, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bad = |why: &str| {
            format!("`{text}` is not a threshold ({why}); write e.g. \"p(99) < 300ms\", \"avg < 120ms\" or \"rate < 0.001\"")
        };
        let at = t
            .find(['<', '>'])
            .ok_or_else(|| bad("no comparison: <, <=, > or >="))?;
        let (lhs, rest) = t.split_at(at);
        let (cmp, rhs) = if let Some(r) = rest.strip_prefix("<=") {
            (Cmp::Le, r)
        } else if let Some(r) = rest.strip_prefix(">=") {
            (Cmp::Ge, r)
        } else if let Some(r) = rest.strip_prefix('<') {
            (Cmp::Lt, r)
        } else {
            (Cmp::Gt, &rest[1..])
        };
        let stat = match lhs {
            "avg" => Stat::Avg,
            "min" => Stat::Min,
            "max" => Stat::Max,
            "med" => Stat::Percentile(50.0),
            "rate" => Stat::Rate,
            p => {
                let inner = p
                    .strip_prefix("p(")
                    .and_then(|s| s.strip_suffix(')'))
                    .ok_or_else(|| bad("the left side must be p(N), avg, med, min, max or rate"))?;
                let n: f64 = inner.parse().map_err(|_| bad("p(N) needs a number"))?;
                if !(n > 0.0 && n < 100.0) {
                    return Err(bad("a percentile is above 0 and below 100"));
                }
                Stat::Percentile(n)
            }
        };
        let limit = if stat == Stat::Rate {
            let v: f64 = rhs.parse().map_err(|_| bad("a rate is a number"))?;
            if !(0.0..=1.0).contains(&v) {
                return Err(bad("a rate is a share between 0 and 1"));
            }
            v
        } else {
            let (num, scale) = if let Some(n) = rhs.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = rhs.strip_suffix("us") {
                (n, 0.001)
            } else if let Some(n) = rhs.strip_suffix('s') {
                (n, 1000.0)
            } else {
                (rhs, 1.0)
            };
            let v: f64 = num
                .parse()
                .map_err(|_| bad("a latency is a number with ms, s or us"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad("a latency is at least 0"));
            }
            v * scale
        };
        Ok(Threshold { stat, cmp, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Threshold {
        Threshold::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn reads_k6_latency_and_rate_thresholds() {
        assert_eq!(
            t("p(99) < 300ms"),
            Threshold {
                stat: Stat::Percentile(99.0),
                cmp: Cmp::Lt,
                limit: 300.0
            }
        );
        assert_eq!(t("p(99.9)<=1s").limit, 1000.0);
        assert_eq!(t("p(99.9)<=1s").cmp, Cmp::Le);
        assert_eq!(t("avg < 120").stat, Stat::Avg, "ms without a unit");
        assert_eq!(t("med<80ms").stat, Stat::Percentile(50.0));
        assert_eq!(t("max < 2s").limit, 2000.0);
        assert_eq!(t("min >= 500us").limit, 0.5);
        assert_eq!(
            t("rate < 0.001"),
            Threshold {
                stat: Stat::Rate,
                cmp: Cmp::Lt,
                limit: 0.001
            }
        );
    }

    #[test]
    fn refuses_what_is_not_a_threshold() {
        for bad in [
            "p(99)",
            "p(100) < 3",
            "p99 < 3ms",
            "rate < 2",
            "avg < fast",
            "count > 1",
        ] {
            let e = Threshold::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn comparisons_hold_as_written() {
        assert!(Cmp::Lt.holds(1.0, 2.0) && !Cmp::Lt.holds(2.0, 2.0));
        assert!(Cmp::Le.holds(2.0, 2.0) && !Cmp::Le.holds(2.1, 2.0));
        assert!(Cmp::Gt.holds(3.0, 2.0) && Cmp::Ge.holds(2.0, 2.0));
    }
}
