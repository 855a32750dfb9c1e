//! Prometheus metrics of a run, in the text exposition format: what a live
//! run serves on `/metrics` and what `paystorm run --metrics-out FILE`
//! writes at the end of a sim run. The catalogue (every name, type, label
//! and meaning) is `docs/metrics.md`; [`catalogue`] is its source, and a
//! test keeps the two in step.
//!
//! Conventions (vector's instrumentation spec): names
//! `paystorm_<what>_<unit>`, counters end in `_total`, durations are
//! histograms in seconds (1 ms to 30 s, plus a bucket at each latency
//! objective's limit), and every label value comes from a small fixed set
//! or from the run's configuration ([`labels`]): never a payment id,
//! idempotency key, merchant id or card number.
//!
//! Where the figures come from:
//! - the load generator's logical requests ([`client`]) and the gateway's
//!   answers ([`gateway`]) are recorded as they happen, through handles
//!   resolved once: a run without telemetry does not have them at all
//!   (`Option`), and one with them stays byte-identical in its results;
//! - everything the stack already counts for `results.json` (idempotency,
//!   webhooks, breakers, limiters, shedding, queues, stand-in) and the
//!   chaos plans' injections are read when the registry is gathered, from
//!   a [`StackProbe`] and a [`FaultProbe`] ([`stack`]): nothing is added
//!   to the stack's hot paths for them;
//! - the objectives' burn rates are metered per request ([`slo`]).
//!
//! A run creates one [`Telemetry`], hands [`Telemetry::client`] to the load
//! generator, wraps its transport in [`gateway::Timed`], lets it watch the
//! stack and the faults, and calls [`Telemetry::freeze`] before the stack
//! goes away; [`Telemetry::render`] (or [`Telemetry::renderer`] for an
//! HTTP handler) gives the exposition at any point.

pub mod buckets;
pub mod cells;
pub mod client;
pub mod exposition;
pub mod family;
pub mod gateway;
pub mod labels;
pub mod policy;
pub mod slo;
pub mod stack;

use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGaugeVec, Opts, Registry, TextEncoder};

use crate::chaos::{FaultProbe, FaultReading};
use crate::lock::Locked;
use crate::sim::Clock;
use crate::stack::probe::{StackProbe, StackReading};

use client::ClientMetrics;
use family::Spec;
use gateway::ServerMetrics;

pub const BUILD_INFO: Spec = Spec::gauge(
    "paystorm_build_info",
    &["version"],
    "Always 1; the version of paystorm serving these metrics.",
);

/// Every metric telemetry can export, in catalogue order.
pub fn catalogue() -> Vec<Spec> {
    let mut all = vec![BUILD_INFO, client::REQUESTS, client::DURATION];
    all.push(gateway::DURATION);
    all.extend(stack::specs::ALL);
    all.extend([
        slo::BURN_RATE,
        slo::OBJECTIVE,
        slo::BUDGET_REMAINING,
        slo::EVENTS,
    ]);
    all
}

/// The catalogue as the Markdown table `docs/metrics.md` holds between its
/// `catalogue` markers (a test compares them).
pub fn catalogue_markdown() -> String {
    let mut out = String::from("| name | type | labels | meaning |\n| --- | --- | --- | --- |\n");
    for s in catalogue() {
        let labels = if s.labels.is_empty() {
            "—".to_string()
        } else {
            s.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            s.name,
            s.kind.as_str(),
            labels,
            s.help.replace('|', "\\|")
        ));
    }
    out
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("cannot set up the metrics registry: {0}")]
    Registry(#[from] prometheus::Error),
    #[error("{0}")]
    Config(String),
}

/// One run's metrics (see the module doc).
pub struct Telemetry {
    registry: Registry,
    shared: Arc<Shared>,
}

struct Shared {
    client: Arc<ClientMetrics>,
    server: Arc<ServerMetrics>,
    sources: Mutex<Sources>,
}

#[derive(Default)]
struct Sources {
    stack: Option<StackProbe>,
    last_stack: Option<StackReading>,
    faults: Option<FaultProbe>,
    last_faults: Vec<FaultReading>,
    clock: Option<Clock>,
    /// Set by `freeze`: the run's end, so later reads do not ask a clock
    /// whose runtime is gone.
    frozen_now_us: Option<u64>,
}

