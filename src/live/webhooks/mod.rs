//! Webhook endpoint registrations made over HTTP (`POST /v1/webhook_endpoints`).
//!
//! Only the registry: each merchant registers URLs and gets a signing secret
//! (`whsec_…`), as with Stripe. It implements the stack's
//! `webhooks::http::Routes`, so `Stack::deliver_webhooks_over_http` can read
//! it; `serve` and `run --live` do not hand it over yet, so the stack's
//! in-process merchant endpoint still receives the events and registering
//! changes nothing a run checks.
//!
//! Bounded: at most [`ENDPOINTS_PER_MERCHANT_MAX`] per merchant (Stripe's
//! limit is 16), so a client cannot grow it without end.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::domain::MerchantId;
use crate::lock::Locked;

pub const ENDPOINTS_PER_MERCHANT_MAX: usize = 16;
/// Longest URL accepted, in bytes.
pub const URL_BYTES_MAX: usize = 2048;

/// One registered endpoint.
#[derive(Clone, PartialEq, Eq)]
pub struct Registration {
    /// `we_<n>`, unique in the registry.
    pub id: String,
    pub merchant: MerchantId,
    pub url: String,
    /// The HMAC-SHA256 key deliveries are signed with (`whsec_` + hex).
    pub secret: String,
}

impl std::fmt::Debug for Registration {
    // The secret is a credential: never in a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Registration({} {} {})",
            self.id, self.merchant, self.url
        )
    }
}

/// Why a registration was refused (400 with this message).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("url: must start with http:// or https:// and name a host")]
    BadUrl,
    #[error("url: longer than {URL_BYTES_MAX} bytes")]
    UrlTooLong,
    #[error("this merchant already has {ENDPOINTS_PER_MERCHANT_MAX} webhook endpoints, the limit")]
    TooMany,
}

/// Every merchant's endpoints, in registration order.
pub struct Registry {
    /// Mixed into every secret so two servers never hand out the same one.
    seed: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    by_merchant: BTreeMap<MerchantId, Vec<Registration>>,
}

impl Registry {
    pub fn new(seed: u64) -> Registry {
        Registry {
            seed,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Registers `url` for `merchant` and returns the registration with its
    /// new secret.
    pub fn register(&self, merchant: MerchantId, url: &str) -> Result<Registration, RegisterError> {
        if url.len() > URL_BYTES_MAX {
            return Err(RegisterError::UrlTooLong);
        }
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
            .ok_or(RegisterError::BadUrl)?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(RegisterError::BadUrl);
        }
        let mut inner = self.inner.locked();
        let n = inner.next;
        let list = inner.by_merchant.entry(merchant).or_default();
        if list.len() >= ENDPOINTS_PER_MERCHANT_MAX {
            return Err(RegisterError::TooMany);
        }
        let mut h = Sha256::new();
        h.update(b"paystorm-whsec:");
        h.update(self.seed.to_le_bytes());
        h.update(n.to_le_bytes());
        h.update(url.as_bytes());
        let reg = Registration {
            id: format!("we_{n}"),
            merchant,
            url: url.to_string(),
            secret: format!("whsec_{}", hex::encode(&h.finalize()[..24])),
        };
        list.push(reg.clone());
        inner.next += 1;
        Ok(reg)
    }

    /// A merchant's endpoints, in registration order.
    pub fn endpoints(&self, merchant: MerchantId) -> Vec<Registration> {
        self.inner
            .locked()
            .by_merchant
            .get(&merchant)
            .cloned()
            .unwrap_or_default()
    }

    /// Every registration, by merchant then registration order.
    pub fn all(&self) -> Vec<Registration> {
        self.inner
            .locked()
            .by_merchant
            .values()
            .flatten()
            .cloned()
            .collect()
    }
}

/// The registry as the stack's HTTP webhook sender reads it
/// (`Stack::deliver_webhooks_over_http`): each merchant's registered URLs
/// with the bytes of their `whsec_` secrets as signing keys. A URL that does
/// not parse as a URI is skipped (registration already checked its shape).
impl crate::stack::webhooks::http::Routes for Registry {
    fn routes(&self, merchant: MerchantId) -> Vec<crate::stack::webhooks::http::HttpRoute> {
        self.endpoints(merchant)
            .into_iter()
            .filter_map(|r| {
                Some(crate::stack::webhooks::http::HttpRoute {
                    url: r.url.parse().ok()?,
                    secret: std::sync::Arc::from(r.secret.as_bytes()),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_bounded_per_merchant_with_distinct_secrets() {
        let r = Registry::new(1);
        let a = r
            .register(MerchantId(0), "http://127.0.0.1:9000/hook")
            .unwrap();
        let b = r
            .register(MerchantId(1), "https://shop.example/hook")
            .unwrap();
        assert!(a.secret.starts_with("whsec_"));
        assert_ne!(a.secret, b.secret);
        assert!(!format!("{a:?}").contains(&a.secret));
        assert_eq!(r.endpoints(MerchantId(0)), vec![a]);
        for bad in ["ftp://x", "http://", "http:// x", "nope"] {
            assert_eq!(
                r.register(MerchantId(0), bad),
                Err(RegisterError::BadUrl),
                "{bad}"
            );
        }
        for _ in 1..ENDPOINTS_PER_MERCHANT_MAX {
            r.register(MerchantId(0), "http://a/").unwrap();
        }
        assert_eq!(
            r.register(MerchantId(0), "http://a/"),
            Err(RegisterError::TooMany)
        );
        assert_eq!(r.all().len(), ENDPOINTS_PER_MERCHANT_MAX + 1);
    }

    #[test]
    fn the_stacks_http_sender_sees_each_merchants_urls_and_secrets() {
        use crate::stack::webhooks::http::Routes;
        let r = Registry::new(2);
        let a = r.register(MerchantId(3), "http://127.0.0.1:9/a").unwrap();
        let routes = r.routes(MerchantId(3));
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].url.to_string(), "http://127.0.0.1:9/a");
        assert_eq!(&*routes[0].secret, a.secret.as_bytes());
        assert!(r.routes(MerchantId(4)).is_empty());
    }
}
