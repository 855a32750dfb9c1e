//! The HTTP/1.1 server (hyper 1.x) in front of the stack's gateway.
//!
//! Bounds: at most `connections_max` connections (the accept loop waits for
//! a free slot), one request at a time per connection (HTTP/1.1 without
//! pipelined concurrency), so at most `connections_max` requests in flight;
//! bodies above `body_bytes_max` are refused unread (413). Timeouts: hyper's
//! header read timeout for slow headers, `body_read_timeout` for slow
//! bodies (408), and `idle_timeout` closes a keep-alive connection nobody
//! uses.
//!
//! Shutdown: stop accepting (and answer `/readyz` 503), let every connection
//! finish the request it is serving, then close; after `shutdown_grace` the
//! remaining connections are dropped. The gateway work of a dropped request
//! still finishes (see [`backend::Backend::call`]), so the stack's drain,
//! after this returns, sees it.

pub mod backend;
mod handler;
pub mod reply;
pub mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::domain::Currency;
use crate::live::auth::ApiKeys;
use crate::live::webhooks::Registry;

pub use backend::{stack_backend, Backend, StackBackend};

/// Where `/metrics` text comes from; the telemetry registry plugs in here.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// The `/metrics` text when no registry is plugged in: build info only.
pub fn build_info_metrics() -> MetricsSource {
    Arc::new(|| {
        format!(
            "# HELP paystorm_build_info paystorm's version; always 1.\n# TYPE paystorm_build_info gauge\npaystorm_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )
    })
}

/// What the server serves.
pub struct App {
    pub backend: Arc<dyn Backend>,
    pub keys: ApiKeys,
    pub webhooks: Arc<Registry>,
    pub metrics: MetricsSource,
    /// The one currency the stack settles in.
    pub currency: Currency,
    /// Customers are `cus_0` .. `cus_{customers-1}`.
    pub customers: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct ServerConfig {
    pub connections_max: usize,
    pub body_bytes_max: usize,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    /// Answer only `/healthz`, `/readyz` and `/metrics` (404 elsewhere): a
    /// metrics listener beside the API.
    pub probes_only: bool,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            connections_max: 4096,
            // A payment request is a few hundred bytes; 64 KiB is generous.
            body_bytes_max: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            probes_only: false,
        }
    }
}

/// Shared by every connection.
pub(crate) struct State {
    app: App,
    cfg: ServerConfig,
    ready: AtomicBool,
    requests: AtomicU64,
}

/// What a server did, once it stopped.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeSummary {
    pub connections: u64,
    pub requests: u64,
    /// Connections still open when the grace period ran out (dropped).
    pub connections_cut: usize,
}

pub struct Server {
    state: Arc<State>,
    listener: TcpListener,
}

impl Server {
    /// Binds the listener; the server answers once [`Server::run`] runs.
    pub async fn bind(addr: SocketAddr, app: App, cfg: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Server {
            state: Arc::new(State {
                app,
                cfg,
                ready: AtomicBool::new(false),
                requests: AtomicU64::new(0),
            }),
            listener,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then shuts down gracefully.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> ServeSummary {
        let Server { state, listener } = self;
        let cfg = state.cfg;
        let slots = Arc::new(Semaphore::new(cfg.connections_max));
        let (closing_tx, closing) = watch::channel(false);
        let open = Arc::new(AtomicUsize::new(0));
        let mut connections = 0u64;
        state.ready.store(true, Ordering::SeqCst);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            let stream = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors and the like: back off, go on.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let _ = stream.set_nodelay(true);
            connections += 1;
            open.fetch_add(1, Ordering::SeqCst);
            let (state, closing, open) = (state.clone(), closing.clone(), open.clone());
            tokio::spawn(async move {
                serve_connection(state, stream, closing).await;
                open.fetch_sub(1, Ordering::SeqCst);
                drop(slot);
            });
        }
        state.ready.store(false, Ordering::SeqCst);
        drop(listener);
        let _ = closing_tx.send(true);
        let all = u32::try_from(cfg.connections_max).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(cfg.shutdown_grace, slots.acquire_many(all)).await;
        ServeSummary {
            connections,
            requests: state.requests.load(Ordering::Relaxed),
            connections_cut: open.load(Ordering::SeqCst),
        }
    }

    /// Runs the server on a task; the handle stops it.
    pub fn spawn(self) -> std::io::Result<Running> {
        let addr = self.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        Ok(Running { addr, stop, task })
    }
}

/// A server running on a task.
pub struct Running {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<ServeSummary>,
}

impl Running {
    /// Graceful shutdown; returns when every connection closed (or the
    /// grace ran out).
    pub async fn stop(self) -> ServeSummary {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// One connection: HTTP/1.1 with keep-alive, closed when idle too long or
/// when the server shuts down (after the request in progress).
async fn serve_connection(
    state: Arc<State>,
    stream: tokio::net::TcpStream,
    mut closing: watch::Receiver<bool>,
) {
    let cfg = state.cfg;
    // Requests in progress on this connection and when the last one ended.
    let busy = Arc::new(AtomicUsize::new(0));
    let last_done = Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let service = {
        let (busy, last_done) = (busy.clone(), last_done.clone());
        service_fn(move |req| {
            let (state, busy, last_done) = (state.clone(), busy.clone(), last_done.clone());
            busy.fetch_add(1, Ordering::SeqCst);
            async move {
                let out = handler::handle(state, req).await;
                *crate::lock::Locked::locked(&*last_done) = tokio::time::Instant::now();
                busy.fetch_sub(1, Ordering::SeqCst);
                out
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let mut shutting = false;
    loop {
        let now = tokio::time::Instant::now();
        let mut idle_at = *crate::lock::Locked::locked(&*last_done) + cfg.idle_timeout;
        if idle_at <= now {
            // A request has been in progress longer than the idle timeout:
            // not idle; look again later rather than spin.
            idle_at = now + cfg.idle_timeout;
        }
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = closing.changed(), if !shutting => {
                if changed.is_err() || *closing.borrow() {
                    shutting = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
            _ = tokio::time::sleep_until(idle_at), if !shutting => {
                let idle_since = *crate::lock::Locked::locked(&*last_done);
                if busy.load(Ordering::SeqCst) == 0 && idle_since + cfg.idle_timeout <= tokio::time::Instant::now() {
                    shutting = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
