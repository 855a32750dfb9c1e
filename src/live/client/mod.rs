//! The HTTP transport: [`PaymentApi`] over HTTP/1.1, so the load generator
//! drives a served stack unchanged.
//!
//! Keep-alive connections to the one host, at most `in_flight_max` of them
//! (the generator's own `clients.connections_max` bounds the calls first, so
//! a run never waits here). A call takes an idle connection, or opens one,
//! and does the exchange itself on its own task ([`h1`] says why: the load
//! generator shares the machine with the server, and hyper's client spent
//! more CPU per request than the server did). The `Authorization` line of
//! every merchant is formatted once, up front.
//!
//! What a failure means, as a careful client must read it: a connection
//! that could not be opened, or a request that could not be written whole,
//! reached nothing (503, retryable, no effect); a request that broke after
//! it was sent may have taken effect, so the call never answers and the
//! client's own timeout records the outcome as unknown — exactly how the
//! in-process transport models a lost response.

mod h1;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::domain::api::{PaymentApi, Request, WalletPresentation};
use crate::domain::{ApiError, ApiReply, CustomerId, IdemKey, MerchantId, Operation, Served};
use crate::live::auth::ApiKeys;
use crate::live::wire;
use crate::lock::Locked;

use h1::{Conn, Part};

/// How long opening a connection may take before the call fails (503).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where and how to reach a server.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    /// Requests on the wire at once, and so connections open at most.
    pub in_flight_max: usize,
}

impl Target {
    /// Checks `--target`: `http://HOST:PORT` (https is not supported: the
    /// harness serves plain HTTP on a trusted network).
    pub fn parse(text: &str, in_flight_max: usize) -> Result<Target, String> {
        let base = text.trim_end_matches('/');
        let uri: hyper::Uri = base
            .parse()
            .map_err(|e| format!("`{text}` is not a URL ({e}); expected http://HOST:PORT"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!(
                "`{text}`: expected http://HOST:PORT (plain HTTP; https is not supported)"
            ));
        }
        if uri.path() != "/" && !uri.path().is_empty() {
            return Err(format!("`{text}`: give the server's root, without a path"));
        }
        Ok(Target {
            base: base.to_string(),
            in_flight_max: in_flight_max.max(1),
        })
    }
}

#[derive(Clone)]
pub struct HttpApi {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    /// `host:port` to connect to.
    authority: String,
    /// `host: ...` header line, for every request.
    host_line: Box<[u8]>,
    /// Each merchant's `authorization: Bearer ...` header line.
    merchant_lines: Vec<Box<[u8]>>,
    /// The device simulator's.
    device_line: Box<[u8]>,
    keys: ApiKeys,
    /// Connections between requests, the most recently used on top (it is
    /// the likeliest to be alive). Held only to push or pop.
    idle: Mutex<Vec<Conn>>,
    /// One permit per connection that may be open. Without waiters taking
    /// one is a single atomic operation.
    slots: Semaphore,
}

/// How one exchange ended, before it is read as a domain answer.
enum Exchange<T> {
    /// An answer, as the caller's reader made it.
    Answer(T),
    /// Nothing reached the server.
    NotSent,
    /// Sent, then broken: the effect may or may not have happened.
    Lost,
}

/// An answer as the readers see it.
struct Answer<'a> {
    status: u16,
    replayed: bool,
    retry_after_s: Option<u32>,
    body: &'a [u8],
}

/// The request line's path.
enum Path {
    Fixed(&'static str),
    Payment(crate::domain::PaymentId, &'static str),
}

/// A request, before a connection is chosen for it.
struct Outgoing<'a, B> {
    method: &'static str,
    path: Path,
    auth: &'a [u8],
    key: Option<IdemKey>,
    body: Option<B>,
}

impl HttpApi {
    pub fn new(target: &Target, keys: ApiKeys) -> HttpApi {
        let authority = target
            .base
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| {
                let host = u.host()?.to_string();
                Some(format!("{host}:{}", u.port_u16().unwrap_or(80)))
            })
            .unwrap_or_else(|| target.base.trim_start_matches("http://").to_string());
        let host = target.base.trim_start_matches("http://");
        let line = |name: &str, value: &str| format!("{name}: {value}\r\n").into_bytes().into();
        HttpApi {
            inner: Arc::new(Inner {
                base: target.base.clone(),
                authority,
                host_line: line("host", host),
                merchant_lines: (0..)
                    .map_while(|m| keys.merchant(MerchantId(m)))
                    .map(|key| line("authorization", &format!("Bearer {key}")))
                    .collect(),
                device_line: line("authorization", &format!("Bearer {}", keys.device())),
                keys,
                idle: Mutex::new(Vec::new()),
                slots: Semaphore::new(target.in_flight_max),
            }),
        }
    }

