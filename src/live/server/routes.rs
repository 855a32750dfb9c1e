//! The route table: every method and path the server answers, as data, so
//! `tests/openapi.rs` can hold it against `openapi/paystorm.yaml` in both
//! directions.

use hyper::Method;

/// What a request asks for, once its path is matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteId {
    CreatePayment,
    GetPayment,
    CapturePayment,
    VoidPayment,
    RefundPayment,
    CreateWebhookEndpoint,
    CreateWalletSession,
    Healthz,
    Readyz,
    Metrics,
}

/// One row of the table; `{id}` in a path is a payment id.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub id: RouteId,
}

pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/v1/payments",
        id: RouteId::CreatePayment,
    },
    Route {
        method: "GET",
        path: "/v1/payments/{id}",
        id: RouteId::GetPayment,
    },
    Route {
        method: "POST",
        path: "/v1/payments/{id}/capture",
        id: RouteId::CapturePayment,
    },
    Route {
        method: "POST",
        path: "/v1/payments/{id}/void",
        id: RouteId::VoidPayment,
    },
    Route {
        method: "POST",
        path: "/v1/payments/{id}/refunds",
        id: RouteId::RefundPayment,
    },
    Route {
        method: "POST",
        path: "/v1/webhook_endpoints",
        id: RouteId::CreateWebhookEndpoint,
    },
    Route {
        method: "POST",
        path: "/v1/wallet_sessions",
        id: RouteId::CreateWalletSession,
    },
    Route {
        method: "GET",
        path: "/healthz",
        id: RouteId::Healthz,
    },
    Route {
        method: "GET",
        path: "/readyz",
        id: RouteId::Readyz,
    },
    Route {
        method: "GET",
        path: "/metrics",
        id: RouteId::Metrics,
    },
];

/// Why no route matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoRoute {
    /// 404: no route has this path.
    NotFound,
    /// 405: the path exists, with other methods (the `Allow` header).
    MethodNotAllowed(&'static str),
}

/// Matches a request; the second value is the `{id}` segment, if any.
/// `HEAD` is served as `GET` (hyper drops the body).
pub fn match_route<'p>(
    method: &Method,
    path: &'p str,
) -> Result<(RouteId, Option<&'p str>), NoRoute> {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let mut allowed: Option<&'static str> = None;
    for route in ROUTES {
        let Some(id) = matches(route.path, path) else {
            continue;
        };
        if route.method == method {
            return Ok((route.id, id));
        }
        allowed = Some(route.method);
    }
    Err(allowed.map_or(NoRoute::NotFound, NoRoute::MethodNotAllowed))
}

/// `Some(segment)` when `path` fits `template`: `Some(None)` without an
/// `{id}`, `Some(Some(id))` with one.
fn matches<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut id = None;
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(id),
            (Some("{id}"), Some(seg)) if !seg.is_empty() => id = Some(seg),
            (Some(a), Some(b)) if a == b => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_paths_ids_and_methods() {
        assert_eq!(
            match_route(&Method::POST, "/v1/payments/pay_3/capture"),
            Ok((RouteId::CapturePayment, Some("pay_3")))
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/payments/pay_3"),
            Ok((RouteId::GetPayment, Some("pay_3")))
        );
        assert_eq!(
            match_route(&Method::DELETE, "/v1/payments/pay_3"),
            Err(NoRoute::MethodNotAllowed("GET"))
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/payments//capture"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            match_route(&Method::GET, "/v1/payments/a/b/c"),
            Err(NoRoute::NotFound)
        );
        assert_eq!(
            match_route(&Method::HEAD, "/healthz"),
            Ok((RouteId::Healthz, None))
        );
    }
}
