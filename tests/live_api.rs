//! The HTTP API's contract, one test per error path and per header a client
//! relies on: authentication (401/403), 404/405, Stripe's idempotency
//! semantics (replay header, 400 `idempotency_error`, 409 in flight, 400 for
//! keys over 255 characters), 413, malformed JSON named with line and
//! column, 429 with `Retry-After`, timeouts for slow and idle connections,
//! the device simulator and the webhook endpoint registry.

mod live_support;

use std::time::Duration;

use paystorm::live::server::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use live_support::{qr_body, send, start, TestServer};

const JSON: (&str, &str) = ("content-type", "application/json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_or_an_unknown_key_is_401_and_changes_nothing() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let before = s.audits.count();
    let r = send(s.addr, "POST", "/v1/payments", &[JSON], qr_body(1, 500)).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.error(),
        ("authentication_error".into(), "missing_api_key".into())
    );
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", "Bearer sk_test_nope")],
        qr_body(1, 500),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error().1, "invalid_api_key");
    // Keys from another seed are someone else's.
    let other = paystorm::live::auth::ApiKeys::derive(live_support::SEED + 1, 3);
    let bearer = format!(
        "Bearer {}",
        other.merchant(paystorm::domain::MerchantId(0)).unwrap()
    );
    let r = send(
        s.addr,
        "GET",
        "/v1/payments/pay_1",
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        s.audits.count(),
        before,
        "a refused request recorded something"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_merchants_payment_is_403_and_a_missing_one_404() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let (k0, k1) = (s.key(0), s.key(1));
    let created = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k0)],
        qr_body(2, 700),
    )
    .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("pay_"), "{id}");
    let own = send(
        s.addr,
        "GET",
        &format!("/v1/payments/{id}"),
        &[("authorization", &k0)],
        "",
    )
    .await;
    assert_eq!(own.status, 200);
    assert_eq!(own.json()["amount"], 700);
    for path in [
        format!("/v1/payments/{id}"),
        format!("/v1/payments/{id}/refunds"),
    ] {
        let method = if path.ends_with("refunds") {
            "POST"
        } else {
            "GET"
        };
        let r = send(s.addr, method, &path, &[("authorization", &k1)], "").await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.body);
        assert_eq!(r.error().0, "permission_error");
    }
    for missing in ["pay_999999", "pay_x", "pay_01"] {
        let r = send(
            s.addr,
            "GET",
            &format!("/v1/payments/{missing}"),
            &[("authorization", &k0)],
            "",
        )
        .await;
        assert_eq!(r.status, 404, "{missing}");
        assert_eq!(
            r.error(),
            ("invalid_request_error".into(), "not_found".into())
        );
    }
    let r = send(s.addr, "GET", "/v2/nothing", &[], "").await;
    assert_eq!((r.status, r.error().1.as_str()), (404, "route_not_found"));
    let r = send(
        s.addr,
        "DELETE",
        &format!("/v1/payments/{id}"),
        &[("authorization", &k0)],
        "",
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_returns_the_stored_status_and_body_marked_replayed() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let k = s.key(0);
    let h = [
        JSON,
        ("authorization", k.as_str()),
        ("idempotency-key", "order-1"),
    ];
    let first = send(s.addr, "POST", "/v1/payments", &h, qr_body(3, 1_234)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let audits = s.audits.count();
    let again = send(s.addr, "POST", "/v1/payments", &h, qr_body(3, 1_234)).await;
    assert_eq!(again.status, first.status);
    assert_eq!(
        again.body, first.body,
        "a replay is the stored body, unchanged"
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(s.audits.count(), audits, "a replay had an effect");
    // The same key string from another merchant is another key.
    let k1 = s.key(1);
    let other = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k1), ("idempotency-key", "order-1")],
        qr_body(3, 1_234),
    )
    .await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("idempotent-replayed"), None);
    assert_ne!(other.json()["id"], first.json()["id"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_stored_error_is_marked_replayed_too() {
    // Stripe stores an error once execution started and replays it, marked,
    // like a success: a client must not read the replay as a fresh failure.
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let k = s.key(0);
    let p = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k), ("idempotency-key", "pay-9")],
        qr_body(9, 1_000),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let id = p.json()["id"].as_str().unwrap().to_string();
    let refund = |key: &'static str| {
        let (addr, k, path) = (s.addr, k.clone(), format!("/v1/payments/{id}/refunds"));
        async move {
            let h = [
                JSON,
                ("authorization", k.as_str()),
                ("idempotency-key", key),
            ];
            send(addr, "POST", &path, &h, r#"{"amount":5000}"#).await
        }
    };
    let first = refund("too-much").await;
    assert_eq!(
        (first.status, first.error().1.as_str()),
        (400, "amount_too_large"),
        "{}",
        first.body
    );
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = refund("too-much").await;
    assert_eq!(
        (again.status, again.body.as_str()),
        (400, first.body.as_str())
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other_key = refund("too-much-2").await;
    assert_eq!(other_key.status, 400);
    assert_eq!(other_key.header("idempotent-replayed"), None);
    // paystorm's own HTTP client reads the mark on an error too.
    use paystorm::domain::api::{PaymentApi, Request};
    use paystorm::domain::{ApiError, IdemKey, MerchantId, Operation, PaymentId};
    let api = paystorm::live::client::HttpApi::new(
        &paystorm::live::client::Target {
            base: format!("http://{}", s.addr),
            in_flight_max: 1,
        },
        s.keys.clone(),
    );
    let payment = PaymentId(id.trim_start_matches("pay_").parse().unwrap());
    let req = Request {
        merchant: MerchantId(0),
        key: Some(IdemKey(77)),
        op: Operation::Refund {
            payment,
            amount_minor: 5_000,
        },
    };
    let first = api.serve(req).await;
    assert_eq!(
        (first.result, first.replayed),
        (Err(ApiError::AmountTooLarge), false)
    );
    let again = api.serve(req).await;
    assert_eq!(
        (again.result, again.replayed),
        (Err(ApiError::AmountTooLarge), true)
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_other_parameters_is_400_idempotency_error_and_nothing_runs() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let k = s.key(0);
    let h = [
        JSON,
        ("authorization", k.as_str()),
        ("idempotency-key", "k-42"),
    ];
    assert_eq!(
        send(s.addr, "POST", "/v1/payments", &h, qr_body(4, 900))
            .await
            .status,
        200
    );
    let audits = s.audits.count();
    let r = send(s.addr, "POST", "/v1/payments", &h, qr_body(4, 901)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error().0, "idempotency_error");
    assert_eq!(s.audits.count(), audits, "the mismatched request executed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_while_in_flight_is_409_then_the_replay() {
    // A slow QR provider keeps the first request executing for a while.
    let s = start(
        |cfg, _| {
            cfg.qr.latency = paystorm::sim::LatencySpec {
                fixed_ms: Some(600.0),
                ..Default::default()
            }
        },
        ServerConfig::default(),
    )
    .await;
    let k = s.key(0);
    let addr = s.addr;
    let first = tokio::spawn({
        let k = k.clone();
        async move {
            let h = [
                JSON,
                ("authorization", k.as_str()),
                ("idempotency-key", "slow-1"),
            ];
            send(addr, "POST", "/v1/payments", &h, qr_body(5, 300)).await
        }
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    let h = [
        JSON,
        ("authorization", k.as_str()),
        ("idempotency-key", "slow-1"),
    ];
    let second = send(addr, "POST", "/v1/payments", &h, qr_body(5, 300)).await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(
        second.error(),
        ("idempotency_error".into(), "idempotency_in_flight".into())
    );
    let first = first.await.unwrap();
    assert_eq!(first.status, 200);
    let third = send(addr, "POST", "/v1/payments", &h, qr_body(5, 300)).await;
    assert_eq!(third.header("idempotent-replayed"), Some("true"));
    assert_eq!(third.body, first.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_over_255_characters_are_400_and_255_is_fine() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let k = s.key(0);
    let long = "k".repeat(256);
    let audits = s.audits.count();
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k), ("idempotency-key", &long)],
        qr_body(6, 100),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error(),
        (
            "invalid_request_error".into(),
            "idempotency_key_too_long".into()
        )
    );
    assert_eq!(s.audits.count(), audits);
    let ok = "k".repeat(255);
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k), ("idempotency-key", &ok)],
        qr_body(6, 100),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_above_the_limit_are_413_declared_or_streamed() {
    let s = start(
        |_, _| {},
        ServerConfig {
            body_bytes_max: 1024,
            ..ServerConfig::default()
        },
    )
    .await;
    let k = s.key(0);
    let big = format!(r#"{{"customer":"cus_1","pad":"{}"}}"#, "x".repeat(2000));
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k)],
        big.clone(),
    )
    .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error().1, "body_too_large");
    // Chunked, so the size is only known while reading.
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /v1/payments HTTP/1.1\r\nhost: x\r\nauthorization: {k}\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
        big.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_naming_the_problem_with_line_and_column() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let k = s.key(0);
    let h = [JSON, ("authorization", k.as_str())];
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &h,
        "{\"customer\": \"cus_1\",\n \"amount\": 12x}",
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error().1, "malformed_json");
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("line 2 column"), "{msg}");
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &h,
        r#"{"customer":"cus_1","amount":5}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("missing field `currency`"), "{msg}");
    let r = send(s.addr, "POST", "/v1/payments", &h, "").await;
    assert_eq!((r.status, r.error().1.as_str()), (400, "malformed_json"));
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &h,
        r#"{"customer":"cus_1","amount":5,"currency":"usd","method":"card_online"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("payment_method"), "{}", r.body);
    s.stop().await;
}

