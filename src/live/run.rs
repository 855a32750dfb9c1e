//! `paystorm run WORKLOAD --live`: the sim run, on the wall clock and over
//! real HTTP. The stack is served on an ephemeral loopback port, the same
//! generator drives it through [`HttpApi`], and the same drain, final read
//! and checker judge it; the outputs are the sim run's.
//!
//! Not deterministic: threads, sockets and real latencies decide the order of
//! events, so the same seed gives another results file each time (the
//! checker's verdict should not change). `simulated_seconds` in
//! results.json is wall time here.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::load::recorder::LiveCounters;
use crate::sim::run::{conclude, prepare, start, RunError, RunOptions, RunOutcome};
use crate::sim::Clock;
use crate::workload::Workload;

use super::auth::ApiKeys;
use super::client::{HttpApi, Target};
use super::server::{build_info_metrics, stack_backend, App, MetricsSource, Server, ServerConfig};
use super::webhooks::Registry;

/// What live mode adds to a run's options.
#[derive(Clone, Default)]
pub struct LiveOptions {
    /// Serve `/metrics` (and the probes) here during the run.
    pub metrics_listen: Option<SocketAddr>,
    /// The `/metrics` text; build info only when `None`.
    pub metrics: Option<MetricsSource>,
    /// Tell the caller where the API listens, once it does.
    pub on_listening: Option<Arc<dyn Fn(SocketAddr) + Send + Sync>>,
}

pub fn run_live(
    workload: &Workload,
    opts: &RunOptions,
    live_opts: &LiveOptions,
    live: Arc<LiveCounters>,
    telemetry: Option<Arc<crate::telemetry::Telemetry>>,
) -> Result<RunOutcome, RunError> {
    let wall = std::time::Instant::now();
    let mut prepared = prepare(workload, opts)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Config(format!("cannot start the runtime: {e}")))?;
    let w = &workload.file;
    let result = runtime.block_on(async {
        let started = start(
            workload,
            opts,
            &mut prepared,
            Clock::start_live(),
            telemetry.as_ref(),
        )?;
        let keys = ApiKeys::derive(opts.seed, w.population.merchants);
        let registry = Arc::new(Registry::new(opts.seed));
        let sink = webhook_sink(&started, &registry, w).await?;
        let app = || App {
            backend: stack_backend(&started.stack, telemetry.as_ref(), started.clock),
            keys: keys.clone(),
            webhooks: registry.clone(),
            metrics: live_opts.metrics.clone().unwrap_or_else(build_info_metrics),
            currency: workload.currency,
            customers: w.population.customers,
        };
        let bind_err = |what: &str, e: std::io::Error| {
            RunError::Config(format!("cannot listen on {what}: {e}"))
        };
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = Server::bind(loopback, app(), ServerConfig::default())
            .await
            .map_err(|e| bind_err("an ephemeral loopback port", e))?
            .spawn()
            .map_err(|e| bind_err("an ephemeral loopback port", e))?;
        let probes = match live_opts.metrics_listen {
            Some(addr) => Some(
                Server::bind(
                    addr,
                    app(),
                    ServerConfig {
                        probes_only: true,
                        ..ServerConfig::default()
                    },
                )
                .await
                .map_err(|e| bind_err(&format!("{addr} (option --metrics-listen)"), e))?
                .spawn()
                .map_err(|e| bind_err(&addr.to_string(), e))?,
            ),
            None => None,
        };
        if let Some(tell) = &live_opts.on_listening {
            tell(server.addr);
        }
        let connections = w.clients.connections_max.max(1) as usize;
        let api = HttpApi::new(
            &Target {
                base: format!("http://{}", server.addr),
                in_flight_max: connections,
            },
            keys,
        );
        let (report, running) = started.load(api, live).await;
        // Every client is done: close the API, then drain as sim mode does.
        server.stop().await;
        let driven = running.finish(report).await;
        if let Some(p) = probes {
            p.stop().await;
        }
        sink.stop().await;
        Ok::<_, RunError>(driven)
    });
    // Cut whatever a fault left hanging (a partitioned request), so nothing
    // holds the observer any more.
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    conclude(workload, opts, prepared, result?, wall)
}

/// The merchants' webhook receiver for a live run: the built-in sink on a
/// loopback port, one endpoint registered per merchant, misbehaving as the
/// workload's `[stack.webhooks.endpoint]` says, and telling the run's
/// observer what it applied, so the checker judges delivery over HTTP as
/// it judges delivery in process.
async fn webhook_sink(
    started: &crate::sim::run::Started,
    registry: &Arc<Registry>,
    w: &crate::workload::WorkloadFile,
) -> Result<RunningSink, RunError> {
    let (listener, addr) = crate::webhook_sink::server::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .map_err(|e| RunError::Config(format!("cannot listen for webhooks on loopback: {e}")))?;
    let mut secrets = Vec::new();
    for m in 0..w.population.merchants {
        let merchant = crate::domain::MerchantId(m);
        let reg = registry
            .register(merchant, &format!("http://{addr}/webhooks/{merchant}"))
            .map_err(|e| RunError::Config(format!("cannot register the webhook sink: {e}")))?;
        secrets.push(reg.secret);
    }
    let endpoint = w.stack.webhooks.endpoint;
    let sink = Arc::new(crate::webhook_sink::Sink::new(
        secrets,
        crate::webhook_sink::Misbehaviour {
            failure_share: endpoint.failure_share,
            lost_ack_share: endpoint.lost_ack_share,
        },
        // Far above the events a live run emits: a redelivery is never
        // applied twice for want of memory.
        10_000_000,
        Some(started.observer.clone()),
        started.seed.0,
    ));
    started
        .stack
        .deliver_webhooks_over_http(registry.clone())
        .map_err(RunError::Config)?;
    let stop = crate::sim::signal::Signal::new();
    let task = tokio::spawn(crate::webhook_sink::server::serve(listener, sink, {
        let stop = stop.clone();
        async move { stop.wait().await }
    }));
    Ok(RunningSink { stop, task })
}

/// The sink while the run lasts.
struct RunningSink {
    stop: crate::sim::signal::Signal,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningSink {
    async fn stop(self) {
        self.stop.fire();
        let _ = self.task.await;
    }
}
