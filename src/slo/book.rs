//! What a run records for its SLOs: per objective, the requests it covers,
//! how many were bad, per bucket of completion time (the same buckets as
//! the run's time series, so memory stays bounded), and for a latency
//! objective a histogram over the run and one per bucket. Fed by the client
//! as each logical request ends; with no SLOs it does nothing.

use hdrhistogram::Histogram;

use crate::domain::Method;
use crate::metrics::buckets::{Absorb, Buckets};
use crate::metrics::timeseries::new_histogram as bucket_histogram;
use crate::metrics::OpKind;

use super::threshold::Stat;
use super::{OutcomeClass, Slo};

#[derive(Default)]
pub struct SliBucket {
    /// Requests covered (not excluded).
    pub total: u64,
    pub bad: u64,
    /// Latency objectives only: corrected latency, 2 significant digits.
    pub latency: Option<Histogram<u32>>,
}

impl Absorb for SliBucket {
    fn absorb(&mut self, later: SliBucket) {
        self.total += later.total;
        self.bad += later.bad;
        match (&mut self.latency, later.latency) {
            (Some(mine), Some(theirs)) => {
                let _ = mine.add(&theirs);
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

/// One objective's record.
pub struct SliSeries {
    pub buckets: Buckets<SliBucket>,
    pub total: u64,
    pub bad: u64,
    /// Latency objectives only: the whole run, 3 significant digits.
    pub latency: Option<Histogram<u64>>,
}

impl SliSeries {
    /// Nothing recorded yet for `slo`.
    pub fn new(slo: &Slo) -> SliSeries {
        SliSeries {
            buckets: Buckets::default(),
            total: 0,
            bad: 0,
            latency: slo.latency().map(|_| new_run_histogram()),
        }
    }
}

/// A whole run's latency histogram: 1 µs to 1 hour, 3 significant digits.
pub fn new_run_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static bounds")
}

pub struct SloBook {
    slos: Vec<Slo>,
    series: Vec<SliSeries>,
    aborted_at_us: Option<u64>,
}

impl SloBook {
    pub fn new(slos: Vec<Slo>) -> SloBook {
        let series = slos.iter().map(SliSeries::new).collect();
        SloBook {
            slos,
            series,
            aborted_at_us: None,
        }
    }

    /// A logical request ended at `now_us`, `latency_us` after it was
    /// meant to start. Returns true the first time an `abort_on_fail`
    /// objective is breached.
    pub fn record(
        &mut self,
        op: OpKind,
        method: Method,
        class: OutcomeClass,
        latency_us: u64,
        now_us: u64,
    ) -> bool {
        let mut abort = false;
        for (slo, s) in self.slos.iter().zip(&mut self.series) {
            if !slo.covers(op, method) {
                continue;
            }
            let Some(bad) = slo.judge(class, latency_us) else {
                continue;
            };
            let latency_us = latency_us.max(1);
            s.total += 1;
            s.bad += u64::from(bad);
            let b = s.buckets.at(now_us);
            b.total += 1;
            b.bad += u64::from(bad);
            if let Some(h) = &mut s.latency {
                h.saturating_record(latency_us);
                b.latency
                    .get_or_insert_with(bucket_histogram)
                    .saturating_record(latency_us);
            }
            if slo.abort_on_fail
                && self.aborted_at_us.is_none()
                && now_us >= slo.grace_us
                && !holds_so_far(slo, s)
            {
                self.aborted_at_us = Some(now_us);
                abort = true;
            }
        }
        abort
    }

    /// A book rebuilt from recorded series (merged runs), one per
    /// objective, in order.
    pub fn restore(slos: Vec<Slo>, series: Vec<SliSeries>, aborted_at_us: Option<u64>) -> SloBook {
        debug_assert_eq!(slos.len(), series.len());
        SloBook {
            slos,
            series,
            aborted_at_us,
        }
    }

    pub fn aborted_at_us(&self) -> Option<u64> {
        self.aborted_at_us
    }

    pub fn slos(&self) -> &[Slo] {
        &self.slos
    }

    pub fn series(&self) -> &[SliSeries] {
        &self.series
    }

    pub fn is_empty(&self) -> bool {
        self.slos.is_empty()
    }
}

/// Whether the objective holds over what was recorded so far (for
/// `abort_on_fail`: k6 evaluates a threshold the same way during a run).
fn holds_so_far(slo: &Slo, s: &SliSeries) -> bool {
    if s.total == 0 {
        return true;
    }
    match (slo.latency(), &s.latency) {
        (Some((stat, cmp, limit)), Some(h)) => match stat {
            Stat::Percentile(_) => {
                let allowed = slo.budget_share().unwrap_or(0.0);
                s.bad as f64 / s.total as f64 <= allowed
            }
            _ => cmp.holds(stat_ms(h, stat), limit),
        },
        _ => slo.bad_share_ok(s.bad as f64 / s.total as f64),
    }
}

/// A latency statistic of a histogram of microseconds, in milliseconds.
pub fn stat_ms<C: hdrhistogram::Counter>(h: &Histogram<C>, stat: Stat) -> f64 {
    let us = match stat {
        Stat::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
        Stat::Avg => h.mean(),
        Stat::Min => h.min() as f64,
        Stat::Max => h.max() as f64,
        Stat::Rate => 0.0,
    };
    us / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ApiError, DeclineReason};

    fn slo(toml_body: &str) -> Slo {
        let f: crate::slo::SloFile =
            toml::from_str(&format!("[[slo]]\nname = \"t\"\n{toml_body}")).unwrap();
        f.slo[0].compile(0).unwrap()
    }

    const S: u64 = 1_000_000;

    #[test]
    fn counts_good_bad_and_excluded_outcomes_of_what_it_covers() {
        let mut book = SloBook::new(vec![slo(
            "objective = 0.9\nexclude = [\"rejected\"]\nmethod = \"card_online\"",
        )]);
        let card = Method::CardOnline;
        book.record(OpKind::Create, card, OutcomeClass::Ok, 1_000, 0);
        book.record(
            OpKind::Create,
            card,
            OutcomeClass::Declined(DeclineReason::InsufficientFunds),
            1_000,
            S,
        );
        book.record(OpKind::Create, card, OutcomeClass::Unknown, 1_000, S);
        book.record(
            OpKind::Create,
            card,
            OutcomeClass::of_error(ApiError::IdempotencyMismatch),
            1_000,
            S,
        );
        // Not covered: another method, another operation.
        book.record(
            OpKind::Create,
            Method::QrWallet,
            OutcomeClass::Unknown,
            1,
            S,
        );
        book.record(OpKind::Capture, card, OutcomeClass::Unknown, 1, S);
        let s = &book.series()[0];
        assert_eq!((s.total, s.bad), (3, 1), "the rejection is excluded");
        let b = s.buckets.as_slice();
        assert_eq!((b[0].total, b[1].total, b[1].bad), (1, 2, 1));
        assert!(s.latency.is_none(), "availability keeps no histogram");
    }

    #[test]
    fn a_latency_objective_calls_slow_requests_bad() {
        let mut book = SloBook::new(vec![slo("threshold = \"p(90) < 100ms\"")]);
        for i in 0..10u64 {
            let latency = if i == 0 { 150_000 } else { 50_000 };
            book.record(
                OpKind::Create,
                Method::CardNfc,
                OutcomeClass::Ok,
                latency,
                i * S,
            );
        }
        let s = &book.series()[0];
        assert_eq!((s.total, s.bad), (10, 1));
        assert_eq!(s.latency.as_ref().unwrap().len(), 10);
    }

    #[test]
    fn abort_on_fail_fires_once_after_the_grace_period() {
        let spec = "objective = 0.9\nabort_on_fail = true\ngrace_s = 5";
        let mut book = SloBook::new(vec![slo(spec)]);
        // Every request bad, but within the grace period: no abort.
        for t in 0..5 {
            assert!(!book.record(
                OpKind::Create,
                Method::CardNfc,
                OutcomeClass::Unknown,
                1,
                t * S
            ));
        }
        assert!(book.record(
            OpKind::Create,
            Method::CardNfc,
            OutcomeClass::Unknown,
            1,
            5 * S
        ));
        assert!(!book.record(
            OpKind::Create,
            Method::CardNfc,
            OutcomeClass::Unknown,
            1,
            6 * S
        ));
        assert_eq!(book.aborted_at_us(), Some(5 * S));
    }
}
