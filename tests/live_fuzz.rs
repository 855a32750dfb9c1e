//! Fuzz-style property test: seeded random bytes, random JSON and random
//! headers thrown at a served stack. Properties, for every request:
//! - the server never answers 5xx to a client's mistake (a 4xx, or closing
//!   a connection that is not HTTP, is fine);
//! - it never panics and keeps serving (`/healthz` answers at the end);
//! - nothing is charged: the stack records no audit record at all (no
//!   payment created, no ledger posting, no event).
//!
//! The inputs never contain a valid customer id, so no create can be valid
//! by accident; a failing seed is printed and reproduces the case.

mod live_support;

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64Mcg;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use paystorm::live::server::ServerConfig;

use live_support::{send, start};

const PATHS: &[&str] = &[
    "/v1/payments",
    "/v1/payments/pay_1",
    "/v1/payments/pay_1/capture",
    "/v1/payments/pay_0/void",
    "/v1/payments/pay_2/refunds",
    "/v1/webhook_endpoints",
    "/v1/wallet_sessions",
    "/healthz",
    "/metrics",
    "/v1/payments/%00",
    "/v1/../etc/passwd",
    "/",
];
const FIELDS: &[&str] = &[
    "customer",
    "amount",
    "currency",
    "method",
    "capture_method",
    "payment_method",
    "token",
    "device",
    "return_url",
    "amount_to_capture",
    "url",
];

fn random_string(rng: &mut Pcg64Mcg, max: usize) -> String {
    let n = rng.random_range(0..=max);
    (0..n)
        .map(|_| match rng.random_range(0..4) {
            0 => char::from(rng.random_range(0x20u8..0x7f)),
            1 => char::from_u32(rng.random_range(0x80..0x3000)).unwrap_or('?'),
            2 => ['"', '\\', '{', '}', '\0', '\n'][rng.random_range(0..6)],
            _ => char::from(rng.random_range(b'a'..=b'z')),
        })
        .collect()
}

fn random_json(rng: &mut Pcg64Mcg, depth: u32) -> serde_json::Value {
    use serde_json::Value;
    match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random()),
        2 => Value::from(match rng.random_range(0..4) {
            0 => rng.random::<i64>(),
            1 => -rng.random_range(0..1000),
            2 => rng.random_range(0..100_000),
            _ => i64::MAX,
        }),
        3 => Value::from(rng.random::<f64>() * 1e12),
        4 => Value::from(random_string(rng, 40)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.random_range(0..7) {
                let k = if rng.random_bool(0.7) {
                    FIELDS[rng.random_range(0..FIELDS.len())].to_string()
                } else {
                    random_string(rng, 12)
                };
                m.insert(k, random_json(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

/// Header values hyper will send: visible ASCII and spaces.
fn header_value(rng: &mut Pcg64Mcg, max: usize) -> String {
    (0..rng.random_range(1..=max))
        .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
        .collect::<String>()
        .trim()
        .to_string()
        + "x"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_never_panic_never_5xx_and_never_charge() {
    let s = start(
        |_, _| {},
        ServerConfig {
            header_read_timeout: Duration::from_millis(300),
            body_read_timeout: Duration::from_millis(300),
            body_bytes_max: 4096,
            ..ServerConfig::default()
        },
    )
    .await;
    let before = s.audits.count();
    let (merchant, device) = (s.key(0), s.device());
    for seed in 0..400u64 {
        let rng = &mut Pcg64Mcg::seed_from_u64(seed);
        let path = if rng.random_bool(0.8) {
            PATHS[rng.random_range(0..PATHS.len())].to_string()
        } else {
            let seg: String = header_value(rng, 20)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "-._~".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("/v1/payments/{seg}")
        };
        let method = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"][rng.random_range(0..6)];
        let auth = match rng.random_range(0..4) {
            0 => merchant.clone(),
            1 => device.clone(),
            2 => format!("Bearer {}", header_value(rng, 50)),
            _ => String::new(),
        };
        let body = match rng.random_range(0..4) {
            0 => random_json(rng, 0).to_string(),
            1 => random_string(rng, 300),
            2 => {
                // Valid JSON cut short.
                let text = random_json(rng, 0).to_string();
                let cut = rng.random_range(0..=text.len());
                text.get(..cut).unwrap_or("").to_string()
            }
            _ => String::new(),
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        if !auth.is_empty() {
            headers.push(("authorization".into(), auth));
        }
        if rng.random_bool(0.5) {
            let key = if rng.random_bool(0.2) {
                "k".repeat(rng.random_range(200..400))
            } else {
                header_value(rng, 40)
            };
            headers.push(("idempotency-key".into(), key));
        }
        for _ in 0..rng.random_range(0..4) {
            let name: String = (0..rng.random_range(1..12))
                .map(|_| char::from(rng.random_range(b'a'..=b'z')))
                .collect();
            headers.push((format!("x-{name}"), header_value(rng, 30)));
        }
        if rng.random_bool(0.3) {
            headers.push(("content-type".into(), header_value(rng, 20)));
        }
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let r = send(s.addr, method, &path, &h, body.clone()).await;
        assert!(
            r.status < 500,
            "seed {seed}: {method} {path} answered {}: {}\nbody sent: {body:?}",
            r.status,
            r.body
        );
        if method != "HEAD" && r.status >= 400 {
            let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_else(|e| {
                panic!("seed {seed}: error body is not JSON ({e}): {}", r.body)
            });
            assert!(
                v["error"]["type"].is_string()
                    && v["error"]["code"].is_string()
                    && v["error"]["message"].is_string(),
                "seed {seed}: {}",
                r.body
            );
        }
    }
    // Raw bytes: not HTTP at all, or HTTP with garbage in it.
    for seed in 0..200u64 {
        let rng = &mut Pcg64Mcg::seed_from_u64(1_000_000 + seed);
        let mut bytes: Vec<u8> = match rng.random_range(0..3) {
            0 => Vec::new(),
            1 => b"POST /v1/payments HTTP/1.1\r\n".to_vec(),
            _ => format!(
                "GET /v1/payments/pay_1 HTTP/1.1\r\nhost: x\r\nauthorization: {merchant}\r\n"
            )
            .into_bytes(),
        };
        let n = rng.random_range(0..600);
        bytes.extend((0..n).map(|_| rng.random::<u8>()));
        if rng.random_bool(0.5) {
            bytes.extend_from_slice(b"\r\n\r\n");
        }
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let _ = tcp.write_all(&bytes).await;
        let _ = tcp.shutdown().await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer)).await;
        let text = String::from_utf8_lossy(&answer);
        if let Some(code) = text.strip_prefix("HTTP/1.1 ").and_then(|t| t.get(..3)) {
            assert!(
                !code.starts_with('5'),
                "raw seed {seed}: answered {code}: {text}"
            );
        }
    }
    assert_eq!(
        send(s.addr, "GET", "/healthz", &[], "").await.status,
        200,
        "the server stopped serving"
    );
    assert_eq!(
        s.audits.count(),
        before,
        "random input changed the stack's books"
    );
    s.stop().await;
}
