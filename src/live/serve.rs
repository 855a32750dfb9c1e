//! `paystorm serve`: the stack on the wall clock behind the HTTP API, until
//! SIGINT or SIGTERM. Then a graceful shutdown: stop accepting, let every
//! request in progress finish, drain the stack (webhooks delivered or
//! dead-lettered, batches and settlement run, within a bound), exit 0.
//!
//! Nothing checks a served stack from the inside: the clients' history
//! lives in their process (`paystorm load` checks through the read API).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::chaos::{Chaos, Shape};
use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::history::HistoryEvent;
use crate::sim::world::make_world;
use crate::sim::{Clock, Seed};
use crate::stack::sabotage::Sabotages;
use crate::stack::{Sizing, Stack};
use crate::workload::Workload;

use super::auth::ApiKeys;
use super::server::{build_info_metrics, stack_backend, App, Server, ServerConfig};
use super::webhooks::Registry;

pub struct ServeOptions {
    pub seed: u64,
    pub listen: SocketAddr,
    /// Where to write every merchant's API key (JSON).
    pub keys_out: PathBuf,
    /// Fault plans, as for `run --chaos`; windows count from the start.
    pub chaos: Vec<crate::chaos::Plan>,
    /// At most this long for the drain after the last connection closed.
    pub drain_max: Duration,
    pub server: ServerConfig,
    /// Metrics of the served stack on `/metrics` (build info only without).
    pub telemetry: Option<Arc<crate::telemetry::Telemetry>>,
}

/// What a served stack did, for the closing lines.
#[derive(Clone, Copy, Debug)]
pub struct ServeReport {
    pub addr: SocketAddr,
    pub connections: u64,
    pub requests: u64,
    pub connections_cut: usize,
    pub drain_completed: bool,
    pub drain_seconds: f64,
    pub gateway_requests: u64,
    pub webhooks_delivered: u64,
    pub webhooks_dead_lettered: u64,
}

/// Nobody audits a served stack in process.
struct Unobserved;

impl Observer for Unobserved {
    fn audit(&self, _: AuditRecord) {}
    fn history(&self, _: HistoryEvent) {}
}

/// Why serving could not start (exit 4).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr} (option --listen): {source}. Is another process using the port? Pick another with --listen 127.0.0.1:PORT (port 0 picks a free one).")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write the API keys to `{path}`: {source}")]
    Keys {
        path: String,
        source: std::io::Error,
    },
}

/// Serves until a shutdown signal; `say` prints a line, `listening` is told
/// the bound address (port 0 picks one).
pub fn serve(
    workload: &Workload,
    opts: &ServeOptions,
    say: &(dyn Fn(&str) + Sync),
    listening: &(dyn Fn(SocketAddr) + Sync),
) -> Result<ServeReport, ServeError> {
    let w = &workload.file;
    let seed = Seed(opts.seed);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ServeError::Config(format!("cannot start the runtime: {e}")))?;
    let keys = ApiKeys::derive(opts.seed, w.population.merchants);
    if let Some(dir) = opts.keys_out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ServeError::Keys {
            path: opts.keys_out.display().to_string(),
            source,
        })?;
    }
    std::fs::write(&opts.keys_out, keys.to_json() + "\n").map_err(|source| ServeError::Keys {
        path: opts.keys_out.display().to_string(),
        source,
    })?;
    let world = make_world(&w.population, &w.stack, seed);
    let chaos = Chaos::build(
        &opts.chaos,
        seed,
        Shape {
            horizon_s: workload.curve(1.0).map_or(60.0, |c| c.duration_s()),
            issuers: w.stack.issuers.count as u16,
            networks: w.stack.networks.first_digits.len() as u8,
        },
    );
    runtime.block_on(async {
        let clock = Clock::start_live();
        let stack = Stack::build(
            &w.stack,
            &world,
            workload.currency,
            seed,
            clock,
            Arc::new(Unobserved),
            Sabotages::NONE,
            Sizing::default(),
            &chaos,
            &w.resilience,
        )
        .map_err(ServeError::Config)?;
        if let Some(t) = &opts.telemetry {
            t.attach(&stack, &chaos, clock);
        }
        // Endpoints registered over the API get their events over HTTP.
        let registry = Arc::new(Registry::new(opts.seed));
        stack
            .deliver_webhooks_over_http(registry.clone())
            .map_err(ServeError::Config)?;
        let stop = crate::sim::signal::Signal::new();
        let background = stack.spawn_background(&stop);
        let app = App {
            backend: stack_backend(&stack, opts.telemetry.as_ref(), clock),
            keys: keys.clone(),
            webhooks: registry,
            metrics: opts
                .telemetry
                .as_ref()
                .map_or_else(build_info_metrics, |t| t.renderer()),
            currency: workload.currency,
            customers: w.population.customers,
        };
        let server = Server::bind(opts.listen, app, opts.server)
            .await
            .map_err(|source| ServeError::Listen {
                addr: opts.listen,
                source,
            })?;
        let addr = server.local_addr().map_err(|source| ServeError::Listen {
            addr: opts.listen,
            source,
        })?;
        listening(addr);
        let served = server.run(shutdown_signal()).await;
        say(&format!(
            "shutting down: {} connections served {} requests{}; draining the stack (at most {:.0} s)",
            served.connections,
            served.requests,
            if served.connections_cut > 0 {
                format!(", {} connections cut after the grace period", served.connections_cut)
            } else {
                String::new()
            },
            opts.drain_max.as_secs_f64()
        ));
        let drain = stack.drain(opts.drain_max).await;
        stop.fire();
        for task in background {
            let _ = task.await;
        }
        let stats = stack.stats();
        Ok(ServeReport {
            addr,
            connections: served.connections,
            requests: served.requests,
            connections_cut: served.connections_cut,
            drain_completed: drain.completed,
            drain_seconds: drain.simulated_seconds,
            gateway_requests: stats.gateway.requests,
            webhooks_delivered: stats.webhooks.delivered,
            webhooks_dead_lettered: stats.webhooks.dead_lettered,
        })
    })
}

/// SIGINT (Ctrl-C) or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
