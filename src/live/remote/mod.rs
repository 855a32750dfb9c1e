//! `paystorm load WORKLOAD --target http://HOST:PORT`: the generator against
//! a `paystorm serve` running elsewhere, then the checks a client can make
//! through the read API alone.
//!
//! Checked remotely:
//! - `key_single_payment`: no idempotency key produced two payments (every
//!   reply for a key named the same payment);
//! - `payments_exist`: every payment a reply named exists, with its amount,
//!   owned by its merchant, in a status reachable from the last one seen;
//! - `unknown_resolved`: every create whose outcome stayed unknown is
//!   resolved by sending it again with its key, as Stripe advises: a replay
//!   (`Idempotent-Replayed: true`) proves it had executed; a fresh answer
//!   proves it had not (and executes it now, which is safe because of the
//!   key).
//!
//! Not checkable remotely (listed in the output): the ledger, holds,
//! settlement and webhooks live inside the server; run the same workload
//! with `paystorm run --live` to have the full checker judge them.

pub mod book;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::api::{PaymentApi, Request};
use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::history::HistoryEvent;
use crate::domain::{ApiError, MerchantId, Operation, PaymentId, Status};
use crate::load::recorder::{Counts, LiveCounters};
use crate::load::{self, Plan};
use crate::metrics::latency::Percentiles;
use crate::sim::history_file::HistoryFile;
use crate::sim::world::make_world;
use crate::sim::{Clock, Seed};
use crate::workload::Workload;

use super::auth::ApiKeys;
use super::client::{HttpApi, Target};
use book::{Book, KeyRecord, SeenPayment};

pub struct LoadOptions<'a> {
    pub seed: u64,
    pub rate_scale: f64,
    pub target: Target,
    /// Write the client history here (JSON lines).
    pub history: Option<PathBuf>,
    /// The generator's metrics (every logical request, the objectives).
    pub telemetry: Option<Arc<crate::telemetry::Telemetry>>,
    /// Serve those metrics here while the load runs.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Told where the metrics listener listens (port 0 picks one).
    pub on_metrics_listening: Option<&'a (dyn Fn(std::net::SocketAddr) + Sync)>,
}

/// One remote check, judged.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemoteCheck {
    pub name: &'static str,
    pub passed: bool,
    /// How many things it looked at.
    pub checked: u64,
    pub violations: u64,
    pub example: Option<String>,
}

/// How the unknown creates were resolved.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Resolution {
    /// A replay of the stored answer: it had executed.
    pub executed: u64,
    /// A fresh answer: it had not executed (it has now).
    pub not_executed: u64,
    /// A definite error now (say, the key's retention ran out).
    pub refused: u64,
    /// No definite answer even now.
    pub unresolved: u64,
}

/// What `paystorm load` reports (also `remote.json`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RemoteReport {
    pub target: String,
    pub seed: u64,
    pub workload: String,
    pub wall_seconds: f64,
    pub arrivals: u64,
    pub counts: Counts,
    pub latency_ms: Vec<(&'static str, Percentiles)>,
    pub checks: Vec<RemoteCheck>,
    pub unknown_resolution: Resolution,
    /// Invariants of the in-process checker no client can verify over HTTP.
    pub not_checked_remotely: Vec<&'static str>,
    pub exit_code: i32,
}

pub const NOT_CHECKED_REMOTELY: &[&str] = &[
    "idempotency_single_effect beyond one payment per key (ledger effects are not exposed)",
    "ledger_entries_balance, ledger_money_conserved, ledger_account_limits (the ledger is not exposed)",
    "lifecycle_hold_resolved_once (issuer holds are not exposed)",
    "settlement_each_capture_once, settlement_deposit_matches (acquirer batches are not exposed)",
    "webhook_* (events go to the server's in-process merchant endpoint)",
];

/// The generator's history, into the book and optionally a file.
struct Recorder {
    book: Arc<Book>,
    file: Option<HistoryFile>,
}

impl Observer for Recorder {
    fn audit(&self, _: AuditRecord) {}
    fn history(&self, event: HistoryEvent) {
        if let Some(f) = &self.file {
            f.write(&event);
        }
        self.book.history(event);
    }
}