    /// A merchant's request for a domain operation.
    fn outgoing(&self, req: &Request) -> Option<Outgoing<'_, Body>> {
        let auth = self.inner.merchant_lines.get(req.merchant.0 as usize)?;
        let (method, path, body) = match req.op {
            Operation::Create(p) => (
                "POST",
                Path::Fixed("/v1/payments"),
                Some(Body::Create(wire::CreatePayment {
                    customer: p.customer.to_string(),
                    amount: p.amount.minor,
                    currency: p.amount.currency.as_str().to_ascii_lowercase(),
                    method: p.method.as_str().to_string(),
                    capture_method: Some(wire::capture_mode_name(p.capture).to_string()),
                    payment_method: p.token.map(|(t, d)| wire::CardPresentation {
                        token: wire::ids::token_text(t),
                        device: wire::ids::device_text(d),
                    }),
                    return_url: p
                        .callback
                        .then(|| "http://merchant.invalid/return".to_string()),
                })),
            ),
            Operation::Capture {
                payment,
                amount_minor,
            } => (
                "POST",
                Path::Payment(payment, "/capture"),
                Some(Body::Capture(wire::CapturePayment {
                    amount_to_capture: Some(amount_minor),
                })),
            ),
            Operation::Void { payment } => (
                "POST",
                Path::Payment(payment, "/void"),
                Some(Body::Void(wire::VoidPayment {})),
            ),
            Operation::Refund {
                payment,
                amount_minor,
            } => (
                "POST",
                Path::Payment(payment, "/refunds"),
                Some(Body::Refund(wire::CreateRefund {
                    amount: Some(amount_minor),
                })),
            ),
            Operation::Get { payment } => ("GET", Path::Payment(payment, ""), None),
        };
        Some(Outgoing {
            method,
            path,
            auth,
            key: req.key,
            body,
        })
    }

    /// An idle connection that is still good, or a new one.
    async fn checkout(&self) -> std::io::Result<Conn> {
        loop {
            let Some(conn) = self.inner.idle.locked().pop() else {
                break;
            };
            if !conn.is_stale() {
                return Ok(conn);
            }
        }
        Conn::open(&self.inner.authority, CONNECT_TIMEOUT).await
    }

    /// Sends one request and hands its answer to `read`, whose result comes
    /// back; the connection goes back to the pool if it can carry another.
    /// A call dropped half way (its timeout) drops the connection with it:
    /// nobody knows what state it is in.
    async fn exchange<B: serde::Serialize, T>(
        &self,
        out: Outgoing<'_, B>,
        read: impl FnOnce(Answer<'_>) -> T,
    ) -> Exchange<T> {
        // The semaphore is never closed.
        let Ok(_slot) = self.inner.slots.acquire().await else {
            return Exchange::NotSent;
        };
        let Ok(mut conn) = self.checkout().await else {
            return Exchange::NotSent;
        };
        let fixed: [&[u8]; 2] = [&self.inner.host_line, out.auth];
        match out.path {
            Path::Fixed(p) => conn.begin(out.method, &[Part::Text(p)], &fixed),
            Path::Payment(id, rest) => {
                let path = [
                    Part::Text("/v1/payments/"),
                    Part::Text(wire::ids::PAYMENT_PREFIX),
                    Part::Number(id.0),
                    Part::Text(rest),
                ];
                conn.begin(out.method, &path, &fixed)
            }
        }
        if let Some(key) = out.key {
            conn.header("idempotency-key", key);
        }
        if conn.end(out.body.as_ref()).is_err() || conn.send().await.is_err() {
            return Exchange::NotSent;
        }
        let Ok(answer) = conn.receive().await else {
            return Exchange::Lost;
        };
        let result = read(Answer {
            status: answer.head.status,
            replayed: answer.head.replayed,
            retry_after_s: answer.head.retry_after_s,
            body: conn.body(&answer),
        });
        if conn.reusable(&answer) {
            conn.idle();
            self.inner.idle.locked().push(conn);
        }
        Exchange::Answer(result)
    }
}

/// The JSON body of a request.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Body {
    Create(wire::CreatePayment),
    Capture(wire::CapturePayment),
    Void(wire::VoidPayment),
    Refund(wire::CreateRefund),
}

