//! Service level objectives as gates: what must hold for a run to pass (exit
//! 1 when one does not), judged on the client's view (corrected latency,
//! the outcome of each logical request), with an error budget and
//! multi-window multi-burn-rate alerts for each ratio objective.
//!
//! - `spec`: the `[[slo]]` tables as written, compiled to [`Slo`];
//! - `threshold`: k6 threshold expressions;
//! - `outcome`: how a request's end is sorted (good, bad, excluded);
//! - `book`: what the run records for each SLO, per bucket of time;
//! - `burn`: the SRE Workbook's burn-rate alerts, scaled to the run;
//! - `verdict`: each objective passed or failed, when and in which fault.

pub mod book;
pub mod burn;
pub mod outcome;
pub mod rules;
pub mod spec;
pub mod threshold;
pub mod verdict;

use crate::domain::Method;
use crate::metrics::OpKind;

pub use book::SloBook;
pub use outcome::OutcomeClass;
pub use spec::{SloFile, SloProblem, SloSpec};
pub use verdict::{evaluate, FaultWindows, SliCounts, SloResult};

use outcome::ClassPattern;
use threshold::{Cmp, Stat, Threshold};

/// One compiled objective.
#[derive(Clone, Debug)]
pub struct Slo {
    pub name: String,
    pub op: OpKind,
    /// `None`: every method.
    pub method: Option<Method>,
    pub kind: SloKind,
    /// Must also hold in every window this long (tumbling, from time 0).
    pub window_us: Option<u64>,
    pub abort_on_fail: bool,
    pub grace_us: u64,
}

#[derive(Clone, Debug)]
pub enum SloKind {
    /// The share of bad outcomes among those not excluded must stay at or
    /// below `max_bad` (strictly below when `strict`).
    Availability {
        good: Vec<ClassPattern>,
        exclude: Vec<ClassPattern>,
        max_bad: f64,
        strict: bool,
    },
    /// A statistic of corrected latency, in milliseconds.
    Latency(Threshold),
}

impl Slo {
    /// Whether a request of this operation and method counts here.
    pub fn covers(&self, op: OpKind, method: Method) -> bool {
        self.op == op && self.method.is_none_or(|m| m == method)
    }

    /// For a request it covers: `None` if excluded, else whether it is bad.
    /// A latency objective on a percentile calls a request bad when it is
    /// slower than the limit; on avg, min or max none is bad by itself.
    pub fn judge(&self, class: OutcomeClass, latency_us: u64) -> Option<bool> {
        match &self.kind {
            SloKind::Availability { good, exclude, .. } => {
                if exclude.iter().any(|p| p.matches(class)) {
                    None
                } else {
                    Some(!good.iter().any(|p| p.matches(class)))
                }
            }
            SloKind::Latency(t) => Some(match t.stat {
                Stat::Percentile(_) => !t.cmp.holds(latency_us as f64 / 1000.0, t.limit),
                _ => false,
            }),
        }
    }

    /// The share of requests allowed to be bad: the error budget's size
    /// (`None` for avg, min and max, which have no budget).
    pub fn budget_share(&self) -> Option<f64> {
        match &self.kind {
            SloKind::Availability { max_bad, .. } => Some(*max_bad),
            SloKind::Latency(Threshold {
                stat: Stat::Percentile(p),
                ..
            }) => Some(1.0 - p / 100.0),
            SloKind::Latency(_) => None,
        }
    }

    /// Whether a share of bad requests meets an availability objective.
    pub fn bad_share_ok(&self, bad_share: f64) -> bool {
        match &self.kind {
            SloKind::Availability {
                max_bad, strict, ..
            } => {
                if *strict {
                    bad_share < *max_bad
                } else {
                    // Within float noise of the limit counts as meeting it.
                    bad_share <= *max_bad + 1e-12
                }
            }
            SloKind::Latency(_) => true,
        }
    }

    /// The objective as a person reads it.
    pub fn describe(&self) -> String {
        match &self.kind {
            SloKind::Availability {
                max_bad, strict, ..
            } => format!(
                "good share {} {}",
                if *strict { ">" } else { ">=" },
                percent(1.0 - max_bad)
            ),
            SloKind::Latency(t) => t.to_string(),
        }
    }

    pub fn sli(&self) -> &'static str {
        match self.kind {
            SloKind::Availability { .. } => "availability",
            SloKind::Latency(_) => "latency",
        }
    }

    /// The latency comparison, if a latency objective.
    pub fn latency(&self) -> Option<(Stat, Cmp, f64)> {
        match &self.kind {
            SloKind::Latency(t) => Some((t.stat, t.cmp, t.limit)),
            SloKind::Availability { .. } => None,
        }
    }
}

/// A share as a percentage with as many decimals as it needs (99.9%, 99.95%).
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    let mut s = format!("{p:.4}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    format!("{s}%")
}

/// Compiles a list of specs; the first problem, if any.
pub fn compile(specs: &[SloSpec]) -> Result<Vec<Slo>, SloProblem> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| s.compile(i))
        .collect()
}
