//! The run driver: builds the world and the stack on the sim executor, runs
//! the load to its end, drains the stack, reads it back, and lets the
//! checker judge. Returns everything the reports need.

use std::sync::Arc;
use std::time::Duration;

use crate::chaos::{Chaos, FaultSummary, Recovery, Shape};
use crate::check::{BackgroundChecker, CheckConfig, InvariantResult, Verdict};
use crate::domain::audit::Observer;
use crate::load::recorder::{Counts, LiveCounters};
use crate::load::{self, Plan};
use crate::metrics::{LatencyBook, TimeSeries};
use crate::stack::sabotage::Sabotages;
use crate::stack::{DrainReport, Sizing, Stack, StackStats};
use crate::workload::Workload;

use super::clock::Clock;
use super::history_file::HistoryFile;
use super::rng::Seed;
use super::world::make_world;

pub struct RunOptions {
    pub seed: u64,
    pub sabotage: Sabotages,
    /// Write the client history to this file (JSON lines).
    pub history: Option<std::path::PathBuf>,
    /// `--rate-scale`: multiplies the workload's whole rate curve.
    pub rate_scale: f64,
    /// `--chaos` fault plans, composed.
    pub chaos: Vec<crate::chaos::Plan>,
    /// `--no-resilience`: the `[resilience]` section switched off.
    pub no_resilience: bool,
}

/// Everything a run produced.
pub struct RunOutcome {
    pub counts: Counts,
    pub arrivals: u64,
    pub load_seconds: f64,
    pub latency: LatencyBook,
    /// Offered, completed, errors and latency per bucket of simulated time.
    pub series: TimeSeries,
    pub verdict: Verdict,
    pub stack: StackStats,
    pub drain: DrainReport,
    pub simulated_seconds: f64,
    pub perf: Perf,
    /// What the chaos plans injected and how the stack recovered (`None`
    /// without plans).
    pub faults: Option<FaultSummary>,
    /// The `--rate-scale` the run used (settings.toml folds it in).
    pub rate_scale: f64,
    /// Breakers, rate limits, bulkheads, shedding, retries and deadlines.
    pub resilience: crate::resilience::ResilienceReport,
    /// Each service level objective, judged.
    pub slos: Vec<crate::slo::SloResult>,
    /// When an `abort_on_fail` objective stopped the load, if one did.
    pub aborted_at_s: Option<f64>,
    /// The stack's queue depths over the load.
    pub gauges: crate::metrics::gauges::GaugesReport,
    /// What the objectives were judged on (the histogram log records its
    /// histograms so merged runs can be judged again).
    pub slo_book: crate::slo::SloBook,
    /// Unix seconds at the run's start: the fixed sim epoch in sim mode.
    pub start_unix_s: u64,
}

/// Wall-clock figures; they differ between runs, so they live in perf.json.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Perf {
    pub wall_seconds: f64,
    pub payments_per_wall_second: f64,
    pub peak_rss_bytes: u64,
    /// User + system CPU of the whole process, every thread, checker
    /// included: what GNU time reports. Unlike wall time it does not depend
    /// on how much of the machine the run was given. Set by whoever owns the
    /// whole process ([`Perf::record_process`]), so never in a cell's
    /// own perf.json, whose thread cannot tell its CPU from the others';
    /// Unix only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_seconds: Option<f64>,
    /// `cpu_seconds` over the payments attempted, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_us_per_payment: Option<f64>,
    /// Of `cpu_seconds`, the kernel's. Mostly first touches of fresh
    /// memory, which on a VM whose balloon returns free memory to its host
    /// cost about 2 ms per MiB (`benches/first_touch.c`): it follows peak
    /// memory, not the work done. Set with `cpu_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_system_seconds: Option<f64>,
    /// mimalloc's purge delay the process ran with (-1: freed memory kept
    /// for reuse, the default for runs up to 5 million payments; see
    /// `sim::process::choose_purge_delay`), since it trades CPU for peak
    /// memory. Set with `cpu_seconds`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocator_purge_delay_ms: Option<i64>,
    pub retained_idempotency_keys: usize,
    pub idempotency_bytes_per_key: usize,
    /// Cells the run was split into (a run in cells only; see `sim::cells`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cells: Option<usize>,
    /// Cells run at once (`run --jobs`; a run in cells only): the peak
    /// memory is about this many cells' worth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<usize>,
    /// What the sim executor did (sim mode only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<crate::sim::executor::EngineStats>,
}

