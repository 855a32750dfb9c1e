//! Webhook delivery over HTTP, for live mode: a merchant that registered
//! endpoints (`POST /v1/webhook_endpoints`) gets each event POSTed to every
//! one of them, signed as Stripe signs (`Paystorm-Signature: t=<unix
//! seconds>,v1=<hex HMAC-SHA256 of "t.body">`, keyed with the endpoint's
//! `whsec_...` secret). A 2xx is an acknowledgement; anything else, a
//! connection error or no answer within the timeout is a failed attempt,
//! retried by the dispatcher like an in-process failure. Merchants without
//! a registered endpoint keep the in-process one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::domain::MerchantId;

use super::endpoint::DeliveryFailed;
use super::signature::{header, sign};

/// Name of the signature header.
pub const SIGNATURE_HEADER: &str = "paystorm-signature";

/// The most of an endpoint's answer read (and thrown away) so the
/// connection can be reused.
const ANSWER_BYTES_MAX: usize = 64 * 1024;

/// One HTTP endpoint of a merchant.
#[derive(Clone)]
pub struct HttpRoute {
    pub url: hyper::Uri,
    /// The signing key: the bytes of the endpoint's `whsec_...` secret.
    pub secret: Arc<[u8]>,
}

impl std::fmt::Debug for HttpRoute {
    // The secret is a credential: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpRoute({})", self.url)
    }
}

/// Where each merchant's events go over HTTP (live mode's registry of
/// webhook endpoints answers this).
pub trait Routes: Send + Sync + 'static {
    /// The merchant's endpoints, in registration order; empty: deliver in
    /// process.
    fn routes(&self, merchant: MerchantId) -> Vec<HttpRoute>;
}

/// POSTs signed events; one pooled client for every endpoint.
pub struct HttpSender {
    client: Client<HttpConnector, Full<Bytes>>,
    routes: Arc<dyn Routes>,
    timeout: Duration,
}

impl HttpSender {
    /// `timeout`: how long an attempt waits for the answer.
    pub fn new(routes: Arc<dyn Routes>, timeout: Duration) -> HttpSender {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(timeout));
        HttpSender {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
            routes,
            timeout,
        }
    }

    pub fn routes(&self, merchant: MerchantId) -> Vec<HttpRoute> {
        self.routes.routes(merchant)
    }

    /// One attempt: `body` signed at `t_s` with the route's secret.
    pub async fn post(
        &self,
        route: &HttpRoute,
        t_s: u64,
        body: Arc<[u8]>,
    ) -> Result<(), DeliveryFailed> {
        let signature = header(t_s, &sign(&route.secret, t_s, &body));
        let request = hyper::Request::post(route.url.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::USER_AGENT, "paystorm-webhooks/1")
            .header(SIGNATURE_HEADER, signature)
            .body(Full::new(Bytes::copy_from_slice(&body)))
            .map_err(|_| DeliveryFailed)?;
        let attempt = async {
            let answer = self
                .client
                .request(request)
                .await
                .map_err(|_| DeliveryFailed)?;
            let ok = answer.status().is_success();
            // Read the answer so the connection goes back to the pool.
            let _ = Limited::new(answer.into_body(), ANSWER_BYTES_MAX)
                .collect()
                .await;
            if ok {
                Ok(())
            } else {
                Err(DeliveryFailed)
            }
        };
        tokio::time::timeout(self.timeout, attempt)
            .await
            .unwrap_or(Err(DeliveryFailed))
    }
}
