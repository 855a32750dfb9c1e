//! The merchant-facing API as a set of operations and replies, independent of
//! transport (in-process call in sim mode, HTTP in live mode).

use super::card::{DeviceId, Token};
use super::ids::{IdemKey, MerchantId, PaymentId, RefundId};
use super::payment::{CreateParams, PaymentView};

/// One request to the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create(CreateParams),
    /// Capture `amount_minor` of an authorized payment (at most the hold).
    Capture {
        payment: PaymentId,
        amount_minor: i64,
    },
    Void {
        payment: PaymentId,
    },
    Refund {
        payment: PaymentId,
        amount_minor: i64,
    },
    Get {
        payment: PaymentId,
    },
}

impl Operation {
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Create(_) => "create",
            Operation::Capture { .. } => "capture",
            Operation::Void { .. } => "void",
            Operation::Refund { .. } => "refund",
            Operation::Get { .. } => "get",
        }
    }

    /// Whether the operation changes state (and so takes an idempotency key).
    pub fn is_mutating(&self) -> bool {
        !matches!(self, Operation::Get { .. })
    }

    /// The fingerprint the idempotency layer compares for a key.
    pub fn fingerprint(&self) -> u64 {
        use super::fingerprint::hash_words;
        match self {
            Operation::Create(p) => p.fingerprint(),
            Operation::Capture {
                payment,
                amount_minor,
            } => hash_words(&[1, payment.0, *amount_minor as u64]),
            Operation::Void { payment } => hash_words(&[2, payment.0]),
            Operation::Refund {
                payment,
                amount_minor,
            } => hash_words(&[3, payment.0, *amount_minor as u64]),
            Operation::Get { payment } => hash_words(&[4, payment.0]),
        }
    }
}

/// A request as it reaches the gateway.
#[derive(Clone, Copy, Debug)]
pub struct Request {
    pub merchant: MerchantId,
    pub key: Option<IdemKey>,
    pub op: Operation,
}

/// A successful reply. `replayed` is Stripe's `Idempotent-Replayed: true`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiReply {
    pub payment: PaymentView,
    /// Set on refund replies.
    pub refund: Option<RefundId>,
    pub replayed: bool,
}

/// What the gateway served for one request: its reply or its error, and
/// whether that came from the idempotency store instead of executing.
/// Stripe marks a replayed error (a stored 400 or 500) with
/// `Idempotent-Replayed: true` just as it marks a replayed success, so the
/// mark sits beside the result rather than inside [`ApiReply`] alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    pub result: Result<ApiReply, ApiError>,
    pub replayed: bool,
}

impl Served {
    /// An answer that executed (or was refused) now.
    pub fn fresh(result: Result<ApiReply, ApiError>) -> Served {
        Served {
            replayed: matches!(result, Ok(ApiReply { replayed: true, .. })),
            result,
        }
    }

    /// A stored answer replayed: marked on the reply and beside the error.
    pub fn replay(stored: Result<ApiReply, ApiError>) -> Served {
        Served {
            result: stored.map(|reply| ApiReply {
                replayed: true,
                ..reply
            }),
            replayed: true,
        }
    }
}

/// Error replies, with the HTTP status each maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiError {
    /// 400 `idempotency_error`: the key was used with other parameters.
    IdempotencyMismatch,
    /// 409: a request with this key is still executing; safe to retry.
    InFlight,
    /// 409: a keyless duplicate caught by the dedup window (policy `reject`).
    DuplicateRequest,
    /// 404.
    NotFound,
    /// 400: the payment is not in a state that allows the operation.
    InvalidState,
    /// 400: refund or capture above what remains.
    AmountTooLarge,
    /// 400: the request itself is malformed (amount <= 0, missing token).
    InvalidRequest,
    /// 500: stored against the key once execution started.
    Internal,
    /// 503: shed or dependency down; not stored, safe to retry.
    Unavailable,
    /// 429: rate limited; decided before the idempotency layer, not stored.
    /// `retry_after_ms`: when the quota has room again (the `Retry-After`
    /// header over HTTP, rounded up to whole seconds there).
    RateLimited { retry_after_ms: u32 },
    /// 504: a downstream (network, issuer, rail) did not answer in time, so
    /// the outcome is not known yet. The gateway keeps asking; a retry with
    /// the same key gets 409 until it knows, then the stored answer.
    UpstreamTimeout,
}