impl Perf {
    /// Records the process's CPU so far over `attempted` payments, and the
    /// allocator setting that moves it: for a run that is the whole process
    /// (a run in cells, once every cell is done).
    pub fn record_process(&mut self, attempted: u64) {
        self.allocator_purge_delay_ms = crate::sim::process::allocator_purge_delay_ms();
        let times = crate::sim::process::cpu_times();
        let cpu = times.map(|t| t.total());
        self.cpu_seconds = cpu;
        self.cpu_system_seconds = times.map(|t| t.system);
        self.cpu_us_per_payment = cpu
            .filter(|_| attempted > 0)
            .map(|s| s * 1e6 / attempted as f64);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error("cannot write the history file: {0}")]
    History(std::io::Error),
    /// A cell's results, written as it finishes ([`crate::sim::cells::run`]).
    #[error("cannot write its results: {0}")]
    Output(std::io::Error),
    /// The run is invalid (exit 3): the engine found every task waiting on
    /// something that can never happen. A bug in paystorm, not in the input.
    #[error("{0} (a bug in paystorm: please report it with the workload and the seed)")]
    Stalled(#[from] crate::sim::executor::Stalled),
}

impl RunError {
    /// The documented exit code: a stalled engine makes the run invalid
    /// (3); anything else is the input's fault (4).
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Stalled(_) => crate::exit_code::INVALID,
            _ => crate::exit_code::INPUT,
        }
    }
}

/// An observer that feeds the checker and, optionally, the history file.
pub(crate) struct Tee {
    checker: Arc<BackgroundChecker>,
    history: Option<HistoryFile>,
}

impl Observer for Tee {
    fn audit(&self, record: crate::domain::audit::AuditRecord) {
        self.checker.audit(record);
    }
    fn history(&self, event: crate::domain::history::HistoryEvent) {
        if let Some(h) = &self.history {
            h.write(&event);
        }
        self.checker.history(event);
    }
}

pub fn run(workload: &Workload, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    run_watched(workload, opts, Arc::new(LiveCounters::default()))
}

/// [`run`], storing its progress into `live` as it goes, for a display on
/// another thread to read (the simulation never waits for it).
pub fn run_watched(
    workload: &Workload,
    opts: &RunOptions,
    live: Arc<LiveCounters>,
) -> Result<RunOutcome, RunError> {
    run_instrumented(workload, opts, live, None)
}

/// [`run_watched`], exporting Prometheus metrics into `telemetry` as it
/// goes (made with [`Telemetry::for_workload`](crate::telemetry::Telemetry::for_workload)
/// for this workload). When it returns the telemetry holds the run's final
/// figures; the run's results are the same as without it.
pub fn run_instrumented(
    workload: &Workload,
    opts: &RunOptions,
    live: Arc<LiveCounters>,
    telemetry: Option<Arc<crate::telemetry::Telemetry>>,
) -> Result<RunOutcome, RunError> {
    let wall = std::time::Instant::now();
    let mut prepared = prepare(workload, opts)?;
    let result = crate::sim::executor::block_on(async {
        let started = start(
            workload,
            opts,
            &mut prepared,
            Clock::start(),
            telemetry.as_ref(),
        )?;
        let api = started.stack.api();
        let (report, running) = match &telemetry {
            // Timed only wraps the transport: the calls, and so the run,
            // are the same.
            Some(t) => {
                let api = crate::telemetry::gateway::Timed {
                    inner: api,
                    metrics: t.server(),
                    clock: started.clock,
                };
                started.load(api, live).await
            }
            None => started.load(api, live).await,
        };
        let driven = running.finish(report).await;
        Ok::<_, RunError>((driven, crate::sim::executor::stats()))
    })?;
    // block_on has dropped every task still holding the observer.
    let (driven, engine) = result?;
    let mut outcome = conclude(workload, opts, prepared, driven, wall)?;
    outcome.perf.engine = Some(engine);
    Ok(outcome)
}

