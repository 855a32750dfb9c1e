//! The `serve` and `load` commands: arguments, messages and exit codes, so
//! `main.rs` only dispatches. Exit codes as everywhere: 0 pass, 2 a check
//! failed, 3 the generator could not keep its schedule, 4 bad input.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::workload::Workload;

use super::client::Target;
use super::remote::{self, LoadOptions};
use super::serve::{self, ServeOptions};
use super::server::ServerConfig;

const EXIT_INPUT: u8 = 4;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Workload file (TOML): its population, stack and resilience settings
    /// are served (its load is not: clients bring their own). Without one,
    /// the built-in black-friday workload's.
    pub workload: Option<PathBuf>,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Seed of the world and the API keys; defaults to the workload's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write every merchant's API key here (JSON) [default: out/<workload>/api_keys.json].
    #[arg(long, value_name = "FILE")]
    pub keys_out: Option<PathBuf>,
    /// Inject the faults of a chaos plan (repeatable); windows count from the start.
    #[arg(long, value_name = "FILE")]
    pub chaos: Vec<PathBuf>,
    /// At shutdown, wait at most this long for requests in progress.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub grace_s: f64,
    /// At shutdown, drain the stack (webhooks, batches, settlement) for at most this long.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub drain_max_s: f64,
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Workload file (TOML): the same file (and seed) the server was started with.
    pub workload: PathBuf,
    /// The server: http://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub target: String,
    /// Seed; must be the server's (the API keys derive from it). Defaults to the workload's `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory for remote.json (and history.jsonl) [default: out/<workload>-load].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Multiply the workload's whole rate curve by X.
    #[arg(long, value_name = "X", default_value_t = 1.0)]
    pub rate_scale: f64,
    /// Also write the client history to <out>/history.jsonl.
    #[arg(long)]
    pub history: bool,
    /// Write the generator's final Prometheus metrics (every logical
    /// request and its latency from the intended send time, and the
    /// objectives' budgets and burn rates) to FILE; docs/metrics.md lists them.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// Serve the generator's metrics on ADDR (`/metrics`, `/healthz`,
    /// `/readyz`) while it runs, for Prometheus to scrape beside the server's.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
}

fn workload_or_default(path: Option<&PathBuf>) -> Result<Workload, String> {
    match path {
        Some(p) => Workload::from_path(p).map_err(|e| e.to_string()),
        None => Ok(Workload::default_workload()),
    }
}

fn seconds(name: &str, v: f64) -> Result<Duration, String> {
    if (0.0..=86_400.0).contains(&v) {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(format!(
            "error: option --{name} must be a number of seconds from 0 to 86400, got {v}"
        ))
    }
}

pub fn serve_command(args: ServeArgs, say: &(dyn Fn(&str) + Sync)) -> u8 {
    let prepared = (|| {
        let workload = workload_or_default(args.workload.as_ref())?;
        if workload.file.cells > 1 {
            return Err(format!(
                "error: workload `{}` is split into {} cells, and `paystorm serve` serves one stack: set cells = 1 for it (cells split sim runs, `paystorm run`)",
                workload.source, workload.file.cells
            ));
        }
        let mut plans = Vec::new();
        for p in &args.chaos {
            plans.push(crate::chaos::Plan::from_path(p).map_err(|e| e.to_string())?);
        }
        let grace = seconds("grace-s", args.grace_s)?;
        let drain_max = seconds("drain-max-s", args.drain_max_s)?;
        Ok::<_, String>((workload, plans, grace, drain_max))
    })();
    let (workload, plans, grace, drain_max) = match prepared {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_INPUT;
        }
    };
    let seed = args.seed.unwrap_or(workload.file.seed);
    let keys_out = args.keys_out.unwrap_or_else(|| {
        PathBuf::from("out")
            .join(workload.name())
            .join("api_keys.json")
    });
    let w = &workload.file;
    say(&format!(
        "paystorm serve: workload `{}` ({})\n  seed {seed}; {} merchants, {} customers (cus_0..cus_{}), {} issuers, currency {}; resilience {}; {} chaos plans\n  API keys: {} (derived from the seed: `paystorm load {} --seed {seed}` knows them too)",
        workload.name(),
        workload.source,
        w.population.merchants,
        w.population.customers,
        w.population.customers.saturating_sub(1),
        w.stack.issuers.count,
        workload.currency,
        if w.resilience.enabled { "on" } else { "off" },
        plans.len(),
        keys_out.display(),
        workload.source,
    ));
    let opts = ServeOptions {
        seed,
        listen: args.listen,
        keys_out,
        chaos: plans,
        drain_max,
        server: ServerConfig {
            shutdown_grace: grace,
            ..ServerConfig::default()
        },
        telemetry: match crate::telemetry::Telemetry::for_workload(&workload) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                return EXIT_INPUT;
            }
        },
    };
    let listening = |addr: SocketAddr| {
        say(&format!(
            "listening on http://{addr} (API, /healthz, /readyz, /metrics); SIGINT or SIGTERM shuts down gracefully"
        ))
    };
    match serve::serve(&workload, &opts, say, &listening) {
        Ok(r) => {
            say(&format!(
                "stopped: {} requests reached the gateway; drain {} in {:.1} s; webhooks delivered {}, dead-lettered {}",
                r.gateway_requests,
                if r.drain_completed { "completed" } else { "cut at its bound" },
                r.drain_seconds,
                r.webhooks_delivered,
                r.webhooks_dead_lettered
            ));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_INPUT
        }
    }
}

