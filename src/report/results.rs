//! results.json, schema version 1. Deterministic: no wall-clock figure, maps
//! in a fixed order, the same bytes for the same seed and workload.

use std::collections::BTreeMap;

use crate::check::{InvariantResult, UnknownResolution};
use crate::load::recorder::Counts;
use crate::metrics::{ByMethod, LatencyBook, Percentiles, TimeSeriesReport};
use crate::sim::run::RunOutcome;
use crate::stack::{DrainReport, StackStats};
use crate::workload::{InputError, Workload};

pub const SCHEMA_VERSION: u32 = 1;

/// Exit codes (CI depends on them): 0 pass; 1 an SLO or latency budget was
/// breached; 2 an exactly-once or ledger invariant was violated; 3 the run is
/// invalid (more arrivals dropped or sent late than the workload tolerates);
/// 4 bad input or usage.
/// A proven violation wins over everything: money lost or doubled is so
/// whatever else went wrong.
pub fn exit_code(outcome: &RunOutcome, dropped_share_max: f64) -> i32 {
    exit_code_of(
        outcome.verdict.all_passed(),
        outcome.counts.dropped_arrivals + outcome.counts.late_arrivals,
        outcome.arrivals,
        dropped_share_max,
        outcome.slos.iter().all(|s| s.passed),
    )
}

/// The exit code from its inputs: whether every invariant held, arrivals
/// dropped or late (`missed`) of those offered, the share the workload
/// tolerates, and whether every objective was met.
pub fn exit_code_of(
    invariants_held: bool,
    missed: u64,
    arrivals: u64,
    dropped_share_max: f64,
    slos_met: bool,
) -> i32 {
    use crate::exit_code::{INVALID, INVARIANT_VIOLATED, PASS, SLO_BREACHED};
    let code = if !invariants_held {
        INVARIANT_VIOLATED
    } else if missed as f64 / arrivals.max(1) as f64 > dropped_share_max {
        INVALID
    } else if !slos_met {
        SLO_BREACHED
    } else {
        PASS
    };
    i32::from(code)
}

/// A run directory's results.json, checked to be JSON of this schema
/// version: its path, text and value. Errors say which file and what is
/// wrong with it, in the caller's words (`input_error(file, what)`).
pub fn read_value(
    dir: &std::path::Path,
    input_error: impl Fn(&std::path::Path, String) -> InputError,
) -> Result<(std::path::PathBuf, String, serde_json::Value), InputError> {
    if !dir.exists() {
        return Err(input_error(dir, "does not exist".into()));
    }
    if !dir.is_dir() {
        return Err(input_error(dir, "is not a directory".into()));
    }
    let path = dir.join("results.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| input_error(&path, format!("cannot be read: {e}")))?;
    // Syntax first, for the line and column; then the schema version, so a
    // results.json from another version says so rather than "missing field".
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| input_error(&path, format!("is not valid JSON: {e}")))?;
    match value.get("schema_version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(SCHEMA_VERSION) => Ok((path, text, value)),
        Some(v) => Err(input_error(
            &path,
            format!("has schema_version {v}, but this paystorm reads only version {SCHEMA_VERSION}; run both sides with the same paystorm"),
        )),
        None => Err(input_error(
            &path,
            "has no `schema_version`: it is not a paystorm results.json".into(),
        )),
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
    #[serde(flatten)]
    pub latency: LatencySections,
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

/// The latency sections of results.json, from the run's histograms (or
/// from several runs' histograms added, for `paystorm merge`).
#[derive(serde::Serialize)]
pub struct LatencySections {
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
}

impl LatencySections {
    pub fn of(book: &LatencyBook) -> LatencySections {
        LatencySections {
            latency_ms: book.corrected_ms().into_iter().collect(),
            service_time_ms: book.service_ms().into_iter().collect(),
            latency_ms_by_method: book.corrected_ms_by_method(),
            service_time_ms_by_method: book.service_ms_by_method(),
            latency_ms_by_issuer: book
                .corrected_ms_by_issuer()
                .into_iter()
                .map(|(i, p)| (format!("issuer:{}", i.0), p))
                .collect(),
        }
    }
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
            latency: LatencySections::of(&o.latency),
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