/// How many payments to size the stack's and the checker's per-payment
/// tables for: a tenth over the expected arrivals (more ids are issued than
/// payments counted: a keyless duplicate caught by the dedup window takes
/// one), capped so a typo'd rate cannot reserve the machine.
fn table_size(expected: f64) -> usize {
    (expected * 1.1).min(TABLE_SIZE_CAP) as usize
}

/// The most entries any table is sized for up front.
const TABLE_SIZE_CAP: f64 = 1e8;

/// What a run sets up before its runtime starts: the checker on its own
/// thread, the history file, the world, the faults and the arrivals.
pub(crate) struct Prepared {
    checker: Arc<BackgroundChecker>,
    tee: Arc<Tee>,
    world: crate::stack::world::World,
    resilience: crate::resilience::ResilienceConfig,
    chaos: Chaos,
    arrivals: Option<load::ArrivalSource>,
    sizing: Sizing,
    model: load::OpenModel,
}

pub(crate) fn prepare(workload: &Workload, opts: &RunOptions) -> Result<Prepared, RunError> {
    let w = &workload.file;
    let seed = Seed(opts.seed);
    let (arrivals, expected) = workload
        .arrivals(seed, opts.rate_scale)
        .map_err(|e| RunError::Config(e.0.trim_start_matches("error: ").to_string()))?;
    // The stack's tables and the checker's are sized for the same count.
    let payments = table_size(expected);
    let checker = Arc::new(BackgroundChecker::spawn(CheckConfig {
        fees: w.stack.acquirer.fees,
        expected_payments: payments,
    }));
    let history = match &opts.history {
        Some(path) => Some(HistoryFile::create(path).map_err(RunError::History)?),
        None => None,
    };
    let tee = Arc::new(Tee {
        checker: checker.clone(),
        history,
    });
    let world = make_world(&w.population, &w.stack, seed);
    let mut resilience = w.resilience;
    if opts.no_resilience {
        resilience.enabled = false;
    }
    // `None` for a trace replay, whose shape is not known before it is read.
    let curve = workload.curve(opts.rate_scale);
    let chaos = Chaos::build(
        &opts.chaos,
        seed,
        Shape {
            horizon_s: curve.as_ref().map_or(60.0, |c| c.duration_s()),
            issuers: w.stack.issuers.count as u16,
            networks: w.stack.networks.first_digits.len() as u8,
        },
    );
    let model = load::OpenModel {
        in_flight_max: w.load.in_flight_max,
        late_tolerance_us: (w.load.late_tolerance_ms * 1000.0) as u64,
    };
    // A trace's message logs grow as they fill.
    let busiest = curve.map_or(0.0, |c| c.busiest_window(w.stack.issuers.message_log_s));
    Ok(Prepared {
        checker,
        tee,
        world,
        resilience,
        chaos,
        arrivals: Some(arrivals),
        sizing: Sizing {
            payments,
            payments_per_message_log: busiest.min(TABLE_SIZE_CAP) as usize,
        },
        model,
    })
}

/// A built stack with its background tasks running, and everything the
/// load generator needs to drive it (through whichever transport).
pub(crate) struct Started {
    pub stack: Arc<Stack>,
    pub arrivals: load::ArrivalSource,
    pub model: load::OpenModel,
    pub plan: Plan,
    pub seed: Seed,
    pub clock: Clock,
    pub observer: Arc<dyn Observer>,
    pub running: Running,
}

