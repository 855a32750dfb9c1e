//! Each objective judged at the end of the run: the measured value against
//! the threshold over the whole run and (if asked) in every window; if it
//! failed, when it was first breached and which faults were active then;
//! its error budget and burn-rate alerts.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::chaos::FaultSummary;
use crate::metrics::buckets::Buckets;

use super::book::{stat_ms, SliBucket, SliSeries, SloBook};
use super::burn::{self, BurnReport};
use super::threshold::{Cmp, Stat};
use super::{percent, Slo};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloResult {
    pub name: String,
    pub sli: &'static str,
    pub operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'static str>,
    /// The objective as written out (`p(99) < 300 ms`, `good share >= 99.9%`).
    pub threshold: String,
    pub passed: bool,
    /// Over the whole run: the good share (availability) or the latency
    /// statistic in milliseconds.
    pub measured: f64,
    /// `measured` as a person reads it.
    pub measured_text: String,
    /// Requests the objective covered (excluded ones left out), and of
    /// those the bad ones (failed, or slower than a percentile's limit).
    pub total: u64,
    pub bad: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowReport>,
    /// If it failed: when first (seconds of the run), and the faults whose
    /// windows were open then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_breached_s: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub during_faults: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_budget: Option<ErrorBudget>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burn_rate: Option<BurnReport>,
    /// The raw counts per bucket, from which everything above follows:
    /// what `paystorm merge` re-judges merged runs from.
    pub buckets: SliCounts,
}

/// An objective's requests and bad requests per bucket of `bucket_s`
/// seconds from the start of the run (a latency objective's histograms per
/// bucket are in the run's histogram log, tagged `bucket/slo/<index>`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SliCounts {
    pub bucket_s: u64,
    pub total: Vec<u64>,
    pub bad: Vec<u64>,
}

/// The faults' open windows (name, then `(start_s, end_s)` pairs), to say
/// which were open when an objective was first breached.
#[derive(Clone, Debug, Default)]
pub struct FaultWindows(pub Vec<(String, Vec<(f64, f64)>)>);

impl FaultWindows {
    pub fn of(summary: Option<&FaultSummary>) -> FaultWindows {
        FaultWindows(summary.map_or_else(Vec::new, |f| {
            f.faults
                .iter()
                .map(|r| (r.name.clone(), r.windows.clone()))
                .collect()
        }))
    }

