//! One HTTP request, from bytes to the gateway and back.
//!
//! Order (each step can answer early, and none of the early answers touches
//! the stack): route (404/405) -> public probes -> bearer key (401) ->
//! `Idempotency-Key` header (400) -> body size and read timeout (413/408) ->
//! JSON (400 naming serde's problem with line and column) -> parameters
//! (400 naming the field) -> the payment's owner (404/403) -> the gateway,
//! whose own answers (Stripe's idempotency semantics, 429 with
//! `Retry-After`, ...) pass through unchanged.

// An early answer is the response itself, moved once per request; boxing it
// would add an allocation to every error to save a copy of 144 bytes.
#![allow(clippy::result_large_err)]

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH};
use hyper::{Method as HttpMethod, Request as HttpRequest, Response};

use crate::domain::api::Request;
use crate::domain::{
    CreateParams, CustomerId, IdemKey, MerchantId, Money, Operation, PaymentId, PaymentView,
};
use crate::live::auth::Principal;
use crate::live::wire::{self, ids};

use super::reply::{self, Body};
use super::routes::{match_route, NoRoute, RouteId};
use super::State;

/// Serves one request; never fails (every problem is a response).
pub async fn handle(
    state: Arc<State>,
    req: HttpRequest<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    Ok(route(&state, req).await.unwrap_or_else(|r| r))
}

/// `Err` carries an early answer, so `?` reads as "or answer this".
type Step<T> = Result<T, Response<Body>>;

async fn route(state: &State, req: HttpRequest<Incoming>) -> Step<Response<Body>> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if state.cfg.probes_only && !matches!(path.as_str(), "/healthz" | "/readyz" | "/metrics") {
        return Err(reply::error(
            404,
            "invalid_request_error",
            "route_not_found",
            format!("this listener serves only /healthz, /readyz and /metrics, not {path}"),
        ));
    }
    let (route, id) = match match_route(&parts.method, &path) {
        Ok(found) => found,
        Err(NoRoute::NotFound) => {
            return Err(reply::error(
                404,
                "invalid_request_error",
                "route_not_found",
                format!("no route {} {path}", parts.method),
            ))
        }
        Err(NoRoute::MethodNotAllowed(allow)) => {
            let mut r = reply::error(
                405,
                "invalid_request_error",
                "method_not_allowed",
                format!("{path} does not take {}; it takes {allow}", parts.method),
            );
            r.headers_mut()
                .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
            return Err(r);
        }
    };
    match route {
        RouteId::Healthz => return Ok(reply::text(200, "text/plain", "ok\n".into())),
        RouteId::Readyz => {
            return Ok(if state.ready.load(Ordering::Relaxed) {
                reply::text(200, "text/plain", "ready\n".into())
            } else {
                reply::text(503, "text/plain", "not ready\n".into())
            })
        }
        RouteId::Metrics => {
            return Ok(reply::text(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                (state.app.metrics)(),
            ))
        }
        _ => {}
    }
    let principal = authenticate(state, &parts.headers)?;
    match at_the_edge(state, &parts, body, route, id, principal).await {
        Ok(Edge::Gateway(m, key, op)) => call(state, m, key, op).await,
        Ok(Edge::Answered(response)) => Ok(response),
        // A refusal at the edge never reached the gateway's door, so it is
        // charged to the merchant's quota here: malformed bodies and probes
        // for payment ids are rate-limited like any other request.
        Err(answer) => Err(match principal {
            Principal::Merchant(m) => match state.app.backend.charge_edge_request(m) {
                Ok(()) => answer,
                Err(refusal) => reply::api_error(refusal),
            },
            Principal::Device => answer,
        }),
    }
}

/// What the edge made of an authenticated request.
enum Edge {
    /// An operation for the gateway, on behalf of a merchant.
    Gateway(MerchantId, Option<IdemKey>, Operation),
    /// Answered without the gateway (a wallet session, a webhook endpoint).
    Answered(Response<Body>),
}