impl Started {
    /// Runs the whole load through `api` (whichever transport), storing its
    /// progress into `live`; then the stack's tasks are the caller's to
    /// [`Running::finish`].
    pub(crate) async fn load<A: crate::domain::api::PaymentApi>(
        self,
        api: A,
        live: Arc<LiveCounters>,
    ) -> (load::LoadReport, Running) {
        let report = load::run(
            api,
            self.arrivals,
            self.model,
            self.plan,
            self.seed,
            self.clock,
            self.observer,
            live,
        )
        .await;
        (report, self.running)
    }
}

/// The stack's tasks while the load runs; [`Running::finish`] drains it.
pub(crate) struct Running {
    stack: Arc<Stack>,
    clock: Clock,
    drain_max: Duration,
    stop: crate::sim::signal::Signal,
    background: Vec<crate::sim::task::Task<()>>,
    load_done: crate::sim::signal::Signal,
    sampler: crate::sim::task::Task<crate::metrics::gauges::Gauges>,
    /// Frozen with the run's final figures once the stack is read.
    telemetry: Option<Arc<crate::telemetry::Telemetry>>,
}

/// What the runtime hands back to [`conclude`].
pub(crate) struct Driven {
    report: load::LoadReport,
    drain: DrainReport,
    stats: StackStats,
    end_us: u64,
    recovery: Option<f64>,
    resilience: crate::resilience::ResilienceReport,
    gauges: crate::metrics::gauges::GaugesReport,
    /// Unix seconds at the run's start (the fixed sim epoch in sim mode).
    start_unix_s: u64,
}

/// Builds the stack on `clock` (inside the run's runtime) and starts its
/// background tasks and sampler; with `telemetry`, attaches it to the stack
/// and the load plan.
pub(crate) fn start(
    workload: &Workload,
    opts: &RunOptions,
    p: &mut Prepared,
    clock: Clock,
    telemetry: Option<&Arc<crate::telemetry::Telemetry>>,
) -> Result<Started, RunError> {
    let w = &workload.file;
    let seed = Seed(opts.seed);
    let observer: Arc<dyn Observer> = p.tee.clone();
    let stack = Stack::build(
        &w.stack,
        &p.world,
        workload.currency,
        seed,
        clock,
        observer.clone(),
        opts.sabotage,
        p.sizing,
        &p.chaos,
        &p.resilience,
    )
    .map_err(RunError::Config)?;
    if let Some(t) = telemetry {
        t.attach(&stack, &p.chaos, clock);
    }
    let stop = crate::sim::signal::Signal::new();
    let background = stack.spawn_background(&stop);
    let load_done = crate::sim::signal::Signal::new();
    let sampler = stack.spawn_sampler(&load_done);
    let slos = crate::slo::compile(&w.slo)
        .map_err(|p| RunError::Config(format!("slo {}: {}", p.index + 1, p.message)))?;
    let plan = Plan::new(workload, &p.world, slos, telemetry.map(|t| t.client()));
    let stack = Arc::new(stack);
    Ok(Started {
        stack: stack.clone(),
        arrivals: p
            .arrivals
            .take()
            .ok_or_else(|| RunError::Config("the arrivals were already used".into()))?,
        model: p.model,
        plan,
        seed,
        clock,
        observer,
        running: Running {
            stack,
            clock,
            drain_max: Duration::from_secs_f64(w.drain.max_s),
            stop,
            background,
            load_done,
            sampler,
            telemetry: telemetry.cloned(),
        },
    })
}

impl Running {
    /// After the load: stops the sampler, drains the stack, stops the
    /// background tasks and makes the auditor's final read.
    pub(crate) async fn finish(self, report: load::LoadReport) -> Driven {
        let Running {
            stack,
            clock,
            drain_max,
            stop,
            background,
            load_done,
            sampler,
            telemetry,
        } = self;
        load_done.fire();
        let gauges = sampler.await.unwrap_or_default().report();
        let drain = stack.drain(drain_max).await;
        stop.fire();
        for task in background {
            let _ = task.await;
        }
        stack.final_read();
        if let Some(t) = &telemetry {
            t.freeze();
        }
        Driven {
            report,
            drain,
            recovery: stack.recovery_seconds(),
            resilience: stack.resilience_report(),
            stats: stack.stats(),
            end_us: clock.now_us(),
            gauges,
            start_unix_s: clock.epoch_unix_s(),
        }
    }
}

