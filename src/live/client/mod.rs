//! The HTTP transport: [`PaymentApi`] over HTTP/1.1, so the load generator
//! drives a served stack unchanged.
//!
//! One pooled client (hyper-util's legacy client, keep-alive connections to
//! the one host) for every simulated customer; at most `in_flight_max`
//! requests are on the wire at once, the rest wait for a slot (the
//! generator's own `clients.connections_max` usually bounds them first).
//!
//! What a failure means, as a careful client must read it: a connection
//! that could not be opened sent nothing (503, retryable, no effect); a
//! request that broke after it was sent may have taken effect, so the call
//! never answers and the client's own timeout records the outcome as
//! unknown — exactly how the in-process transport models a lost response.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use crate::domain::api::{PaymentApi, Request, WalletPresentation};
use crate::domain::{ApiError, ApiReply, CustomerId, MerchantId, Operation};
use crate::live::auth::ApiKeys;
use crate::live::wire;

/// Where and how to reach a server.
#[derive(Clone, Debug)]
pub struct Target {
    /// `http://host:port`, without a trailing slash.
    pub base: String,
    pub in_flight_max: usize,
    /// Connections kept open for reuse.
    pub idle_connections_max: usize,
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
            idle_connections_max: in_flight_max.max(1),
        })
    }
}

#[derive(Clone)]
pub struct HttpApi {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
    keys: ApiKeys,
    slots: Semaphore,
}

/// How one exchange ended, before it is read as a domain answer.
enum Exchange {
    Answer {
        status: u16,
        replayed: bool,
        retry_after_s: Option<u32>,
        body: Bytes,
    },
    /// Nothing reached the server.
    NotSent,
    /// Sent, then broken: the effect may or may not have happened.
    Lost,
}

impl HttpApi {
    pub fn new(target: &Target, keys: ApiKeys) -> HttpApi {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(target.idle_connections_max)
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        HttpApi {
            inner: Arc::new(Inner {
                client,
                base: target.base.clone(),
                keys,
                slots: Semaphore::new(target.in_flight_max),
            }),
        }
    }

    /// The HTTP method, path and JSON body of a domain request.
    fn encode(op: &Operation) -> (hyper::Method, String, Option<Vec<u8>>) {
        use hyper::Method as M;
        match op {
            Operation::Create(p) => {
                let body = wire::CreatePayment {
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
                };
                (
                    M::POST,
                    "/v1/payments".into(),
                    serde_json::to_vec(&body).ok(),
                )
            }
            Operation::Capture {
                payment,
                amount_minor,
            } => (
                M::POST,
                format!("/v1/payments/{payment}/capture"),
                serde_json::to_vec(&wire::CapturePayment {
                    amount_to_capture: Some(*amount_minor),
                })
                .ok(),
            ),
            Operation::Void { payment } => (
                M::POST,
                format!("/v1/payments/{payment}/void"),
                serde_json::to_vec(&wire::VoidPayment {}).ok(),
            ),
            Operation::Refund {
                payment,
                amount_minor,
            } => (
                M::POST,
                format!("/v1/payments/{payment}/refunds"),
                serde_json::to_vec(&wire::CreateRefund {
                    amount: Some(*amount_minor),
                })
                .ok(),
            ),
            Operation::Get { payment } => (M::GET, format!("/v1/payments/{payment}"), None),
        }
    }

    async fn exchange(
        &self,
        method: hyper::Method,
        path: &str,
        bearer: &str,
        key: Option<String>,
        body: Option<Vec<u8>>,
    ) -> Exchange {
        // The semaphore is never closed.
        let Ok(_slot) = self.inner.slots.acquire().await else {
            return Exchange::NotSent;
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.inner.base));
        if let Ok(v) = HeaderValue::from_str(&format!("Bearer {bearer}")) {
            req = req.header(AUTHORIZATION, v);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let Ok(req) = req.body(Full::new(Bytes::from(body.unwrap_or_default()))) else {
            return Exchange::NotSent;
        };
        let resp = match self.inner.client.request(req).await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Exchange::NotSent,
            Err(_) => return Exchange::Lost,
        };
        let status = resp.status().as_u16();
        let replayed = resp
            .headers()
            .get(crate::live::server::reply::IDEMPOTENT_REPLAYED)
            .is_some_and(|v| v.as_bytes() == b"true");
        let retry_after_s = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        match resp.into_body().collect().await {
            Ok(b) => Exchange::Answer {
                status,
                replayed,
                retry_after_s,
                body: b.to_bytes(),
            },
            Err(_) => Exchange::Lost,
        }
    }
}

/// Reads an answer as the domain's reply or error.
fn decode(
    status: u16,
    replayed: bool,
    retry_after_s: Option<u32>,
    body: &[u8],
) -> Result<ApiReply, ApiError> {
    if status == 200 {
        return serde_json::from_slice::<wire::Payment>(body)
            .ok()
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
    fn call(&self, req: Request) -> impl Future<Output = Result<ApiReply, ApiError>> + Send {
        let this = self.clone();
        async move {
            let Some(bearer) = this.inner.keys.merchant(req.merchant).map(str::to_string) else {
                return Err(ApiError::InvalidRequest);
            };
            let (method, path, body) = HttpApi::encode(&req.op);
            let key = req.key.map(|k| k.to_string());
            match this.exchange(method, &path, &bearer, key, body).await {
                Exchange::Answer {
                    status,
                    replayed,
                    retry_after_s,
                    body,
                } => decode(status, replayed, retry_after_s, &body),
                Exchange::NotSent => Err(ApiError::Unavailable),
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
            let bearer = this.inner.keys.device().to_string();
            let body = serde_json::to_vec(&wire::CreateWalletSession {
                customer: customer.to_string(),
            })
            .ok();
            match this
                .exchange(
                    hyper::Method::POST,
                    "/v1/wallet_sessions",
                    &bearer,
                    None,
                    body,
                )
                .await
            {
                Exchange::Answer {
                    status: 200, body, ..
                } => serde_json::from_slice::<wire::WalletSession>(&body)
                    .ok()
                    .and_then(|s| s.presentation()),
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
        let bearer = self.key(MerchantId(0)).unwrap_or_default().to_string();
        let attempt =
            |path: &'static str| self.exchange(hyper::Method::GET, path, &bearer, None, None);
        match tokio::time::timeout(Duration::from_secs(10), attempt("/readyz")).await {
            Ok(Exchange::Answer { status: 200, .. }) => {}
            Ok(Exchange::Answer { status, .. }) => {
                return Err(format!("{base}/readyz answered {status}: the server is not ready (still starting, or shutting down)"))
            }
            _ => {
                return Err(format!(
                    "cannot reach {base}: is `paystorm serve` running there (option --target)?"
                ))
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), attempt("/v1/payments/pay_0")).await {
            Ok(Exchange::Answer { status: 401, .. }) => Err(format!(
                "{base} refused merchant mer_0's API key: keys are derived from the seed, so start `paystorm load` with the workload and --seed the server was started with"
            )),
            Ok(Exchange::Answer { .. }) => Ok(()),
            _ => Err(format!("{base} did not answer an authenticated GET within 10 s")),
        }
    }
}