/// A server whose merchants may make one request a second (burst of one).
async fn start_with_one_request_a_second_per_merchant() -> TestServer {
    start(
        |_, res| {
            res.rate_limit.per_merchant_per_s = 1.0;
            res.rate_limit.per_merchant_burst = 1;
        },
        ServerConfig::default(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_requests_are_429_with_retry_after() {
    let s = start_with_one_request_a_second_per_merchant().await;
    let k = s.key(0);
    let mut limited = None;
    for i in 0..5 {
        let r = send(
            s.addr,
            "POST",
            "/v1/payments",
            &[JSON, ("authorization", &k)],
            qr_body(9, 100 + i),
        )
        .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("a 429 within 5 requests at 1/s");
    assert_eq!(
        r.error(),
        ("rate_limit_error".into(), "rate_limited".into())
    );
    let secs: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&secs), "Retry-After {secs}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_at_the_edge_still_spend_the_quota() {
    let s = start_with_one_request_a_second_per_merchant().await;
    let k0 = s.key(0);
    let p = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k0)],
        qr_body(9, 100),
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    let theirs = format!("/v1/payments/{}", p.json()["id"].as_str().unwrap());
    // Merchant 1 probes merchant 0's payment (403), merchant 2 a missing
    // one (404), merchant 3 sends a malformed body (400): none of them
    // reaches the gateway, and each merchant has a burst of one, so the
    // second request within the second is refused by the quota, as any
    // other request would be.
    for (merchant, method, path, body, first_status) in [
        (1, "GET", theirs.as_str(), "", 403),
        (2, "GET", "/v1/payments/pay_999999", "", 404),
        (3, "POST", "/v1/payments", "{", 400),
    ] {
        let k = s.key(merchant);
        let mut statuses = Vec::new();
        for _ in 0..5 {
            let h = [JSON, ("authorization", k.as_str())];
            statuses.push(send(s.addr, method, path, &h, body).await.status);
        }
        assert_eq!(
            statuses[0], first_status,
            "merchant {merchant}: {statuses:?}"
        );
        assert!(
            statuses.contains(&429),
            "merchant {merchant}: 5 edge answers within a second at 1/s were never rate-limited: {statuses:?}"
        );
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_payment_through_the_device_simulator_and_its_lifecycle() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let (k, d) = (s.key(0), s.device());
    // Merchants cannot mint wallet presentations, nor devices pay.
    let r = send(
        s.addr,
        "POST",
        "/v1/wallet_sessions",
        &[JSON, ("authorization", &k)],
        r#"{"customer":"cus_7"}"#,
    )
    .await;
    assert_eq!(r.status, 403);
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &d)],
        qr_body(7, 100),
    )
    .await;
    assert_eq!(r.status, 403);
    let w = send(
        s.addr,
        "POST",
        "/v1/wallet_sessions",
        &[JSON, ("authorization", &d)],
        r#"{"customer":"cus_7"}"#,
    )
    .await;
    assert_eq!(w.status, 200, "{}", w.body);
    let w = w.json();
    let body = format!(
        r#"{{"customer":"cus_7","amount":5000,"currency":"USD","method":"card_online","capture_method":"manual","payment_method":{{"token":{},"device":{}}}}}"#,
        w["token"], w["device"]
    );
    let p = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k), ("idempotency-key", "c1")],
        body,
    )
    .await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.json()["status"], "authorized");
    let id = p.json()["id"].as_str().unwrap().to_string();
    let c = send(
        s.addr,
        "POST",
        &format!("/v1/payments/{id}/capture"),
        &[("authorization", &k)],
        r#"{"amount_to_capture":3000}"#,
    )
    .await;
    assert_eq!(
        (c.status, c.json()["amount_captured"].as_i64()),
        (200, Some(3000)),
        "{}",
        c.body
    );
    let rf = send(
        s.addr,
        "POST",
        &format!("/v1/payments/{id}/refunds"),
        &[("authorization", &k)],
        "",
    )
    .await;
    assert_eq!(rf.status, 200, "{}", rf.body);
    assert_eq!(rf.json()["amount_refunded"], 3000);
    assert!(rf.json()["refund"].as_str().unwrap().starts_with("re_"));
    let v = send(
        s.addr,
        "POST",
        &format!("/v1/payments/{id}/void"),
        &[("authorization", &k)],
        "{}",
    )
    .await;
    assert_eq!(
        (v.status, v.error().1.as_str()),
        (400, "invalid_state"),
        "{}",
        v.body
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_register_with_a_signing_secret() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    let k = s.key(2);
    let r = send(
        s.addr,
        "POST",
        "/v1/webhook_endpoints",
        &[JSON, ("authorization", &k)],
        r#"{"url":"http://127.0.0.1:9/hook"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(v["id"].as_str().unwrap().starts_with("we_"));
    let r = send(
        s.addr,
        "POST",
        "/v1/webhook_endpoints",
        &[JSON, ("authorization", &k)],
        r#"{"url":"ftp://x"}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_metrics() {
    let s = start(|_, _| {}, ServerConfig::default()).await;
    assert_eq!(send(s.addr, "GET", "/healthz", &[], "").await.status, 200);
    assert_eq!(send(s.addr, "GET", "/readyz", &[], "").await.status, 200);
    let m = send(s.addr, "GET", "/metrics", &[], "").await;
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("paystorm_build_info{version=\""),
        "{}",
        m.body
    );
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_slow_bodies_and_idle_connections_are_timed_out() {
    let s = start(
        |_, _| {},
        ServerConfig {
            header_read_timeout: Duration::from_millis(300),
            body_read_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    )
    .await;
    let closed_within = |mut tcp: tokio::net::TcpStream, secs: u64| async move {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into_owned()),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    // Idle: connects and says nothing.
    let idle = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    assert!(
        closed_within(idle, 3).await.is_some(),
        "an idle connection stayed open"
    );
    // Slow headers: half a request line, then nothing.
    let mut slow = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(slow, 3).await.is_some(),
        "slow headers were waited for"
    );
    // Slow body: declares 100 bytes, sends 10.
    let mut body = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let k = s.key(0);
    body.write_all(
        format!("POST /v1/payments HTTP/1.1\r\nhost: x\r\nauthorization: {k}\r\ncontent-length: 100\r\n\r\n{{\"customer\"").as_bytes(),
    )
    .await
    .unwrap();
    let text = closed_within(body, 3)
        .await
        .expect("a slow body was waited for");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_then_refuses_connections() {
    let s = start(
        |cfg, _| {
            cfg.qr.latency = paystorm::sim::LatencySpec {
                fixed_ms: Some(400.0),
                ..Default::default()
            }
        },
        ServerConfig::default(),
    )
    .await;
    let (addr, k) = (s.addr, s.key(0));
    let in_flight = tokio::spawn(async move {
        send(
            addr,
            "POST",
            "/v1/payments",
            &[JSON, ("authorization", &k)],
            qr_body(8, 250),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let summary = s.stop().await;
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "the request in flight was cut: {}", r.body);
    assert_eq!(summary.connections_cut, 0);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probes_only_listener_serves_metrics_but_not_the_api() {
    // What `run --live --metrics-listen ADDR` starts beside the API.
    let s = start(
        |_, _| {},
        ServerConfig {
            probes_only: true,
            ..ServerConfig::default()
        },
    )
    .await;
    let k = s.key(0);
    assert_eq!(send(s.addr, "GET", "/metrics", &[], "").await.status, 200);
    assert_eq!(send(s.addr, "GET", "/readyz", &[], "").await.status, 200);
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k)],
        qr_body(1, 100),
    )
    .await;
    assert_eq!((r.status, r.error().1.as_str()), (404, "route_not_found"));
    let r = send(s.addr, "GET", "/v1/payments", &[], "").await;
    assert_eq!(r.status, 404, "not 405: the API is not served here");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_slower_than_the_idle_timeout_is_not_cut() {
    let s = start(
        |cfg, _| {
            cfg.qr.latency = paystorm::sim::LatencySpec {
                fixed_ms: Some(700.0),
                ..Default::default()
            }
        },
        ServerConfig {
            idle_timeout: Duration::from_millis(200),
            ..ServerConfig::default()
        },
    )
    .await;
    let k = s.key(0);
    let r = send(
        s.addr,
        "POST",
        "/v1/payments",
        &[JSON, ("authorization", &k)],
        qr_body(10, 400),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;
}
