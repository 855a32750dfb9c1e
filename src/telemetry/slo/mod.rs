//! Burn rates of the run's objectives, live: per objective, good and bad
//! requests in 10-second slots over the last three days (Sloth's longest
//! SLI window), so a scrape can state the burn rate over each of Sloth's
//! windows (5m ... 3d) and over the whole run without Prometheus having
//! to compute it. A burn rate is the window's bad share over the share the
//! objective allows: 1 spends the budget exactly over the period, 14.4
//! pages.
//!
//! The windows are wall or virtual seconds as the run's clock counts them;
//! on a one-minute sim run every window holds the whole run. The recording
//! rules `paystorm rules` writes compute the same ratios in Prometheus from
//! `paystorm_requests_total` and `paystorm_request_duration_seconds`.

use std::sync::Mutex;

use crate::domain::Method;
use crate::lock::Locked;
use crate::metrics::OpKind;
use crate::slo::{OutcomeClass, Slo};

use super::family::Spec;

pub const BURN_RATE: Spec = Spec::gauge(
    "paystorm_slo_burn_rate",
    &["slo", "window"],
    "Error-budget burn rate of an objective over a window: the bad share of its requests over the share it allows (1 = spends the budget exactly over the objective's period).",
);
pub const OBJECTIVE: Spec = Spec::gauge(
    "paystorm_slo_objective_ratio",
    &["slo"],
    "The good share an objective asks for (0.999 for 99.9%).",
);
pub const BUDGET_REMAINING: Spec = Spec::gauge(
    "paystorm_slo_error_budget_remaining_ratio",
    &["slo"],
    "Share of an objective's error budget left over the run so far (negative: overspent).",
);
pub const EVENTS: Spec = Spec::counter(
    "paystorm_slo_requests_total",
    &["slo", "outcome"],
    "Requests an objective covers (excluded ones left out), by whether they were good or bad for it.",
);

/// Sloth's SLI windows, as (label, seconds).
pub const WINDOWS: [(&str, u64); 7] = [
    ("5m", 300),
    ("30m", 1_800),
    ("1h", 3_600),
    ("2h", 7_200),
    ("6h", 21_600),
    ("1d", 86_400),
    ("3d", 259_200),
];

const SLOT_US: u64 = 10_000_000;
const SLOTS: usize = (259_200 / 10) as usize;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// Which 10 s slot of the run this is (a ring slot is reused).
    stamp: u64,
    total: u64,
    bad: u64,
}

struct Ring {
    slots: Vec<Slot>,
    total: u64,
    bad: u64,
    last_us: u64,
}

/// One objective's meter.
struct Meter {
    slo: Slo,
    /// The objective's name as a slug: Sloth's `sloth_slo` label.
    label: String,
    share: f64,
    ring: Mutex<Ring>,
}