/// A `/metrics` (and probes) listener for the generator: there is no API
/// behind it, so its backend refuses everything, and a probes-only server
/// never routes a request there anyway.
async fn metrics_listener(
    addr: std::net::SocketAddr,
    telemetry: &Arc<crate::telemetry::Telemetry>,
    workload: &Workload,
    seed: u64,
) -> Result<super::server::Running, String> {
    use super::server::{App, Server, ServerConfig};
    let app = App {
        backend: Arc::new(NoApi),
        keys: ApiKeys::derive(seed, workload.file.population.merchants),
        webhooks: Arc::new(super::webhooks::Registry::new(seed)),
        metrics: telemetry.renderer(),
        currency: workload.currency,
        customers: workload.file.population.customers,
    };
    let cfg = ServerConfig {
        probes_only: true,
        ..ServerConfig::default()
    };
    let cannot =
        |e: std::io::Error| format!("cannot listen on {addr} (option --metrics-listen): {e}");
    Server::bind(addr, app, cfg)
        .await
        .map_err(cannot)?
        .spawn()
        .map_err(cannot)
}

/// The backend of a metrics-only listener: no stack to call.
struct NoApi;

impl super::server::Backend for NoApi {
    fn call(&self, _: Request) -> super::server::backend::BoxFuture<crate::domain::Served> {
        Box::pin(async { crate::domain::Served::fresh(Err(ApiError::Unavailable)) })
    }

    fn authenticate(
        &self,
        _: crate::domain::CustomerId,
    ) -> super::server::backend::BoxFuture<Option<crate::domain::api::WalletPresentation>> {
        Box::pin(async { None })
    }

    fn peek(&self, _: PaymentId) -> Option<(MerchantId, crate::domain::PaymentView)> {
        None
    }

    fn charge_edge_request(&self, _: MerchantId) -> Result<(), ApiError> {
        Err(ApiError::Unavailable)
    }
}