/// Everything between authentication and the gateway: the idempotency key,
/// the body, the route's parameters and the payment it names.
async fn at_the_edge(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: Incoming,
    route: RouteId,
    id: Option<&str>,
    principal: Principal,
) -> Step<Edge> {
    let key = if parts.method == HttpMethod::POST {
        idempotency_key(&parts.headers)?
    } else {
        None
    };
    let bytes = read_body(state, &parts.headers, body).await?;
    match (route, principal) {
        (RouteId::CreateWalletSession, Principal::Device) => {
            wallet_session(state, &bytes).await.map(Edge::Answered)
        }
        (RouteId::CreateWalletSession, Principal::Merchant(_)) => Err(forbidden(
            "wallet sessions are the customer's phone: use the device simulator's key",
        )),
        (_, Principal::Device) => Err(forbidden(
            "the device simulator's key cannot call the merchant API",
        )),
        (RouteId::CreateWebhookEndpoint, Principal::Merchant(m)) => {
            webhook_endpoint(state, m, &bytes).map(Edge::Answered)
        }
        (RouteId::CreatePayment, Principal::Merchant(m)) => {
            let op = Operation::Create(create_params(state, m, &bytes)?);
            Ok(Edge::Gateway(m, key, op))
        }
        (_, Principal::Merchant(m)) => {
            let (payment, view) = owned_payment(state, m, id.unwrap_or(""))?;
            let op = match route {
                RouteId::GetPayment => Operation::Get { payment },
                RouteId::CapturePayment => {
                    let body: wire::CapturePayment = parse_or_default(&bytes)?;
                    Operation::Capture {
                        payment,
                        amount_minor: amount(
                            "amount_to_capture",
                            body.amount_to_capture,
                            view.amount.minor,
                        )?,
                    }
                }
                RouteId::VoidPayment => {
                    let _: wire::VoidPayment = parse_or_default(&bytes)?;
                    Operation::Void { payment }
                }
                RouteId::RefundPayment => {
                    let body: wire::CreateRefund = parse_or_default(&bytes)?;
                    let left = view.captured_minor - view.refunded_minor;
                    if body.amount.is_none() && left <= 0 {
                        return Err(reply::api_error(crate::domain::ApiError::InvalidState));
                    }
                    Operation::Refund {
                        payment,
                        amount_minor: amount("amount", body.amount, left)?,
                    }
                }
                _ => {
                    return Err(reply::error(
                        500,
                        "api_error",
                        "internal",
                        "unrouted request",
                    ))
                }
            };
            Ok(Edge::Gateway(m, key, op))
        }
    }
}

fn forbidden(message: &str) -> Response<Body> {
    reply::error(403, "permission_error", "forbidden", message)
}

fn authenticate(state: &State, headers: &hyper::HeaderMap) -> Step<Principal> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(reply::error(
            401,
            "authentication_error",
            "missing_api_key",
            "no API key: send `Authorization: Bearer <key>` (paystorm serve writes the keys to api_keys.json)",
        ));
    };
    state.app.keys.principal(value.as_bytes()).ok_or_else(|| {
        reply::error(
            401,
            "authentication_error",
            "invalid_api_key",
            "unknown API key (keys are derived from the run's seed: is the client's --seed the server's?)",
        )
    })
}

fn idempotency_key(headers: &hyper::HeaderMap) -> Step<Option<IdemKey>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        reply::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key: only visible ASCII characters are allowed",
        )
    })?;
    match ids::idempotency_key(text) {
        Ok(k) => Ok(Some(k)),
        Err(ids::KeyProblem::Empty) => Err(reply::invalid(
            "invalid_idempotency_key",
            "Idempotency-Key: empty; omit the header or send a key of 1 to 255 characters",
        )),
        Err(ids::KeyProblem::TooLong { chars }) => Err(reply::invalid(
            "idempotency_key_too_long",
            format!(
                "Idempotency-Key: {chars} characters; at most {} are allowed",
                ids::IDEMPOTENCY_KEY_CHARS_MAX
            ),
        )),
    }
}

async fn read_body(
    state: &State,
    headers: &hyper::HeaderMap,
    body: Incoming,
) -> Step<bytes::Bytes> {
    let max = state.cfg.body_bytes_max;
    let too_large = || {
        reply::error(
            413,
            "invalid_request_error",
            "body_too_large",
            format!("request body above {max} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(
        state.cfg.body_read_timeout,
        Limited::new(body, max).collect(),
    );
    match read.await {
        Err(_) => Err(reply::error(
            408,
            "invalid_request_error",
            "request_timeout",
            format!(
                "the request body did not arrive within {} ms",
                state.cfg.body_read_timeout.as_millis()
            ),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(reply::invalid(
            "body_unreadable",
            format!("the request body could not be read: {e}"),
        )),
    }
}

/// Parses a JSON body; the message is serde's, with its line and column.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Step<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(reply::invalid(
            "malformed_json",
            "the request body is empty; expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let code = if e.is_data() {
            "invalid_parameter"
        } else {
            "malformed_json"
        };
        reply::invalid(code, format!("request body: {e}"))
    })
}

/// For routes whose parameters are all optional: an empty body is `{}`.
fn parse_or_default<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Step<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(bytes)
    }
}

fn amount(field: &str, given: Option<i64>, default: i64) -> Step<i64> {
    let v = given.unwrap_or(default);
    if (1..=wire::AMOUNT_MINOR_MAX).contains(&v) {
        Ok(v)
    } else {
        Err(reply::invalid(
            "invalid_parameter",
            format!(
                "{field}: {v} is not an amount in minor units between 1 and {}",
                wire::AMOUNT_MINOR_MAX
            ),
        ))
    }
}

