//! results.json, schema version 1. Deterministic: no wall-clock figure, maps
//! in a fixed order, the same bytes for the same seed and workload.

use std::collections::BTreeMap;

use crate::check::{InvariantResult, UnknownResolution};
use crate::load::recorder::Counts;
use crate::metrics::{ByMethod, Percentiles, TimeSeriesReport};
use crate::sim::run::RunOutcome;
use crate::stack::{DrainReport, StackStats};
use crate::workload::Workload;

pub const SCHEMA_VERSION: u32 = 1;

/// Exit codes (CI depends on them): 0 pass; 1 an SLO or latency budget was
/// breached; 2 an exactly-once or ledger invariant was violated; 3 the run is
/// invalid (more arrivals dropped or sent late than the workload tolerates);
/// 4 bad input or usage.
/// A proven violation wins over everything: money lost or doubled is so
/// whatever else went wrong.
pub fn exit_code(outcome: &RunOutcome, dropped_share_max: f64) -> i32 {
    let offered = outcome.arrivals.max(1) as f64;
    let missed = (outcome.counts.dropped_arrivals + outcome.counts.late_arrivals) as f64 / offered;
    if !outcome.verdict.all_passed() {
        2
    } else if missed > dropped_share_max {
        3
    } else if outcome.slos.iter().any(|s| !s.passed) {
        1
    } else {
        0
    }
}

#[derive(serde::Serialize)]
pub struct Results<'a> {
    pub schema_version: u32,
    pub seed: u64,
    pub workload: &'a str,
    pub workload_source: &'a str,
    pub sabotage: &'a [&'static str],
    pub simulated_seconds: f64,
    /// When the last arrival was scheduled; the drain phase follows.
    pub load_seconds: f64,
    pub arrivals: u64,
    pub counts: Counts,
    /// Corrected latency: from the intended send time of each logical request.
    pub latency_ms: BTreeMap<&'static str, Percentiles>,
    /// Service time: from the actual send of each attempt.
    pub service_time_ms: BTreeMap<&'static str, Percentiles>,
    /// Corrected latency per payment method, then operation.
    pub latency_ms_by_method: ByMethod,
    /// Service time per payment method, then operation.
    pub service_time_ms_by_method: ByMethod,
    /// Corrected payment (create) latency by the customer's bank:
    /// `{"issuer:N": {...}}`, so one slow issuer's cost to the others shows.
    pub latency_ms_by_issuer: BTreeMap<String, Percentiles>,
    /// Offered, completed and failed payments and their latency per bucket
    /// of simulated time.
    pub timeseries: TimeSeriesReport,
    /// The stack's depths over the load, sampled once a simulated second:
    /// webhooks not yet delivered or dead-lettered, the dead-letter queue,
    /// downstream messages of unknown outcome (the highest per bucket).
    pub gauges: &'a crate::metrics::gauges::GaugesReport,
    pub invariants: &'a [InvariantResult],
    pub unknowns: &'a UnknownResolution,
    pub stack: &'a StackStats,
    pub drain: DrainReport,
    /// Present only with `--chaos`: every fault, its windows and how often
    /// it was injected, and the recovery after the last window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faults: Option<&'a crate::chaos::FaultSummary>,
    /// Breakers (with their transitions), rate limits, bulkheads, shedding,
    /// in-stack retries and their budget, deadlines.
    pub resilience: &'a crate::resilience::ResilienceReport,
    /// Each service level objective: passed or not, the measured value, the
    /// threshold, when it was first breached and during which faults, its
    /// error budget and burn-rate alerts.
    pub slos: &'a [crate::slo::SloResult],
    /// When an `abort_on_fail` objective stopped the load (absent: it ran
    /// to the end).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted_at_s: Option<f64>,
    pub exit_code: i32,
}

impl<'a> Results<'a> {
    pub fn new(
        workload: &'a Workload,
        seed: u64,
        sabotage: &'a [&'static str],
        o: &'a RunOutcome,
    ) -> Results<'a> {
        Results {
            schema_version: SCHEMA_VERSION,
            seed,
            workload: workload.name(),
            workload_source: &workload.source,
            sabotage,
            simulated_seconds: o.simulated_seconds,
            load_seconds: o.load_seconds,
            arrivals: o.arrivals,
            counts: o.counts,
            latency_ms: o.latency.corrected_ms().into_iter().collect(),
            service_time_ms: o.latency.service_ms().into_iter().collect(),
            latency_ms_by_method: o.latency.corrected_ms_by_method(),
            service_time_ms_by_method: o.latency.service_ms_by_method(),
            latency_ms_by_issuer: o
                .latency
                .corrected_ms_by_issuer()
                .into_iter()
                .map(|(i, p)| (format!("issuer:{}", i.0), p))
                .collect(),
            timeseries: o.series.report(),
            gauges: &o.gauges,
            invariants: &o.verdict.invariants,
            unknowns: &o.verdict.unknowns,
            stack: &o.stack,
            drain: o.drain,
            faults: o.faults.as_ref(),
            resilience: &o.resilience,
            slos: &o.slos,
            aborted_at_s: o.aborted_at_s,
            exit_code: exit_code(o, workload.file.load.dropped_share_max),
        }
    }
}