/// After the runtime is gone: closes the history, lets the checker finish,
/// judges recovery and the objectives, and assembles the outcome.
pub(crate) fn conclude(
    workload: &Workload,
    opts: &RunOptions,
    p: Prepared,
    driven: Driven,
    wall: std::time::Instant,
) -> Result<RunOutcome, RunError> {
    let w = &workload.file;
    let Prepared {
        checker,
        tee,
        chaos,
        ..
    } = p;
    let Driven {
        report,
        drain,
        stats,
        end_us,
        recovery: recovery_seconds,
        resilience,
        gauges,
        start_unix_s,
    } = driven;
    let tee = Arc::try_unwrap(tee).map_err(|_| {
        RunError::Config("internal: the observer is still shared after the run".into())
    })?;
    if let Some(h) = tee.history {
        h.finish().map_err(RunError::History)?;
    }
    drop(tee.checker);
    let mut verdict = Arc::try_unwrap(checker)
        .map_err(|_| {
            RunError::Config("internal: the checker is still shared after the run".into())
        })?
        .finish();
    let faults = (!chaos.is_empty()).then(|| {
        let recovery = Recovery {
            recovery_seconds,
            bound_seconds: w.drain.recovery_bound_s,
        };
        verdict
            .invariants
            .push(recovery_invariant(&recovery, &chaos));
        chaos.summary(Some(recovery))
    });
    let slos = crate::slo::evaluate(
        &report.slo,
        &crate::slo::FaultWindows::of(faults.as_ref()),
        report.load_seconds,
    );
    let aborted_at_s = report.slo.aborted_at_us().map(|us| us as f64 / 1e6);
    let wall_seconds = wall.elapsed().as_secs_f64();
    Ok(RunOutcome {
        counts: report.counts,
        arrivals: report.arrivals,
        load_seconds: report.load_seconds,
        latency: report.latency,
        series: report.series,
        verdict,
        perf: Perf {
            wall_seconds,
            payments_per_wall_second: report.counts.attempted as f64 / wall_seconds.max(1e-9),
            peak_rss_bytes: crate::sim::process::peak_rss_bytes(),
            retained_idempotency_keys: stats.retained_idempotency_keys,
            idempotency_bytes_per_key:
                crate::stack::gateway::idempotency::IdempotencyStore::bytes_per_key(),
            // The process's own figures are the process owner's to record
            // (`Perf::record_process`); `cells` and `engine` are filled in
            // by the callers that know them.
            ..Perf::default()
        },
        stack: stats,
        drain,
        simulated_seconds: end_us as f64 / 1e6,
        faults,
        rate_scale: opts.rate_scale,
        resilience,
        slos,
        aborted_at_s,
        gauges,
        slo_book: report.slo,
        start_unix_s,
    })
}

/// Liveness after faults: once the last fault window closed, every
/// operation a fault left unresolved was resolved and every webhook in
/// trouble was delivered or dead-lettered, within the workload's bound.
fn recovery_invariant(r: &Recovery, chaos: &Chaos) -> InvariantResult {
    let (name, _) = crate::check::RECOVERY_WITHIN_BOUND;
    let end = chaos.last_window_end_s().unwrap_or(0.0);
    let example = match r.recovery_seconds {
        Some(s) if s <= r.bound_seconds => None,
        Some(s) => Some(format!(
            "recovered {s:.1} s after the last fault window closed (at {end:.1} s), bound {:.1} s",
            r.bound_seconds
        )),
        None => Some(format!(
            "never recovered after the last fault window closed (at {end:.1} s): operations with unknown outcome or webhooks in retry remained at the end of the run (bound {:.1} s)",
            r.bound_seconds
        )),
    };
    InvariantResult {
        name,
        passed: example.is_none(),
        violations: u64::from(example.is_some()),
        example,
    }
}