impl Sources {
    fn now_us(&self) -> Option<u64> {
        self.frozen_now_us
            .or_else(|| self.clock.map(|c| c.now_us()))
    }

    /// Reads what is attached, keeping the last reading for when it goes.
    fn refresh(&mut self) {
        if let Some(r) = self.stack.as_ref().and_then(StackProbe::read) {
            self.last_stack = Some(r);
        }
        if let (Some(p), Some(now)) = (&self.faults, self.now_us()) {
            self.last_faults = p.read(now as f64 / 1e6);
        }
    }
}

/// The workload's `[[slo]]` objectives, compiled.
fn compiled_slos(
    workload: &crate::workload::Workload,
) -> Result<Vec<crate::slo::Slo>, TelemetryError> {
    crate::slo::compile(&workload.file.slo)
        .map_err(|p| TelemetryError::Config(format!("slo {}: {}", p.index + 1, p.message)))
}

impl Telemetry {
    /// Metrics for a run judged by `slos` (their latency limits become
    /// histogram buckets, their burn rates are metered).
    pub fn new(slos: &[crate::slo::Slo]) -> Result<Arc<Telemetry>, TelemetryError> {
        Telemetry::build(slos, true)
    }

    /// `with_server`: also export the stack's side (the gateway's and
    /// wallet's per-attempt figures, what the stack counts, the faults):
    /// off for a generator whose stack is another process, where those
    /// would read a constant 0 beside the server's real ones.
    fn build(
        slos: &[crate::slo::Slo],
        with_server: bool,
    ) -> Result<Arc<Telemetry>, TelemetryError> {
        let registry = Registry::new();
        let client = Arc::new(ClientMetrics::new(slos)?);
        let server = Arc::new(ServerMetrics::new()?);
        for c in client.collectors() {
            registry.register(c)?;
        }
        if with_server {
            registry.register(server.collector())?;
        }
        let build = IntGaugeVec::new(
            Opts::new(BUILD_INFO.name, BUILD_INFO.help),
            BUILD_INFO.labels,
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(build))?;
        let shared = Arc::new(Shared {
            client,
            server,
            sources: Mutex::new(Sources::default()),
        });
        registry.register(Box::new(Scrape::new(shared.clone(), with_server)))?;
        Ok(Arc::new(Telemetry { registry, shared }))
    }

    /// Metrics for a run of `workload` (its `[[slo]]` objectives compiled).
    pub fn for_workload(
        workload: &crate::workload::Workload,
    ) -> Result<Arc<Telemetry>, TelemetryError> {
        Telemetry::build(&compiled_slos(workload)?, true)
    }

    /// Metrics for a load generator driving a stack in another process
    /// (`load --target`): the requests as its clients saw them and the
    /// objectives, without the server-side families.
    pub fn for_generator(
        workload: &crate::workload::Workload,
    ) -> Result<Arc<Telemetry>, TelemetryError> {
        Telemetry::build(&compiled_slos(workload)?, false)
    }

    /// The load generator's recorder: one call per logical request.
    pub fn client(&self) -> Arc<ClientMetrics> {
        self.shared.client.clone()
    }

    /// The server side: wrap a transport in [`gateway::Timed`] with it, or
    /// call [`ServerMetrics::begin`] per request.
    pub fn server(&self) -> Arc<ServerMetrics> {
        self.shared.server.clone()
    }

    /// Watches a run's stack and faults on `clock`: [`Telemetry::watch_stack`]
    /// and [`Telemetry::watch_faults`] at once, right after the stack is
    /// built.
    pub fn attach(&self, stack: &crate::stack::Stack, chaos: &crate::chaos::Chaos, clock: Clock) {
        self.watch_stack(stack.probe());
        self.watch_faults(chaos.probe(), clock);
    }

    /// Reads this stack at every gather from now on, and times the calls
    /// its guards make to the downstreams.
    pub fn watch_stack(&self, probe: StackProbe) {
        let server = self.shared.server.clone();
        probe.observe_calls(|name| server.downstream_observer(name));
        self.shared.sources.locked().stack = Some(probe);
    }