/// Reads an answer as the domain's reply or error.
fn decode(
    status: u16,
    replayed: bool,
    retry_after_s: Option<u32>,
    body: &[u8],
) -> Result<ApiReply, ApiError> {
    if status == 200 {
        // UTF-8 checked once for the whole body rather than string by string.
        return std::str::from_utf8(body)
            .ok()
            .and_then(|text| serde_json::from_str::<wire::PaymentText>(text).ok())
            .and_then(|p| p.to_reply(replayed).ok())
            .ok_or(ApiError::Internal);
    }
    let retry_after_ms = retry_after_s.unwrap_or(1).saturating_mul(1000);
    let by_code = serde_json::from_slice::<wire::ErrorBody>(body)
        .ok()
        .and_then(|e| wire::api_error(&e.error.code, retry_after_ms));
    Err(by_code.unwrap_or(match status {
        404 => ApiError::NotFound,
        409 => ApiError::InFlight,
        429 => ApiError::RateLimited { retry_after_ms },
        503 => ApiError::Unavailable,
        504 => ApiError::UpstreamTimeout,
        500..=599 => ApiError::Internal,
        // 401, 403, 413, other 4xx: the request itself was refused.
        _ => ApiError::InvalidRequest,
    }))
}

impl PaymentApi for HttpApi {
    /// The `Idempotent-Replayed` header marks a replayed stored error as
    /// well as a replayed success.
    fn serve(&self, req: Request) -> impl Future<Output = Served> + Send {
        let this = self.clone();
        async move {
            let Some(out) = this.outgoing(&req) else {
                return Served::fresh(Err(ApiError::InvalidRequest));
            };
            let read = |a: Answer<'_>| Served {
                result: decode(a.status, a.replayed, a.retry_after_s, a.body),
                replayed: a.replayed,
            };
            match this.exchange(out, read).await {
                Exchange::Answer(served) => served,
                Exchange::NotSent => Served::fresh(Err(ApiError::Unavailable)),
                // The client's timeout turns this into an unknown outcome.
                Exchange::Lost => std::future::pending().await,
            }
        }
    }

    fn authenticate(
        &self,
        customer: CustomerId,
    ) -> impl Future<Output = Option<WalletPresentation>> + Send {
        let this = self.clone();
        async move {
            let out = Outgoing {
                method: "POST",
                path: Path::Fixed("/v1/wallet_sessions"),
                auth: &this.inner.device_line,
                key: None,
                body: Some(wire::CreateWalletSession {
                    customer: customer.to_string(),
                }),
            };
            let read = |a: Answer<'_>| {
                (a.status == 200)
                    .then(|| serde_json::from_slice::<wire::WalletSession>(a.body).ok())
                    .flatten()
                    .and_then(|s| s.presentation())
            };
            match this.exchange(out, read).await {
                Exchange::Answer(presentation) => presentation,
                _ => None,
            }
        }
    }
}

impl HttpApi {
    /// One merchant's API key, for callers that speak HTTP themselves.
    pub fn key(&self, merchant: MerchantId) -> Option<&str> {
        self.inner.keys.merchant(merchant)
    }

    /// Before a run: is the server there and ready, and does it take our
    /// keys? `Err` says what to fix, in one paragraph.
    pub async fn probe(&self) -> Result<(), String> {
        let base = &self.inner.base;
        let auth = self
            .inner
            .merchant_lines
            .first()
            .map(|l| &l[..])
            .unwrap_or_default();
        let attempt = |path: &'static str| {
            let out = Outgoing::<()> {
                method: "GET",
                path: Path::Fixed(path),
                auth,
                key: None,
                body: None,
            };
            self.exchange(out, |a| a.status)
        };
        match tokio::time::timeout(Duration::from_secs(10), attempt("/readyz")).await {
            Ok(Exchange::Answer(200)) => {}
            Ok(Exchange::Answer(status)) => {
                return Err(format!("{base}/readyz answered {status}: the server is not ready (still starting, or shutting down)"))
            }
            _ => {
                return Err(format!(
                    "cannot reach {base}: is `paystorm serve` running there (option --target)?"
                ))
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), attempt("/v1/payments/pay_0")).await {
            Ok(Exchange::Answer(401)) => Err(format!(
                "{base} refused merchant mer_0's API key: keys are derived from the seed, so start `paystorm load` with the workload and --seed the server was started with"
            )),
            Ok(Exchange::Answer(_)) => Ok(()),
            _ => Err(format!("{base} did not answer an authenticated GET within 10 s")),
        }
    }
}