fn create_params(state: &State, merchant: MerchantId, bytes: &[u8]) -> Step<CreateParams> {
    let body: wire::CreatePayment = parse(bytes)?;
    let bad = |m: String| Err(reply::invalid("invalid_parameter", m));
    let customer = customer(state, &body.customer)?;
    let amount_minor = amount("amount", Some(body.amount), 0)?;
    let currency = crate::domain::Currency::parse(&body.currency.to_ascii_uppercase());
    if currency != Some(state.app.currency) {
        return bad(format!(
            "currency: `{}`; this server settles in {} only",
            body.currency,
            state.app.currency.as_str().to_ascii_lowercase()
        ));
    }
    let Some(method) = wire::method(&body.method) else {
        return bad(format!(
            "method: `{}`; expected one of card_online, card_nfc, qr_wallet, bank_instant, bank_batch",
            body.method
        ));
    };
    let capture = match body.capture_method.as_deref() {
        None => crate::domain::CaptureMode::Automatic,
        Some(name) => match wire::capture_mode(name) {
            Some(c) => c,
            None => {
                return bad(format!(
                    "capture_method: `{name}`; expected automatic or manual"
                ))
            }
        },
    };
    let token = match (&body.payment_method, method.is_card()) {
        (Some(p), true) => match (ids::token(&p.token), ids::device(&p.device)) {
            (Some(t), Some(d)) => Some((t, d)),
            _ => return bad("payment_method: token must be `tok_<n>` and device `dev_<n>`".into()),
        },
        (None, true) => {
            return bad(format!(
                "payment_method: required for {}; the customer's wallet hands it out (POST /v1/wallet_sessions)",
                method.as_str()
            ))
        }
        (_, false) => None,
    };
    if let Some(url) = &body.return_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
            return bad("return_url: an http:// or https:// URL of at most 2048 bytes".into());
        }
    }
    Ok(CreateParams {
        merchant,
        customer,
        amount: Money::new(amount_minor, state.app.currency),
        method,
        capture,
        token,
        callback: body.return_url.is_some(),
    })
}

fn customer(state: &State, text: &str) -> Step<CustomerId> {
    match ids::customer_id(text) {
        Some(c) if c.0 < state.app.customers => Ok(c),
        _ => Err(reply::invalid(
            "invalid_parameter",
            format!(
                "customer: `{}` is not a customer of this run (cus_0 to cus_{})",
                text.chars().take(64).collect::<String>(),
                state.app.customers.saturating_sub(1)
            ),
        )),
    }
}

/// The payment named in the path, if it exists and belongs to `merchant`.
fn owned_payment(
    state: &State,
    merchant: MerchantId,
    text: &str,
) -> Step<(PaymentId, PaymentView)> {
    let not_found = || reply::api_error(crate::domain::ApiError::NotFound);
    let payment = ids::payment_id(text).ok_or_else(not_found)?;
    match state.app.backend.peek(payment) {
        None => Err(not_found()),
        Some((owner, _)) if owner != merchant => {
            Err(forbidden("this payment belongs to another merchant"))
        }
        Some((_, view)) => Ok((payment, view)),
    }
}

async fn call(
    state: &State,
    merchant: MerchantId,
    key: Option<IdemKey>,
    op: Operation,
) -> Step<Response<Body>> {
    let served = state.app.backend.call(Request { merchant, key, op }).await;
    let mut resp = match served.result {
        Ok(r) => reply::json(200, &wire::Payment::from_reply(&r)),
        Err(e) => reply::api_error(e),
    };
    // Stripe marks a replayed stored error (a 400 or a 500) as it marks a
    // replayed success: a client must not take it for a fresh failure.
    if served.replayed {
        resp.headers_mut()
            .insert(reply::IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    if served.result.is_ok() {
        Ok(resp)
    } else {
        Err(resp)
    }
}

async fn wallet_session(state: &State, bytes: &[u8]) -> Step<Response<Body>> {
    let body: wire::CreateWalletSession = parse(bytes)?;
    let c = customer(state, &body.customer)?;
    match state.app.backend.authenticate(c).await {
        Some(p) => Ok(reply::json(200, &wire::WalletSession::new(c, p))),
        None => Err(reply::error(
            402,
            "card_error",
            "wallet_authentication_failed",
            "the customer did not authenticate on the device; they may try again",
        )),
    }
}

fn webhook_endpoint(state: &State, merchant: MerchantId, bytes: &[u8]) -> Step<Response<Body>> {
    let body: wire::CreateWebhookEndpoint = parse(bytes)?;
    match state.app.webhooks.register(merchant, &body.url) {
        Ok(r) => Ok(reply::json(
            200,
            &wire::WebhookEndpoint {
                id: r.id,
                object: "webhook_endpoint".into(),
                url: r.url,
                secret: r.secret,
            },
        )),
        Err(e) => Err(reply::invalid("invalid_parameter", e.to_string())),
    }
}