    /// The faults whose windows were open at `t` seconds.
    fn open_at(&self, t: f64) -> Vec<String> {
        self.0
            .iter()
            .filter(|(_, w)| w.iter().any(|&(a, b)| a <= t && t <= b))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowReport {
    /// The window used: the one asked for, rounded up to whole buckets.
    pub window_s: f64,
    pub evaluated: u64,
    pub failed: u64,
    /// The worst window: its start and its value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_start_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worst_measured: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ErrorBudget {
    /// Bad requests the objective allowed over the run.
    pub allowed_bad: f64,
    /// Share of the budget spent (above 1: overspent).
    pub consumed: f64,
    /// When the budget ran out, if it did (seconds of the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exhausted_at_s: Option<f64>,
    /// The share spent by the end of each bucket of `bucket_s` seconds
    /// (the burn, for the report's chart).
    pub bucket_s: f64,
    pub consumed_over_time: Vec<f64>,
}

/// Judges every objective of the book. `run_s`: seconds of load (the
/// burn-rate windows scale with it).
pub fn evaluate(book: &SloBook, faults: &FaultWindows, run_s: f64) -> Vec<SloResult> {
    book.slos()
        .iter()
        .zip(book.series())
        .map(|(slo, s)| judge(slo, s, faults, run_s))
        .collect()
}

fn judge(slo: &Slo, s: &SliSeries, faults: &FaultWindows, run_s: f64) -> SloResult {
    let width_us = s.buckets.width_us();
    let width_s = width_us as f64 / 1e6;
    let buckets = s.buckets.as_slice();
    let (measured, whole_ok) = measure_whole(slo, s);
    let windows = slo.window_us.map(|w| windows(slo, &s.buckets, w));
    let windows_ok = windows.as_ref().is_none_or(|w| w.0.failed == 0);
    let passed = whole_ok && windows_ok;
    let budget = slo.budget_share().map(|share| {
        let allowed = share * s.total as f64;
        let mut cumulative = 0u64;
        let mut exhausted = None;
        let mut consumed_over_time = Vec::with_capacity(buckets.len());
        for (i, b) in buckets.iter().enumerate() {
            cumulative += b.bad;
            if exhausted.is_none() && cumulative as f64 > allowed {
                exhausted = Some((i + 1) as f64 * width_s);
            }
            consumed_over_time.push(if allowed > 0.0 {
                ((cumulative as f64 / allowed) * 1e4).round() / 1e4
            } else {
                0.0
            });
        }
        ErrorBudget {
            allowed_bad: allowed,
            consumed: if allowed > 0.0 {
                s.bad as f64 / allowed
            } else if s.bad > 0 {
                f64::INFINITY
            } else {
                0.0
            },
            exhausted_at_s: exhausted,
            bucket_s: width_s,
            consumed_over_time,
        }
    });
    let first_breached_s = if passed {
        None
    } else if !windows_ok {
        windows.as_ref().and_then(|w| w.1)
    } else {
        budget
            .as_ref()
            .and_then(|b| b.exhausted_at_s)
            .or_else(|| first_bad_bucket(slo, buckets, width_s))
    };
    let during_faults = first_breached_s.map_or_else(Vec::new, |t| faults.open_at(t));
    SloResult {
        name: slo.name.clone(),
        sli: slo.sli(),
        operation: slo.op.as_str(),
        method: slo.method.map(|m| m.as_str()),
        threshold: slo.describe(),
        passed,
        measured,
        measured_text: match slo.latency() {
            Some((stat, _, _)) => format!("{} = {measured:.1} ms", stat_name(stat)),
            None => format!("{} good", percent(measured)),
        },
        total: s.total,
        bad: s.bad,
        windows: windows.map(|w| w.0),
        first_breached_s,
        during_faults,
        burn_rate: slo
            .budget_share()
            .filter(|share| *share > 0.0)
            .map(|share| burn::evaluate(buckets, width_us, share, run_s)),
        error_budget: budget,
        buckets: SliCounts {
            bucket_s: width_us / 1_000_000,
            total: buckets.iter().map(|b| b.total).collect(),
            bad: buckets.iter().map(|b| b.bad).collect(),
        },
    }
}

fn stat_name(stat: Stat) -> String {
    match stat {
        Stat::Percentile(p) => format!("p({p})"),
        Stat::Avg => "avg".into(),
        Stat::Min => "min".into(),
        Stat::Max => "max".into(),
        Stat::Rate => "rate".into(),
    }
}

/// The whole run's value and whether it meets the objective (an objective
/// nothing reached holds: there was nothing to breach it).
fn measure_whole(slo: &Slo, s: &SliSeries) -> (f64, bool) {
    if s.total == 0 {
        return (if slo.latency().is_some() { 0.0 } else { 1.0 }, true);
    }
    match (slo.latency(), &s.latency) {
        (Some((stat, cmp, limit)), Some(h)) => {
            let v = stat_ms(h, stat);
            (v, cmp.holds(v, limit))
        }
        _ => {
            let bad = s.bad as f64 / s.total as f64;
            (1.0 - bad, slo.bad_share_ok(bad))
        }
    }
}

/// One window's value and whether it meets the objective.
fn measure_window(
    slo: &Slo,
    total: u64,
    bad: u64,
    latency: Option<&Histogram<u32>>,
) -> (f64, bool) {
    match (slo.latency(), latency) {
        (Some((stat, cmp, limit)), Some(h)) => {
            let v = stat_ms(h, stat);
            (v, cmp.holds(v, limit))
        }
        _ => {
            let share = bad as f64 / total as f64;
            (1.0 - share, slo.bad_share_ok(share))
        }
    }
}

/// Tumbling windows of whole buckets: the report and the first failing
/// window's start.
fn windows(slo: &Slo, buckets: &Buckets<SliBucket>, window_us: u64) -> (WindowReport, Option<f64>) {
    let width_us = buckets.width_us();
    let k = window_us.div_ceil(width_us).max(1) as usize;
    let window_s = (k as u64 * width_us) as f64 / 1e6;
    let mut report = WindowReport {
        window_s,
        evaluated: 0,
        failed: 0,
        worst_start_s: None,
        worst_measured: None,
    };
    let mut first_failed = None;
    // Worse is lower for a good share; for latency, further past the limit.
    let worse = |a: f64, b: f64| match slo.latency() {
        Some((_, Cmp::Lt | Cmp::Le, _)) => a > b,
        Some((_, Cmp::Gt | Cmp::Ge, _)) => a < b,
        None => a < b,
    };
    for (w, chunk) in buckets.as_slice().chunks(k).enumerate() {
        let total: u64 = chunk.iter().map(|b| b.total).sum();
        if total == 0 {
            continue;
        }
        let bad: u64 = chunk.iter().map(|b| b.bad).sum();
        let mut merged: Option<Histogram<u32>> = None;
        for h in chunk.iter().filter_map(|b| b.latency.as_ref()) {
            match &mut merged {
                Some(m) => {
                    let _ = m.add(h);
                }
                None => merged = Some(h.clone()),
            }
        }
        let (v, ok) = measure_window(slo, total, bad, merged.as_ref());
        let start_s = w as f64 * window_s;
        report.evaluated += 1;
        if !ok {
            report.failed += 1;
            first_failed.get_or_insert(start_s);
        }
        if report.worst_measured.is_none_or(|m| worse(v, m)) {
            report.worst_measured = Some(v);
            report.worst_start_s = Some(start_s);
        }
    }
    (report, first_failed)
}

/// For an objective without a budget (avg, min, max): the start of the
/// first bucket whose own value breaches it.
fn first_bad_bucket(slo: &Slo, buckets: &[SliBucket], width_s: f64) -> Option<f64> {
    buckets.iter().enumerate().find_map(|(i, b)| {
        if b.total == 0 {
            return None;
        }
        let (_, ok) = measure_window(slo, b.total, b.bad, b.latency.as_ref());
        (!ok).then_some(i as f64 * width_s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Method;
    use crate::metrics::OpKind;
    use crate::slo::{OutcomeClass, SloFile};

    const S: u64 = 1_000_000;

    fn book(toml_body: &str) -> SloBook {
        let f: SloFile = toml::from_str(&format!("[[slo]]\nname = \"t\"\n{toml_body}")).unwrap();
        SloBook::new(vec![f.slo[0].compile(0).unwrap()])
    }

    fn ok(b: &mut SloBook, latency_us: u64, at_us: u64) {
        b.record(
            OpKind::Create,
            Method::CardOnline,
            OutcomeClass::Ok,
            latency_us,
            at_us,
        );
    }

    fn lost(b: &mut SloBook, at_us: u64) {
        b.record(
            OpKind::Create,
            Method::CardOnline,
            OutcomeClass::Unknown,
            5_000_000,
            at_us,
        );
    }

    #[test]
    fn availability_passes_within_its_objective_and_fails_past_it() {
        let mut b = book("objective = 0.99");
        for t in 0..100 {
            ok(&mut b, 10_000, t * S);
        }
        lost(&mut b, 50 * S);
        let r = &evaluate(&b, &FaultWindows::default(), 100.0)[0];
        assert!(r.passed, "1 bad in 101 is within 1%: {r:?}");
        assert_eq!((r.total, r.bad), (101, 1));
        lost(&mut b, 60 * S);
        let r = &evaluate(&b, &FaultWindows::default(), 100.0)[0];
        assert!(!r.passed, "2 bad in 102 is not: {r:?}");
        assert_eq!(r.measured_text, "98.0392% good");
        let budget = r.error_budget.as_ref().unwrap();
        assert!((budget.consumed - 2.0 / 1.02).abs() < 1e-9, "{budget:?}");
        assert_eq!(
            r.first_breached_s,
            Some(61.0),
            "the budget ran out in second 60"
        );
    }

    #[test]
    fn a_latency_percentile_is_measured_on_the_histogram() {
        let mut b = book("threshold = \"p(99) < 300ms\"");
        for t in 0..1000 {
            ok(
                &mut b,
                if t % 100 == 0 { 400_000 } else { 100_000 },
                t * S / 10,
            );
        }
        let r = &evaluate(&b, &FaultWindows::default(), 100.0)[0];
        assert!(r.passed, "1% at 400 ms: p99 is 100 ms: {r:?}");
        for t in 0..20 {
            ok(&mut b, 400_000, t * S);
        }
        let r = &evaluate(&b, &FaultWindows::default(), 100.0)[0];
        assert!(!r.passed && r.measured > 390.0, "{r:?}");
        assert_eq!(r.threshold, "p(99) < 300 ms");
    }

    #[test]
    fn a_windowed_threshold_catches_one_bad_minute_the_whole_run_hides() {
        let mut b = book("threshold = \"p(99) < 500ms\"\nwindow_s = 60");
        for t in 0..600u64 {
            // In the minute from 120 s, 5% of requests take 900 ms: 0.5%
            // of the run, so the run's p99 stays fast.
            let slow_second = (120..180).contains(&t) && t % 2 == 0;
            for i in 0..10 {
                let slow = slow_second && i == 0;
                ok(&mut b, if slow { 900_000 } else { 50_000 }, t * S);
            }
        }
        let r = &evaluate(&b, &FaultWindows::default(), 600.0)[0];
        assert!(r.measured < 500.0, "the whole run's p99 hides it: {r:?}");
        let w = r.windows.as_ref().unwrap();
        assert_eq!((w.window_s, w.evaluated, w.failed), (60.0, 10, 1), "{w:?}");
        assert_eq!(w.worst_start_s, Some(120.0));
        assert!(!r.passed);
        assert_eq!(r.first_breached_s, Some(120.0));
    }

    #[test]
    fn a_breach_names_the_faults_open_at_the_time() {
        let mut b = book("objective = 0.999");
        for t in 0..100 {
            ok(&mut b, 1_000, t * S);
        }
        for _ in 0..5 {
            lost(&mut b, 30 * S);
        }
        let plan = crate::chaos::Plan::parse(
            "[[fault]]\nname = \"issuer down\"\ntarget = \"network->issuer:0\"\nkind = \"outage\"\nstart_s = 25\nduration_s = 10\n",
            "t.toml",
        )
        .unwrap();
        let chaos = crate::chaos::Chaos::build(
            &[plan],
            crate::sim::Seed(1),
            crate::chaos::Shape {
                horizon_s: 100.0,
                issuers: 4,
                networks: 2,
            },
        );
        let summary = chaos.summary(None);
        let r = &evaluate(&b, &FaultWindows::of(Some(&summary)), 100.0)[0];
        assert!(!r.passed);
        assert_eq!(r.first_breached_s, Some(31.0));
        assert_eq!(r.during_faults, ["issuer down"]);
    }
}
