//! The parts of results.json `report.html` is drawn from: the report reads
//! the file, not the run, so `paystorm report` can redraw any run's page.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The parts of results.json the report reads.
#[derive(Deserialize)]
pub struct Data {
    pub(super) workload: String,
    pub(super) seed: u64,
    pub(super) exit_code: i32,
    pub(super) simulated_seconds: f64,
    pub(super) load_seconds: f64,
    pub(super) counts: Counts,
    pub(super) latency_ms: BTreeMap<String, Pct>,
    pub(super) timeseries: Series,
    pub(super) gauges: Gauges,
    pub(super) invariants: Vec<Invariant>,
    #[serde(default)]
    pub(super) slos: Vec<Slo>,
    #[serde(default)]
    pub(super) faults: Option<Faults>,
    pub(super) resilience: Resilience,
    #[serde(default)]
    pub(super) aborted_at_s: Option<f64>,
}

#[derive(Deserialize)]
pub(super) struct Counts {
    pub(super) attempted: u64,
    pub(super) succeeded: u64,
    pub(super) declined: u64,
    pub(super) failed: u64,
    pub(super) unknown: u64,
}

#[derive(Deserialize)]
pub(super) struct Pct {
    pub(super) count: u64,
    pub(super) p50: f64,
    pub(super) p99: f64,
    pub(super) p999: f64,
}

#[derive(Deserialize)]
pub(super) struct Series {
    pub(super) bucket_s: u64,
    pub(super) t_s: Vec<u64>,
    pub(super) offered: Vec<u64>,
    pub(super) completed: Vec<u64>,
    pub(super) errors: Vec<u64>,
    pub(super) p50_ms: Vec<Option<f64>>,
    pub(super) p99_ms: Vec<Option<f64>>,
    pub(super) service_p99_ms: Vec<Option<f64>>,
    pub(super) rate_limited: Vec<u64>,
    pub(super) unavailable: Vec<u64>,
}

#[derive(Deserialize)]
pub(super) struct Gauges {
    pub(super) t_s: Vec<u64>,
    pub(super) webhooks_outstanding_max: Vec<Option<u64>>,
    pub(super) dead_lettered: Vec<Option<u64>>,
    pub(super) unresolved_max: Vec<Option<u64>>,
}

#[derive(Deserialize)]
pub(super) struct Invariant {
    pub(super) name: String,
    pub(super) passed: bool,
    pub(super) violations: u64,
    pub(super) example: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Slo {
    pub(super) name: String,
    pub(super) operation: String,
    pub(super) method: Option<String>,
    pub(super) threshold: String,
    pub(super) passed: bool,
    pub(super) measured_text: String,
    pub(super) first_breached_s: Option<f64>,
    #[serde(default)]
    pub(super) during_faults: Vec<String>,
    pub(super) error_budget: Option<Budget>,
}

#[derive(Deserialize)]
pub(super) struct Budget {
    pub(super) consumed: f64,
    pub(super) bucket_s: f64,
    pub(super) consumed_over_time: Vec<f64>,
}

#[derive(Deserialize)]
pub(super) struct Faults {
    pub(super) faults: Vec<Fault>,
}

#[derive(Deserialize)]
pub(super) struct Fault {
    pub(super) name: String,
    pub(super) injected: u64,
    pub(super) windows: Vec<(f64, f64)>,
}

#[derive(Deserialize)]
pub(super) struct Resilience {
    pub(super) downstreams: Vec<Downstream>,
}

#[derive(Deserialize)]
pub(super) struct Downstream {
    pub(super) name: String,
    pub(super) breaker: Option<Breaker>,
}

#[derive(Deserialize)]
pub(super) struct Breaker {
    pub(super) opened: u32,
    pub(super) transitions: Vec<Transition>,
}

#[derive(Deserialize)]
pub(super) struct Transition {
    pub(super) at_s: f64,
    pub(super) to: String,
}
