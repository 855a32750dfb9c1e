//! The `paystorm` command: parse, call the library, map the outcome to the
//! documented exit code. Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use paystorm::chaos::Plan;
use paystorm::load::trace;
use paystorm::report;
use paystorm::sim::run::{run_instrumented, RunOptions};
use paystorm::slo::SloFile;
use paystorm::stack::sabotage::{Sabotage, Sabotages};
use paystorm::workload::Workload;

use paystorm::cli::{say, EXIT_INPUT};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "paystorm",
    version,
    about = "Drive an in-process payment stack with Black-Friday load and prove every payment happened exactly once.",
    after_help = "Exit codes: 0 pass, 1 SLO breached, 2 exactly-once or ledger invariant violated, 3 run invalid, 4 bad input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a workload in virtual time and check every invariant.
    Run(RunArgs),
    /// Check workload files, traces and chaos plans without running them.
    Validate {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the deliberate bugs `run --sabotage` can plant.
    Sabotage,
    /// Shrink a failing run (exit 2) to the smallest fault plan and the
    /// shortest load that still fail the same way with the same seed.
    Shrink {
        /// The --out directory of the failing run.
        run_dir: PathBuf,
        /// At most this many runs in the search.
        #[arg(long, default_value_t = 200)]
        max_runs: u32,
    },
    /// Compare two runs' results.json and fail (exit 1) when NEW is worse
    /// than BASE beyond tolerance, so CI can gate a change on "no worse
    /// than main".
    Diff {
        /// The --out directory of the reference run (say, main's).
        base: PathBuf,
        /// The --out directory of the run under judgement.
        new: PathBuf,
        /// Latency may rise by this much relative to BASE (`10%` or `10`).
        #[arg(long, value_name = "PERCENT", default_value = "10%", value_parser = report::diff::parse_latency_tolerance)]
        latency_tolerance: f64,
        /// Latency changes of at most this many ms are noise, whatever their percentage.
        #[arg(long, value_name = "MS", default_value = "1", value_parser = report::diff::parse_floor_ms)]
        latency_floor_ms: f64,
        /// Success and error rates may move by this much, absolute (0.001 = 0.1 points).
        #[arg(long, value_name = "RATE", default_value = "0.001", value_parser = report::diff::parse_rate_tolerance)]
        rate_tolerance: f64,
        /// Also write every compared metric to FILE as JSON.
        #[arg(long, value_name = "FILE")]
        json: Option<PathBuf>,
    },
    /// Draw RUN_DIR/report.html again from RUN_DIR/results.json (a run
    /// writes it anyway; this is for results merged or copied from elsewhere).
    Report {
        /// The --out directory of a run.
        run_dir: PathBuf,
    },
    /// Merge runs (say, one load driven from several machines) into one:
    /// counts add, histograms merge from each run's histograms.hlog, time
    /// series align by each run's start, and the objectives are judged
    /// again. Exits with the merged run's code.
    Merge {
        /// The --out directories of the runs (or of earlier merges).
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
        /// Where to write the merged run.
        #[arg(long)]
        out: PathBuf,
    },
    /// Receive webhooks as a merchant would: verify each delivery's
    /// Paystorm-Signature (refusing any older than 300 s), apply each event
    /// id once, and report what arrived on GET /received. Runs until
    /// SIGINT or SIGTERM, then prints the totals as JSON.
    WebhookSink {
        /// Address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: std::net::SocketAddr,
        /// An endpoint's signing secret (`whsec_...`); repeatable.
        #[arg(long = "secret", value_name = "WHSEC")]
        secrets: Vec<String>,
        /// Answer this share of deliveries 500 before processing them.
        #[arg(long, default_value_t = 0.0)]
        failure_share: f64,
        /// Process this share of deliveries but answer 500, so they are
        /// delivered again and must be deduplicated.
        #[arg(long, default_value_t = 0.0)]
        lost_ack_share: f64,
        /// Event ids remembered for deduplication (the oldest are forgotten
        /// beyond it).
        #[arg(long, default_value_t = 1_000_000)]
        remember: usize,
    },
    /// Write Prometheus recording and alerting rules (Sloth's conventions,
    /// SRE Workbook burn rates) for a workload's objectives.
    Rules {
        /// Workload file whose `[[slo]]` tables to use.
        workload: PathBuf,
        /// More objectives from an SLO file (repeatable).
        #[arg(long, value_name = "FILE")]
        slo: Vec<PathBuf>,
        /// The rules file to write (`promtool check rules` accepts it).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Serve the stack over HTTP on the wall clock until SIGINT/SIGTERM
    /// (live mode; `paystorm load` or any HTTP client drives it).
    Serve(paystorm::live::cli::ServeArgs),
    /// Drive a running `paystorm serve` over HTTP with a workload, then
    /// check what the API's read endpoints can show.
    Load(paystorm::live::cli::LoadArgs),
    /// Payment traces (CSV or JSON lines) for `[load.trace]` replay.
    Trace {
        #[command(subcommand)]
        command: TraceCommand,
    },
}

#[derive(Subcommand)]
enum TraceCommand {
    /// Write a trace drawn from a workload's rate curve, mix and population.
    Synth {
        /// Workload file (TOML) with a rate curve (not itself a replay).
        workload: PathBuf,
        /// Trace file to write: .csv or .jsonl.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Seed for every random choice; defaults to the workload's `seed`.
        #[arg(long)]
        seed: Option<u64>,
        /// Multiply the workload's whole rate curve by X.
        #[arg(long, value_name = "X", default_value_t = 1.0)]
        rate_scale: f64,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli.command {
        Command::Sabotage => {
            for s in Sabotage::ALL {
                say(&format!("{:<27} {}", s.name(), s.description()));
            }
            ExitCode::SUCCESS
        }
        Command::Validate { files } => paystorm::cli::files::validate(&files),
        Command::Shrink { run_dir, max_runs } => {
            paystorm::cli::run_dirs::shrink(&run_dir, max_runs)
        }
        Command::Report { run_dir } => paystorm::cli::run_dirs::report_command(&run_dir),
        Command::WebhookSink {
            listen,
            secrets,
            failure_share,
            lost_ack_share,
            remember,
        } => {
            let misbehaviour = paystorm::webhook_sink::Misbehaviour {
                failure_share,
                lost_ack_share,
            };
            match paystorm::webhook_sink::run_command(listen, secrets, misbehaviour, remember) {
                Ok(received) => {
                    say(&serde_json::to_string(&received).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(EXIT_INPUT)
                }
            }
        }
        Command::Merge { runs, out } => match report::merge::merge(&runs, &out) {
            Ok(merged) => {
                say(&merged.summary);
                ExitCode::from(merged.exit_code as u8)
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(EXIT_INPUT)
            }
        },
        Command::Rules { workload, slo, out } => {
            paystorm::cli::run_dirs::rules_command(&workload, &slo, &out)
        }
        Command::Diff {
            base,
            new,
            latency_tolerance,
            latency_floor_ms,
            rate_tolerance,
            json,
        } => paystorm::cli::run_dirs::diff(
            &base,
            &new,
            report::diff::Tolerances {
                latency_rel: latency_tolerance,
                latency_floor_ms,
                rate_abs: rate_tolerance,
            },
            json.as_deref(),
        ),
        Command::Trace { command } => trace_command(command),
        Command::Run(args) => run_command(args),
        Command::Serve(args) => ExitCode::from(paystorm::live::cli::serve_command(args, &say)),
        Command::Load(args) => ExitCode::from(paystorm::live::cli::load_command(
            args,
            &say,
            std::sync::Arc::default(),
        )),
    }
}

#[derive(clap::Args)]
struct RunArgs {
    /// Workload file (TOML). Without one, the built-in black-friday workload runs.
    workload: Option<PathBuf>,
    /// Seed for every random choice; defaults to the workload's `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// Directory for results.json, perf.json and settings.toml
    /// [default: out/<workload name>].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Plant a deliberate bug (repeatable); `paystorm sabotage` lists them.
    #[arg(long, value_name = "NAME")]
    sabotage: Vec<String>,
    /// Inject the faults of a chaos plan (repeatable; plans compose).
    /// The shipped plans are under chaos/.
    #[arg(long, value_name = "FILE")]
    chaos: Vec<PathBuf>,
    /// Also write the client history to <out>/history.jsonl (in cells:
    /// each cell's to <out>/cells/cell-K/history.jsonl).
    #[arg(long)]
    history: bool,
    /// Multiply the workload's whole rate curve by X (0.1 = a tenth of the traffic).
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    rate_scale: f64,
    /// Split the traffic across N copies of the stack (the workload's
    /// `cells`): a cell-based deployment, and a run that can use N cores.
    /// Each cell leaves its own run under <out>/cells/.
    #[arg(long, value_name = "N")]
    cells: Option<u32>,
    /// Run at most N cells at once, each on a thread of its own (with its
    /// checker on another) [default: the cores this process may use].
    /// Changes no result, only the wall time and the peak memory.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,
    /// No progress line on stderr (it shows only on a terminal anyway).
    #[arg(long)]
    quiet: bool,
    /// Switch the workload's `[resilience]` section off (breakers, rate
    /// limits, bulkheads, timeouts, retries, shedding), to compare.
    #[arg(long)]
    no_resilience: bool,
    /// Judge the run against the `[[slo]]` objectives of this file too
    /// (repeatable), besides the workload's own. A breach exits 1.
    #[arg(long, value_name = "FILE")]
    slo: Vec<PathBuf>,
    /// Write the run's final Prometheus metrics (text exposition format,
    /// `promtool check metrics` clean) to FILE; docs/metrics.md lists them.
    #[arg(long, value_name = "FILE")]
    metrics_out: Option<PathBuf>,
    /// Live mode: serve the stack over HTTP on an ephemeral loopback port
    /// and drive it over real HTTP, on the wall clock (not deterministic).
    #[arg(long)]
    live: bool,
    /// With --live: also serve /metrics, /healthz and /readyz on ADDR.
    #[arg(long, value_name = "ADDR", requires = "live")]
    metrics_listen: Option<std::net::SocketAddr>,
}

fn run_command(args: RunArgs) -> ExitCode {
    let RunArgs {
        workload,
        seed,
        out,
        sabotage,
        chaos,
        history,
        rate_scale,
        cells,
        jobs,
        quiet,
        no_resilience,
        slo,
        metrics_out,
        live,
        metrics_listen,
    } = args;
    if !(rate_scale.is_finite() && rate_scale > 0.0) {
        eprintln!("error: option --rate-scale must be a number above 0, got {rate_scale}");
        return ExitCode::from(EXIT_INPUT);
    }
    let mut workload = match workload {
        Some(path) => match Workload::from_path(&path) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_INPUT);
            }
        },
        None => Workload::default_workload(),
    };
    if let Some(n) = cells {
        workload = match workload.with_cells(n) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_INPUT);
            }
        };
    }
    let cells = workload.file.cells;
    if cells > 1 {
        // --metrics-listen needs --live, which clap checks first.
        if live {
            eprintln!(
                "error: option --live takes a run of one stack, and workload `{}` is split into {cells} cells; pass --cells 1",
                workload.source
            );
            return ExitCode::from(EXIT_INPUT);
        }
    }
    for path in &slo {
        match SloFile::from_path(path) {
            Ok(file) => workload.file.slo.extend(file.slo),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_INPUT);
            }
        }
    }
    let mut planted = Sabotages::NONE;
    let mut names = Vec::new();
    for name in &sabotage {
        match Sabotage::from_name(name) {
            Some(s) => {
                planted = planted.with(s);
                names.push(s.name());
            }
            None => {
                let known: Vec<&str> = Sabotage::ALL.iter().map(|s| s.name()).collect();
                eprintln!(
                    "error: unknown sabotage `{name}` (option --sabotage). Known names: {}. `paystorm sabotage` describes each.",
                    known.join(", ")
                );
                return ExitCode::from(EXIT_INPUT);
            }
        }
    }
    if workload.file.load.trace.is_some() && rate_scale != 1.0 {
        eprintln!(
            "error: option --rate-scale does not apply to a trace replay (`{}`); change `load.trace.speed` in the workload instead",
            workload.source
        );
        return ExitCode::from(EXIT_INPUT);
    }
    if let Err(e) = workload.check_scale(rate_scale) {
        eprintln!("{e}");
        return ExitCode::from(EXIT_INPUT);
    }
    if let Err(e) = paystorm::sim::process::check_purge_delay_env() {
        eprintln!("{e}");
        return ExitCode::from(EXIT_INPUT);
    }
    let jobs = jobs.map_or_else(paystorm::sim::cells::default_jobs, |n| n as usize);
    // Before any thread starts: see `choose_purge_delay`.
    paystorm::sim::process::choose_purge_delay(paystorm::sim::cells::payments_at_once(
        workload.expected_payments(rate_scale),
        cells,
        jobs,
    ));
    let mut plans = Vec::with_capacity(chaos.len());
    for path in &chaos {
        match Plan::from_path(path) {
            Ok(p) => plans.push(p),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_INPUT);
            }
        }
    }
    let seed = seed.unwrap_or(workload.file.seed);
    let out = out.unwrap_or_else(|| PathBuf::from("out").join(workload.name()));
    let out_str = out.display().to_string();
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("error: cannot create the output directory `{out_str}` (option --out): {e}");
        return ExitCode::from(EXIT_INPUT);
    }
    if let Err(e) = paystorm::cli::cells::clear(&out) {
        eprintln!("error: cannot clear the earlier cells in `{out_str}` (option --out): {e}");
        return ExitCode::from(EXIT_INPUT);
    }
    say(&report::console::header(
        &workload, seed, rate_scale, &names, &out_str, jobs,
    ));
    for warning in paystorm::workload::capacity::warnings(&workload, rate_scale) {
        say(&format!("  {warning}"));
    }
    if !plans.is_empty() {
        say(&report::console::chaos_header(&plans));
    }
    if live {
        say("  live mode: the stack served over HTTP on a loopback port, wall-clock time; results differ from run to run");
    }
    let opts = RunOptions {
        seed,
        sabotage: planted,
        history: history.then(|| out.join("history.jsonl")),
        rate_scale,
        chaos: plans,
        no_resilience,
    };
    if cells > 1 {
        return paystorm::cli::cells::run(
            &workload,
            &opts,
            &names,
            &out,
            jobs,
            quiet,
            metrics_out.as_deref(),
        );
    }
    // The progress line (a terminal only) is gone before anything else prints.
    // Metrics are gathered when they go somewhere: a file, or /metrics.
    let telemetry = match (metrics_out.is_some() || metrics_listen.is_some())
        .then(|| paystorm::telemetry::Telemetry::for_workload(&workload))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let progress = report::progress::Progress::start(report::progress::wanted(quiet));
    let outcome = if live {
        let live_opts = paystorm::live::run::LiveOptions {
            metrics_listen,
            metrics: telemetry.as_ref().map(|t| t.renderer()),
            ..Default::default()
        };
        paystorm::live::run::run_live(
            &workload,
            &opts,
            &live_opts,
            progress.live(),
            telemetry.clone(),
        )
    } else {
        run_instrumented(&workload, &opts, progress.live(), telemetry.clone())
    };
    drop(progress);
    let mut outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    // This run is the whole process: its CPU is the run's.
    outcome.perf.record_process(outcome.counts.attempted);
    let code = match report::write_outputs(&out, &workload, seed, &names, &outcome) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: cannot write results to `{out_str}`: {e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    if let (Some(t), Some(path)) = (&telemetry, &metrics_out) {
        if let Err(e) = t.write(path) {
            eprintln!(
                "error: cannot write the metrics to `{}` (option --metrics-out): {e}",
                path.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
    }
    say(&report::console::summary(&outcome, code, &out_str));
    ExitCode::from(code as u8)
}

fn trace_command(command: TraceCommand) -> ExitCode {
    let TraceCommand::Synth {
        workload,
        out,
        seed,
        rate_scale,
    } = command;
    let result = Workload::from_path(&workload).and_then(|w| {
        let seed = seed.unwrap_or(w.file.seed);
        trace::synth(&w, paystorm::sim::Seed(seed), rate_scale, &out).map(|n| (n, seed))
    });
    match result {
        Ok((n, seed)) => {
            say(&format!(
                "wrote {n} records to {} (workload {}, seed {seed}, rate scale {rate_scale})",
                out.display(),
                workload.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}