pub fn load_command(
    args: LoadArgs,
    say: &(dyn Fn(&str) + Sync),
    live: std::sync::Arc<crate::load::recorder::LiveCounters>,
) -> u8 {
    let workload = match Workload::from_path(&args.workload) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_INPUT;
        }
    };
    if !(args.rate_scale.is_finite() && args.rate_scale > 0.0) {
        eprintln!(
            "error: option --rate-scale must be a number above 0, got {}",
            args.rate_scale
        );
        return EXIT_INPUT;
    }
    if let Err(e) = workload.check_scale(args.rate_scale) {
        eprintln!("{e}");
        return EXIT_INPUT;
    }
    let connections = workload.file.clients.connections_max.max(1) as usize;
    let target = match Target::parse(&args.target, connections) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: option --target: {e}");
            return EXIT_INPUT;
        }
    };
    let seed = args.seed.unwrap_or(workload.file.seed);
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{}-load", workload.name())));
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!(
            "error: cannot create the output directory `{}` (option --out): {e}",
            out.display()
        );
        return EXIT_INPUT;
    }
    say(&format!(
        "paystorm load: workload `{}` ({}) against {}\n  seed {seed} (must be the server's); rate scale {}; wall-clock time, results differ from run to run",
        workload.name(),
        workload.source,
        target.base,
        args.rate_scale
    ));
    let telemetry = match (args.metrics_out.is_some() || args.metrics_listen.is_some())
        .then(|| crate::telemetry::Telemetry::for_generator(&workload))
        .transpose()
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INPUT;
        }
    };
    let cannot_write_metrics = |path: &std::path::Path, e: std::io::Error| {
        eprintln!(
            "error: cannot write the metrics to `{}` (option --metrics-out): {e}",
            path.display()
        );
    };
    // Found out now, not after a long load whose results it would hold up.
    if let Some(path) = &args.metrics_out {
        if let Err(e) = std::fs::write(path, "") {
            cannot_write_metrics(path, e);
            return EXIT_INPUT;
        }
    }
    let opts = LoadOptions {
        seed,
        rate_scale: args.rate_scale,
        target,
        history: args.history.then(|| out.join("history.jsonl")),
        telemetry: telemetry.clone(),
        metrics_listen: args.metrics_listen,
        on_metrics_listening: Some(&|addr| {
            say(&format!("  the generator's metrics: http://{addr}/metrics"))
        }),
    };
    let report = match remote::load(&workload, &opts, live) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_INPUT;
        }
    };
    let path = out.join("remote.json");
    let json = serde_json::to_string_pretty(&report).unwrap_or_default() + "\n";
    if let Err(e) = std::fs::write(&path, json) {
        eprintln!("error: cannot write `{}`: {e}", path.display());
        return EXIT_INPUT;
    }
    say(&remote::summary(&report, &path.display().to_string()));
    if let (Some(t), Some(metrics)) = (&telemetry, &args.metrics_out) {
        if let Err(e) = t.write(metrics) {
            cannot_write_metrics(metrics, e);
            // The results are written; a failed verdict is not hidden.
            return match report.exit_code as u8 {
                crate::exit_code::PASS => EXIT_INPUT,
                verdict => verdict,
            };
        }
    }
    report.exit_code as u8
}
