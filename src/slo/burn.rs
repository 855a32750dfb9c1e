//! Multi-window, multi-burn-rate alerts, as the Google SRE Workbook
//! ("Alerting on SLOs", table 5-8) sets them for a 30-day objective: page
//! when 2% of the budget burns in an hour (rate 14.4, checked over 1 h and
//! 5 min) or 5% in six hours (rate 6, 6 h and 30 min); open a ticket when
//! 10% burns in a day (rate 3, 1 d and 2 h) or in three days (rate 1, 3 d
//! and 6 h). An alert fires while the error rate over both its long and its
//! short window exceeds the burn rate times the budget share.
//!
//! A run is not 30 days, so the windows are scaled by the run's length over
//! 30 days (a 24-hour Black Friday turns the 1-hour window into 2 minutes)
//! and rounded up to whole buckets of the run's time series; the report
//! states the scale and the windows used.

use serde::Serialize;

use super::book::SliBucket;

/// (severity, long window, short window, burn rate, share of budget it
/// stands for), windows in seconds of a 30-day objective.
pub const WORKBOOK: [(&str, f64, f64, f64, f64); 4] = [
    ("page", 3_600.0, 300.0, 14.4, 0.02),
    ("page", 21_600.0, 1_800.0, 6.0, 0.05),
    ("ticket", 86_400.0, 7_200.0, 3.0, 0.10),
    ("ticket", 259_200.0, 21_600.0, 1.0, 0.10),
];

pub const OBJECTIVE_PERIOD_S: f64 = 30.0 * 86_400.0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BurnAlert {
    pub severity: &'static str,
    pub burn_rate: f64,
    /// The share of the budget such a burn consumes in the long window.
    pub budget_share: f64,
    /// The windows used, in seconds of the run (scaled, whole buckets).
    pub long_window_s: f64,
    pub short_window_s: f64,
    pub fired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_fired_s: Option<f64>,
    /// How long it fired in all.
    pub firing_s: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BurnReport {
    /// Run length over 30 days: what the workbook's windows were multiplied by.
    pub scale: f64,
    pub note: String,
    pub alerts: Vec<BurnAlert>,
}

/// Evaluates the workbook's alerts over `buckets` (each `width_us` wide)
/// for an objective allowing `budget_share` bad requests, on a run of
/// `run_s` seconds of load.
pub fn evaluate(buckets: &[SliBucket], width_us: u64, budget_share: f64, run_s: f64) -> BurnReport {
    let width_s = width_us as f64 / 1e6;
    let scale = run_s.max(width_s) / OBJECTIVE_PERIOD_S;
    let alerts = WORKBOOK
        .iter()
        .map(|&(severity, long, short, burn_rate, share)| {
            let k = |w: f64| ((w * scale / width_s).ceil() as usize).max(1);
            let (long_k, short_k) = (k(long), k(short));
            let limit = burn_rate * budget_share;
            let mut first = None;
            let mut firing = 0usize;
            for i in 0..buckets.len() {
                let ratio = |n: usize| {
                    let from = (i + 1).saturating_sub(n);
                    let (bad, total) = buckets[from..=i]
                        .iter()
                        .fold((0u64, 0u64), |(b, t), x| (b + x.bad, t + x.total));
                    (total > 0).then(|| bad as f64 / total as f64)
                };
                let fires = matches!((ratio(long_k), ratio(short_k)), (Some(l), Some(s)) if l > limit && s > limit);
                if fires {
                    firing += 1;
                    first.get_or_insert((i + 1) as f64 * width_s);
                }
            }
            BurnAlert {
                severity,
                burn_rate,
                budget_share: share,
                long_window_s: long_k as f64 * width_s,
                short_window_s: short_k as f64 * width_s,
                fired: first.is_some(),
                first_fired_s: first,
                firing_s: firing as f64 * width_s,
            }
        })
        .collect();
    BurnReport {
        scale,
        note: format!(
            "SRE Workbook multi-window multi-burn-rate alerts for a 30-day objective, windows scaled by the run's {run_s:.0} s of load over 30 days ({scale:.3e}) and rounded up to whole {width_s:.0} s buckets"
        ),
        alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(bad_per_bucket: &[(u64, u64)]) -> Vec<SliBucket> {
        bad_per_bucket
            .iter()
            .map(|&(bad, total)| SliBucket {
                total,
                bad,
                latency: None,
            })
            .collect()
    }

    #[test]
    fn a_fast_burn_pages_and_a_slow_one_only_tickets() {
        // A 30-day objective squeezed into 30 days of 1-hour buckets would be
        // 720 buckets; here 720 one-second buckets of a 720 s run: scale
        // 720 / 2,592,000, so the 1 h page window is 1 bucket.
        let budget = 0.001;
        let mut fast = vec![(0, 1000); 720];
        fast[100] = (50, 1000); // 5% errors for one bucket: 50x the budget
        let r = evaluate(&series(&fast), 1_000_000, budget, 720.0);
        assert!(r.alerts[0].fired, "{r:?}");
        assert_eq!(r.alerts[0].first_fired_s, Some(101.0));
        let slow: Vec<(u64, u64)> = vec![(2, 1000); 720]; // 2x the budget throughout
        let r = evaluate(&series(&slow), 1_000_000, budget, 720.0);
        let fired: Vec<(&str, f64)> = r
            .alerts
            .iter()
            .filter(|a| a.fired)
            .map(|a| (a.severity, a.burn_rate))
            .collect();
        assert_eq!(fired, [("ticket", 1.0)], "{r:?}");
        let clean = vec![(0, 1000); 720];
        assert!(evaluate(&series(&clean), 1_000_000, budget, 720.0)
            .alerts
            .iter()
            .all(|a| !a.fired));
    }

    #[test]
    fn windows_scale_with_the_run_and_never_shrink_below_a_bucket() {
        let day = evaluate(&series(&[(0, 1)]), 64_000_000, 0.001, 86_400.0);
        // 1 h x (1 d / 30 d) = 120 s: two 64 s buckets.
        assert_eq!(day.alerts[0].long_window_s, 128.0);
        // 3 d x (1 d / 30 d) = 8,640 s: exactly 135 buckets.
        assert_eq!(day.alerts[3].long_window_s, 8_640.0);
        let short = evaluate(&series(&[(0, 1)]), 1_000_000, 0.001, 60.0);
        assert!(short.alerts.iter().all(|a| a.short_window_s == 1.0));
        assert!(short.note.contains("30 days"));
    }
}
