//! Building responses: JSON bodies, Stripe's error shape, and the headers
//! clients rely on (`Idempotent-Replayed`, `Retry-After`, `Allow`).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::domain::ApiError;
use crate::live::wire::{self, ErrorBody, ErrorDetail};

pub type Body = Full<Bytes>;

pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

pub fn json<T: serde::Serialize>(status: u16, body: &T) -> Response<Body> {
    // Serializing our own plain structs cannot fail; an empty object if it did.
    let text = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

pub fn text(status: u16, content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// An error of the HTTP edge (not the gateway's): `kind` is Stripe's class.
pub fn error(status: u16, kind: &str, code: &str, message: impl Into<String>) -> Response<Body> {
    json(
        status,
        &ErrorBody {
            error: ErrorDetail {
                kind: kind.to_string(),
                code: code.to_string(),
                message: message.into(),
            },
        },
    )
}

/// 400 `invalid_request_error` naming the parameter at fault.
pub fn invalid(code: &str, message: impl Into<String>) -> Response<Body> {
    error(400, "invalid_request_error", code, message)
}

/// The gateway's answer as an error response; a 429 carries `Retry-After`
/// in whole seconds, rounded up (HTTP has no finer unit).
pub fn api_error(e: ApiError) -> Response<Body> {
    let mut r = error(
        e.http_status(),
        wire::error_type(e),
        e.as_str(),
        wire::error_message(e),
    );
    if let Some(wait) = e.retry_after() {
        let secs = wait.as_millis().div_ceil(1000).max(1);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            r.headers_mut().insert(hyper::header::RETRY_AFTER, v);
        }
    }
    r
}
