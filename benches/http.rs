//! The HTTP transport's floor, for `benches/http.sh`: a trivial hyper
//! endpoint, and paystorm's HTTP client driving it the way `wrk` does.
//!
//! `http server ADDR` answers every request with one fixed payment body (so
//! the client decodes a real reply); `http client URL CONNECTIONS SECONDS
//! [THREADS]` runs CONNECTIONS closed-loop tasks on a runtime of THREADS
//! workers (default: one per core) through `live::client::HttpApi` (the
//! transport the load generator uses: pooled keep-alive connections, bounded
//! in flight, the reply parsed into the domain's types) and prints requests
//! per second with HdrHistogram percentiles of the latency. Closed-loop, a
//! request's intended send time is when the previous answer arrived, so the
//! latency from there is the corrected latency the generator records.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::{TokioIo, TokioTimer};

use paystorm::domain::api::{PaymentApi, Request};
use paystorm::domain::{MerchantId, Operation, PaymentId};
use paystorm::live::auth::ApiKeys;
use paystorm::live::client::{HttpApi, Target};
use paystorm::lock::Locked;

const BODY: &str = r#"{"id":"pay_1","object":"payment","amount":1500,"currency":"usd","status":"captured","method":"qr_wallet","amount_captured":1500,"amount_refunded":0,"decline_code":null}"#;

fn main() {
    // `cargo bench` passes `--bench`; ignore it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = |threads: Option<&str>| {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if let Some(t) = threads {
            b.worker_threads(t.parse().expect("THREADS"));
        }
        b.enable_all().build().expect("a runtime")
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["server", addr] => runtime(None).block_on(server(addr.parse().expect("ADDR"))),
        ["client", url, conns, secs, threads @ ..] => {
            runtime(threads.first().copied()).block_on(client(
                url,
                conns.parse().expect("CONNECTIONS"),
                secs.parse().expect("SECONDS"),
            ))
        }
        _ => eprintln!("usage: http server ADDR | http client URL CONNECTIONS SECONDS [THREADS]"),
    }
}

async fn server(addr: std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind(addr).await.expect("binds");
    eprintln!("serving on {addr}");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                let mut r = hyper::Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                Ok::<_, Infallible>(r)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn client(url: &str, connections: usize, secs: f64) {
    let target = Target::parse(url, connections).expect("URL");
    let api = Arc::new(HttpApi::new(&target, ApiKeys::derive(0, 1)));
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let req = Request {
        merchant: MerchantId(0),
        key: None,
        op: Operation::Get {
            payment: PaymentId(1),
        },
    };
    // One histogram for every connection, behind a lock, as the
    // generator's recorder keeps its latency book: a histogram per task
    // would spread 64 copies of 200 KB of counters over the caches.
    let all = Arc::new(Mutex::new(
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds"),
    ));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (api, all) = (api.clone(), all.clone());
            tokio::spawn(async move {
                let mut errors = 0u64;
                // Closed-loop: the next request is due when the last answer
                // arrives, so that instant is its intended send time.
                let mut due = Instant::now();
                while due < end {
                    if api.call(req).await.is_err() {
                        errors += 1;
                    }
                    let now = Instant::now();
                    all.locked()
                        .saturating_record((now - due).as_micros() as u64);
                    due = now;
                }
                errors
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += t.await.expect("a task");
    }
    let all = all.locked();
    let wall = started.elapsed().as_secs_f64();
    println!(
        "paystorm: {:.0} requests/s  p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} requests, {} errors, {} connections, {:.1} s)",
        all.len() as f64 / wall,
        all.value_at_quantile(0.5) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.max() as f64 / 1000.0,
        all.len(),
        errors,
        connections,
        wall
    );
}