/// What a scrape reports of one objective.
#[derive(Clone, Debug, PartialEq)]
pub struct Burn {
    pub slo: String,
    pub objective: f64,
    pub total: u64,
    pub bad: u64,
    /// Over the whole run so far, then per [`WINDOWS`] entry.
    pub run: f64,
    pub windows: Vec<(&'static str, f64)>,
}

/// Every objective with an error budget (avg, min and max objectives have
/// none and are left out, as `paystorm rules` leaves them out).
pub struct SloMeters(Vec<Meter>);

impl SloMeters {
    pub fn new(slos: &[Slo]) -> SloMeters {
        SloMeters(
            slos.iter()
                .filter_map(|s| {
                    let share = s.budget_share()?;
                    Some(Meter {
                        label: crate::slo::rules::slug(&s.name),
                        slo: s.clone(),
                        share,
                        ring: Mutex::new(Ring {
                            slots: vec![Slot::default(); SLOTS],
                            total: 0,
                            bad: 0,
                            last_us: 0,
                        }),
                    })
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A logical request ended at `now_us` as `class`, `latency_us` after
    /// it was meant to start.
    pub fn record(
        &self,
        op: OpKind,
        method: Method,
        class: OutcomeClass,
        latency_us: u64,
        now_us: u64,
    ) {
        for m in &self.0 {
            if !m.slo.covers(op, method) {
                continue;
            }
            let Some(bad) = m.slo.judge(class, latency_us) else {
                continue;
            };
            let stamp = now_us / SLOT_US;
            let mut r = m.ring.locked();
            let slot = &mut r.slots[(stamp % SLOTS as u64) as usize];
            if slot.stamp != stamp {
                *slot = Slot {
                    stamp,
                    total: 0,
                    bad: 0,
                };
            }
            slot.total += 1;
            slot.bad += u64::from(bad);
            r.total += 1;
            r.bad += u64::from(bad);
            r.last_us = r.last_us.max(now_us);
        }
    }

    /// Burn rates at `now_us` (`None`: the latest request's time).
    pub fn read(&self, now_us: Option<u64>) -> Vec<Burn> {
        self.0
            .iter()
            .map(|m| {
                let r = m.ring.locked();
                let now = now_us.unwrap_or(r.last_us).max(r.last_us);
                let now_stamp = now / SLOT_US;
                let burn = |total: u64, bad: u64| {
                    if total == 0 || m.share <= 0.0 {
                        0.0
                    } else {
                        bad as f64 / total as f64 / m.share
                    }
                };
                let windows = WINDOWS
                    .iter()
                    .map(|&(name, seconds)| {
                        let n = (seconds * 1_000_000 / SLOT_US).max(1);
                        let from = now_stamp.saturating_sub(n - 1);
                        let (t, b) = r
                            .slots
                            .iter()
                            .filter(|s| s.total > 0 && s.stamp >= from && s.stamp <= now_stamp)
                            .fold((0, 0), |(t, b), s| (t + s.total, b + s.bad));
                        (name, burn(t, b))
                    })
                    .collect();
                Burn {
                    slo: m.label.clone(),
                    objective: 1.0 - m.share,
                    total: r.total,
                    bad: r.bad,
                    run: burn(r.total, r.bad),
                    windows,
                }
            })
            .collect()
    }
}

/// The SLO families of one reading.
pub fn families(burns: &[Burn]) -> Vec<prometheus::proto::MetricFamily> {
    let (mut rate, mut objective, mut remaining, mut events) = (
        BURN_RATE.family(),
        OBJECTIVE.family(),
        BUDGET_REMAINING.family(),
        EVENTS.family(),
    );
    for b in burns {
        rate.add(&[&b.slo, "run"], b.run);
        for (w, v) in &b.windows {
            rate.add(&[&b.slo, w], *v);
        }
        objective.add(&[&b.slo], b.objective);
        remaining.add(&[&b.slo], 1.0 - b.run);
        events.add_u64(&[&b.slo, "good"], b.total - b.bad);
        events.add_u64(&[&b.slo, "bad"], b.bad);
    }
    vec![
        rate.done(),
        objective.done(),
        remaining.done(),
        events.done(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meters(text: &str) -> SloMeters {
        let f = crate::slo::SloFile::parse(text, "t.toml").unwrap();
        SloMeters::new(&crate::slo::compile(&f.slo).unwrap())
    }

    const S: u64 = 1_000_000;

    #[test]
    fn a_window_forgets_what_happened_before_it() {
        let m = meters("[[slo]]\nname = \"Cards up\"\nobjective = 0.99\n");
        // 100 bad requests an hour ago, then 100 good ones now.
        for _ in 0..100 {
            m.record(OpKind::Create, Method::CardNfc, OutcomeClass::Unknown, 1, 0);
        }
        for _ in 0..100 {
            m.record(
                OpKind::Create,
                Method::CardNfc,
                OutcomeClass::Ok,
                1,
                3_700 * S,
            );
        }
        let b = &m.read(None)[0];
        assert_eq!(b.slo, "cards-up");
        assert_eq!((b.total, b.bad), (200, 100));
        assert!((b.run - 50.0).abs() < 1e-9, "half bad over a 1% budget");
        let w: std::collections::BTreeMap<_, _> = b.windows.iter().cloned().collect();
        assert_eq!(w["5m"], 0.0);
        assert_eq!(w["1h"], 0.0, "the bad hour is just outside");
        assert!((w["2h"] - 50.0).abs() < 1e-9);
    }

    #[test]
    fn only_covered_requests_count_and_avg_objectives_have_no_meter() {
        let m = meters(
            "[[slo]]\nname = \"qr\"\nmethod = \"qr_wallet\"\nobjective = 0.9\n[[slo]]\nname = \"avg\"\nthreshold = \"avg < 100ms\"\n",
        );
        m.record(OpKind::Create, Method::CardNfc, OutcomeClass::Unknown, 1, 0);
        m.record(OpKind::Create, Method::QrWallet, OutcomeClass::Ok, 1, 0);
        let r = m.read(Some(0));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].total, r[0].bad), (1, 0));
    }
}