/// Runs the workload against the target and checks what it can.
pub fn load(
    workload: &Workload,
    opts: &LoadOptions,
    live: Arc<LiveCounters>,
) -> Result<RemoteReport, String> {
    let wall = std::time::Instant::now();
    let w = &workload.file;
    let seed = Seed(opts.seed);
    let (arrivals, _) = workload
        .arrivals(seed, opts.rate_scale)
        .map_err(|e| e.0.trim_start_matches("error: ").to_string())?;
    let slos =
        crate::slo::compile(&w.slo).map_err(|p| format!("slo {}: {}", p.index + 1, p.message))?;
    let world = make_world(&w.population, &w.stack, seed);
    let book = Arc::new(Book::default());
    let file = match &opts.history {
        Some(p) => Some(
            HistoryFile::create(p)
                .map_err(|e| format!("cannot write the history file `{}`: {e}", p.display()))?,
        ),
        None => None,
    };
    let recorder = Arc::new(Recorder {
        book: book.clone(),
        file,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let keys = ApiKeys::derive(opts.seed, w.population.merchants);
    let api = HttpApi::new(&opts.target, keys);
    let outcome = runtime.block_on(async {
        api.probe().await?;
        // The served stack exports its own metrics (`serve`'s /metrics);
        // these are the generator's: what the clients saw.
        let clock = Clock::start_live();
        if let Some(t) = &opts.telemetry {
            t.watch_clock(clock);
        }
        let listener = match (&opts.telemetry, opts.metrics_listen) {
            (Some(t), Some(addr)) => Some(metrics_listener(addr, t, workload, opts.seed).await?),
            _ => None,
        };
        if let (Some(l), Some(tell)) = (&listener, opts.on_metrics_listening) {
            tell(l.addr);
        }
        let plan = Plan::new(
            workload,
            &world,
            slos,
            opts.telemetry.as_ref().map(|t| t.client()),
        );
        let model = load::OpenModel {
            in_flight_max: w.load.in_flight_max,
            late_tolerance_us: (w.load.late_tolerance_ms * 1000.0) as u64,
        };
        let observer: Arc<dyn Observer> = recorder.clone();
        let report = load::run(
            api.clone(),
            arrivals,
            model,
            plan,
            seed,
            clock,
            observer,
            live,
        )
        .await;
        let (checks, resolution) = check(&api, &book).await;
        if let Some(t) = &opts.telemetry {
            t.freeze();
        }
        if let Some(l) = listener {
            l.stop().await;
        }
        Ok::<_, String>((report, checks, resolution))
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    let (report, checks, resolution) = outcome?;
    if let Ok(r) = Arc::try_unwrap(recorder) {
        if let Some(f) = r.file {
            f.finish()
                .map_err(|e| format!("cannot write the history file: {e}"))?;
        }
    }
    let offered = report.arrivals.max(1) as f64;
    let missed = (report.counts.dropped_arrivals + report.counts.late_arrivals) as f64 / offered;
    let exit_code = i32::from(if checks.iter().any(|c| !c.passed) {
        crate::exit_code::INVARIANT_VIOLATED
    } else if missed > w.load.dropped_share_max {
        crate::exit_code::INVALID
    } else {
        crate::exit_code::PASS
    });
    Ok(RemoteReport {
        target: opts.target.base.clone(),
        seed: opts.seed,
        workload: workload.name().to_string(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        arrivals: report.arrivals,
        counts: report.counts,
        latency_ms: report.latency.corrected_ms(),
        checks,
        unknown_resolution: resolution,
        not_checked_remotely: NOT_CHECKED_REMOTELY.to_vec(),
        exit_code,
    })
}

/// Whether a payment last seen in `from` may now be in `to`.
pub fn reachable(from: Status, to: Status) -> bool {
    use Status::*;
    from == to
        || match from {
            Processing => matches!(to, Captured | Failed | Refunded),
            Authorized => matches!(to, Captured | Voided | Refunded),
            Captured => matches!(to, Refunded),
            Refunded | Voided | Declined | Failed => false,
        }
}

/// Reads back every payment the clients saw and resolves unknown creates.
async fn check(api: &HttpApi, book: &Book) -> (Vec<RemoteCheck>, Resolution) {
    let keys = book.keys();
    let payments = book.payments();
    let mut single = RemoteCheck {
        name: "key_single_payment",
        passed: true,
        checked: 0,
        violations: 0,
        example: None,
    };
    for ((merchant, key), rec) in &keys {
        if !matches!(rec.op, Some(Operation::Create(_))) {
            continue;
        }
        single.checked += 1;
        if rec.payments.len() > 1 {
            single.violations += 1;
            single.example.get_or_insert_with(|| {
                format!("{merchant} {key}: replies named {:?}", rec.payments)
            });
        }
    }
    let mut exist = RemoteCheck {
        name: "payments_exist",
        checked: payments.len() as u64,
        ..single.clone()
    };
    exist.violations = 0;
    exist.example = None;
    let list: Vec<(PaymentId, SeenPayment)> = payments.into_iter().collect();
    for chunk in list.chunks(256) {
        let mut set = tokio::task::JoinSet::new();
        for (id, seen) in chunk.iter().copied() {
            let api = api.clone();
            set.spawn(async move { (id, seen, read_back(&api, seen.merchant, id).await) });
        }
        while let Some(Ok((id, seen, now))) = set.join_next().await {
            let problem = match now {
                Err(e) => Some(format!(
                    "{id} ({}): GET answered {}",
                    seen.merchant,
                    e.as_str()
                )),
                Ok(view) if view.amount.minor != seen.amount_minor => Some(format!(
                    "{id}: amount {} now, {} in the reply",
                    view.amount.minor, seen.amount_minor
                )),
                Ok(view) if !reachable(seen.status, view.status) => Some(format!(
                    "{id}: {} now, but a reply showed {} (no way back)",
                    view.status.as_str(),
                    seen.status.as_str()
                )),
                Ok(_) => None,
            };
            if let Some(p) = problem {
                exist.violations += 1;
                exist.example.get_or_insert(p);
            }
        }
    }
    let (resolution, unknown) = resolve_unknown(api, &keys).await;
    single.passed = single.violations == 0;
    exist.passed = exist.violations == 0;
    (vec![single, exist, unknown], resolution)
}

/// One GET, retried while the server is busy (429/503/409).
async fn read_back(
    api: &HttpApi,
    merchant: MerchantId,
    payment: PaymentId,
) -> Result<crate::domain::PaymentView, ApiError> {
    let req = Request {
        merchant,
        key: None,
        op: Operation::Get { payment },
    };
    let mut last = ApiError::Unavailable;
    for _ in 0..5 {
        match tokio::time::timeout(Duration::from_secs(5), api.call(req)).await {
            Ok(Ok(r)) => return Ok(r.payment),
            Ok(Err(e)) if !e.is_retryable() => return Err(e),
            Ok(Err(e)) => last = e,
            Err(_) => last = ApiError::UpstreamTimeout,
        }
        tokio::time::sleep(last.retry_after().unwrap_or(Duration::from_millis(200))).await;
    }
    Err(last)
}

async fn resolve_unknown(
    api: &HttpApi,
    keys: &std::collections::BTreeMap<book::KeyId, KeyRecord>,
) -> (Resolution, RemoteCheck) {
    let mut res = Resolution::default();
    let mut check = RemoteCheck {
        name: "unknown_resolved",
        passed: true,
        checked: 0,
        violations: 0,
        example: None,
    };
    for ((merchant, key), rec) in keys {
        let Some(op @ Operation::Create(_)) = rec.op else {
            continue;
        };
        if rec.answered || !rec.unknown || rec.mismatched {
            continue;
        }
        check.checked += 1;
        let req = Request {
            merchant: *merchant,
            key: Some(*key),
            op,
        };
        let mut outcome = None;
        for _ in 0..10 {
            match tokio::time::timeout(Duration::from_secs(5), api.call(req)).await {
                Ok(Ok(r)) => {
                    outcome = Some(Ok(r.replayed));
                    break;
                }
                Ok(Err(e)) if !e.is_retryable() => {
                    outcome = Some(Err(e));
                    break;
                }
                Ok(Err(e)) => {
                    tokio::time::sleep(e.retry_after().unwrap_or(Duration::from_millis(300))).await
                }
                Err(_) => {}
            }
        }
        match outcome {
            Some(Ok(true)) => res.executed += 1,
            Some(Ok(false)) => res.not_executed += 1,
            Some(Err(_)) => res.refused += 1,
            None => {
                res.unresolved += 1;
                check.violations += 1;
                check.example.get_or_insert_with(|| {
                    format!("{merchant} {key}: no definite answer even after the run")
                });
            }
        }
    }
    check.passed = check.violations == 0;
    (res, check)
}

/// The closing lines of `paystorm load`.
pub fn summary(r: &RemoteReport, out: &str) -> String {
    let c = &r.counts;
    let mut s = format!(
        "drove {} in {:.1} s: attempted {}  succeeded {}  declined {}  failed {}  unknown {}  retries {}  replays seen {}  429s {}\n",
        r.target, r.wall_seconds, c.attempted, c.succeeded, c.declined, c.failed, c.unknown, c.retries, c.replays_seen, c.rate_limited
    );
    s.push_str("latency (ms, from intended send)   count      p50      p99      max\n");
    for (op, p) in &r.latency_ms {
        if p.count > 0 {
            s.push_str(&format!(
                "  {op:<30} {:>7} {:>8.1} {:>8.1} {:>8.1}\n",
                p.count, p.p50, p.p99, p.max
            ));
        }
    }
    s.push_str("checked through the API\n");
    for ch in &r.checks {
        s.push_str(&format!(
            "  {}  {:<28} checked {:<7} violations {}{}\n",
            if ch.passed { "pass" } else { "FAIL" },
            ch.name,
            ch.checked,
            ch.violations,
            ch.example
                .as_ref()
                .map(|e| format!("  e.g. {e}"))
                .unwrap_or_default()
        ));
    }
    let u = &r.unknown_resolution;
    s.push_str(&format!(
        "unknown creates resolved by their key: {} had executed, {} had not, {} refused, {} unresolved\n",
        u.executed, u.not_executed, u.refused, u.unresolved
    ));
    s.push_str("not checkable through the API (use `paystorm run --live` for these):\n");
    for n in &r.not_checked_remotely {
        s.push_str(&format!("  - {n}\n"));
    }
    s.push_str(&format!(
        "{}\nresults: {out}",
        match r.exit_code {
            0 => "PASS: everything checkable remotely held",
            2 => "FAIL: a remote check failed",
            _ => "INVALID: the generator could not keep its schedule",
        }
    ));
    s
}
