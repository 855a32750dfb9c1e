//! The sink over HTTP/1.1 (hyper): `POST` on any path takes a delivery,
//! `GET /received` answers what was taken (JSON), `GET /healthz` answers
//! `ok`. Bodies above [`BODY_BYTES_MAX`] are refused (413); at most
//! [`CONNECTIONS_MAX`] connections are served at once; a connection that
//! sends its headers too slowly is closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Sink;
use crate::stack::webhooks::http::SIGNATURE_HEADER;

/// Largest delivery body taken.
pub const BODY_BYTES_MAX: usize = 1024 * 1024;
/// Connections served at once; the accept loop waits beyond.
pub const CONNECTIONS_MAX: usize = 1024;

/// Serves `sink` on `listener` until `shutdown` resolves, then lets the
/// open connections finish the request they are on.
pub async fn serve(
    listener: TcpListener,
    sink: Arc<Sink>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of file descriptors and the like: wait, do not spin.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
        };
        let _ = stream.set_nodelay(true);
        let sink = sink.clone();
        let service = hyper::service::service_fn(move |req| handle(sink.clone(), req));
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

/// Binds `addr` (port 0: any free port) and says where it listens.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

async fn handle(
    sink: Arc<Sink>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/received") => json(
            StatusCode::OK,
            serde_json::to_string(&sink.received()).unwrap_or_default(),
        ),
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
        (&Method::POST, _) => {
            let signature = req
                .headers()
                .get(SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match Limited::new(req.into_body(), BODY_BYTES_MAX)
                .collect()
                .await
            {
                Ok(body) => {
                    let body = body.to_bytes();
                    let now_s = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let verdict = sink.receive(signature.as_deref(), &body, now_s);
                    let status = StatusCode::from_u16(verdict.http_status())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    json(status, format!("{{\"verdict\":\"{verdict:?}\"}}"))
                }
                Err(_) => text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body too large or unreadable\n",
                ),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "POST deliveries to any path; GET /received, /healthz\n",
        ),
    })
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}