impl ApiError {
    /// Every error, once (`RateLimited` with no wait): for tables keyed by
    /// error code.
    pub const ALL: [ApiError; 11] = [
        ApiError::IdempotencyMismatch,
        ApiError::InFlight,
        ApiError::DuplicateRequest,
        ApiError::NotFound,
        ApiError::InvalidState,
        ApiError::AmountTooLarge,
        ApiError::InvalidRequest,
        ApiError::Internal,
        ApiError::Unavailable,
        ApiError::RateLimited { retry_after_ms: 0 },
        ApiError::UpstreamTimeout,
    ];

    pub fn http_status(self) -> u16 {
        match self {
            ApiError::IdempotencyMismatch
            | ApiError::InvalidState
            | ApiError::AmountTooLarge
            | ApiError::InvalidRequest => 400,
            ApiError::NotFound => 404,
            ApiError::InFlight | ApiError::DuplicateRequest => 409,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal => 500,
            ApiError::Unavailable => 503,
            ApiError::UpstreamTimeout => 504,
        }
    }

    /// How long the server asked the client to wait before retrying.
    pub fn retry_after(self) -> Option<std::time::Duration> {
        match self {
            ApiError::RateLimited { retry_after_ms } => {
                Some(std::time::Duration::from_millis(u64::from(retry_after_ms)))
            }
            _ => None,
        }
    }

    /// Whether retrying the same request (same key) may succeed later.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ApiError::InFlight
                | ApiError::Unavailable
                | ApiError::RateLimited { .. }
                | ApiError::UpstreamTimeout
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiError::IdempotencyMismatch => "idempotency_error",
            ApiError::InFlight => "idempotency_in_flight",
            ApiError::DuplicateRequest => "duplicate_request",
            ApiError::NotFound => "not_found",
            ApiError::InvalidState => "invalid_state",
            ApiError::AmountTooLarge => "amount_too_large",
            ApiError::InvalidRequest => "invalid_request",
            ApiError::Internal => "internal",
            ApiError::Unavailable => "unavailable",
            ApiError::UpstreamTimeout => "upstream_timeout",
            ApiError::RateLimited { .. } => "rate_limited",
        }
    }
}

/// What a wallet hands the merchant after the customer authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalletPresentation {
    pub token: Token,
    pub device: DeviceId,
}

/// How a client reaches the stack, whatever the transport: an in-process call
/// in sim mode, HTTP in live mode. The load generator sees only this.
pub trait PaymentApi: Send + Sync + 'static {
    /// Sends one request and waits for what was served: the reply or
    /// error, and whether it was a replay (an error included). Dropping the
    /// future (a client timeout) must not cancel the server's work, as with
    /// a real network.
    fn serve(&self, req: Request) -> impl std::future::Future<Output = Served> + Send;

    /// [`PaymentApi::serve`] for callers that need only the result.
    fn call(
        &self,
        req: Request,
    ) -> impl std::future::Future<Output = Result<ApiReply, ApiError>> + Send {
        // `serve` is called inside the block: a future made outside and
        // awaited inside would be stored twice (once captured, once awaited).
        async move { self.serve(req).await.result }
    }

    /// One authentication attempt in the customer's wallet; `None` if it
    /// failed (the customer may try again).
    fn authenticate(
        &self,
        customer: super::ids::CustomerId,
    ) -> impl std::future::Future<Output = Option<WalletPresentation>> + Send;
}