    /// Reads these faults at every gather, with `clock` telling which
    /// windows are open (and the objectives' windows where they end).
    pub fn watch_faults(&self, probe: FaultProbe, clock: Clock) {
        let mut s = self.shared.sources.locked();
        s.faults = Some(probe);
        s.clock = Some(clock);
    }

    /// The run's clock, for the objectives' windows.
    pub fn watch_clock(&self, clock: Clock) {
        self.shared.sources.locked().clock = Some(clock);
    }

    /// Takes a last reading of everything watched and lets go of it: call
    /// before the stack or the runtime whose clock it reads goes away.
    /// Later gathers report that reading.
    pub fn freeze(&self) {
        let mut s = self.shared.sources.locked();
        let now = s.now_us();
        s.refresh();
        s.frozen_now_us = now;
        s.stack = None;
        s.faults = None;
        s.clock = None;
    }

    /// Every metric family now.
    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }

    /// The exposition in Prometheus' text format (version 0.0.4).
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.gather())
            .unwrap_or_else(|e| format!("# paystorm: cannot encode the metrics: {e}\n"))
    }

    /// [`Telemetry::render`] as a closure an HTTP `/metrics` handler can
    /// keep.
    pub fn renderer(self: &Arc<Self>) -> Arc<dyn Fn() -> String + Send + Sync> {
        let me = self.clone();
        Arc::new(move || me.render())
    }

    /// Writes the exposition to `path`.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, self.render())
    }
}

/// The collector that reads the stack, the faults and the objectives'
/// meters when the registry is gathered.
struct Scrape {
    shared: Arc<Shared>,
    descs: Vec<Desc>,
    /// Gather the stack's families (the gateway's and wallet's figures,
    /// what the stack counts, the faults); off for a remote generator.
    stack_side: bool,
}

impl Scrape {
    fn new(shared: Arc<Shared>, stack_side: bool) -> Scrape {
        let descs = stack::specs::ALL
            .iter()
            .chain([
                &slo::BURN_RATE,
                &slo::OBJECTIVE,
                &slo::BUDGET_REMAINING,
                &slo::EVENTS,
            ])
            .filter_map(Spec::desc)
            .collect();
        Scrape {
            shared,
            descs,
            stack_side,
        }
    }
}

impl Collector for Scrape {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let (reading, faults, now) = {
            let mut s = self.shared.sources.locked();
            s.refresh();
            (s.last_stack.clone(), s.last_faults.clone(), s.now_us())
        };
        let mut out = if self.stack_side {
            stack::families(reading.as_ref(), &self.shared.server, &faults)
        } else {
            Vec::new()
        };
        out.extend(slo::families(&self.shared.client.slo().read(now)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_metrics_md_holds_the_catalogue() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let table = catalogue_markdown();
        let (start, end) = ("<!-- catalogue:start -->\n", "<!-- catalogue:end -->");
        let held = doc
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(t, _)| t);
        if held != Some(table.as_str()) && std::env::var_os("PAYSTORM_BLESS").is_some() {
            let (head, tail) = match doc.split_once(start) {
                Some((h, rest)) => (
                    h.to_string(),
                    rest.split_once(end).map_or("", |x| x.1).to_string(),
                ),
                None => (doc.clone(), String::new()),
            };
            std::fs::write(&path, format!("{head}{start}{table}{end}{tail}")).unwrap();
            return;
        }
        assert_eq!(
            held,
            Some(table.as_str()),
            "docs/metrics.md's catalogue is out of date; run with PAYSTORM_BLESS=1"
        );
    }

    #[test]
    fn names_follow_the_conventions_and_are_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for s in catalogue() {
            assert!(seen.insert(s.name), "{} twice", s.name);
            assert!(s.name.starts_with("paystorm_"), "{}", s.name);
            assert_eq!(
                s.kind == family::Kind::Counter,
                s.name.ends_with("_total"),
                "{}: counters and only counters end in _total",
                s.name
            );
            if s.kind == family::Kind::Histogram {
                assert!(s.name.ends_with("_seconds"), "{}", s.name);
            }
            for l in s.labels {
                let refused = policy::check_label(l, "", &Default::default()).err();
                assert!(
                    !refused.is_some_and(|e| e.contains("not in the policy")),
                    "{}: label {l} is not in the policy",
                    s.name
                );
            }
        }
    }
}
