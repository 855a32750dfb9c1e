//! Webhooks over real HTTP: the stack on the wall clock POSTs each event,
//! signed with the endpoint's `whsec_` secret, to the built-in sink on a
//! loopback port. A sink that fails and loses acknowledgements on purpose
//! still ends with every event applied exactly once (retries deliver,
//! deduplication absorbs the redeliveries); a sink holding the wrong secret
//! applies nothing and every event is dead-lettered after its attempts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paystorm::domain::api::{PaymentApi, Request};
use paystorm::domain::audit::{AuditRecord, Observer};
use paystorm::domain::history::HistoryEvent;
use paystorm::domain::{
    CaptureMode, CreateParams, Currency, CustomerId, IdemKey, MerchantId, Method, Money, Operation,
};
use paystorm::load::spec::Population;
use paystorm::sim::signal::Signal;
use paystorm::sim::world::make_world;
use paystorm::sim::{Clock, Seed};
use paystorm::stack::config::StackConfig;
use paystorm::stack::sabotage::Sabotages;
use paystorm::stack::webhooks::http::{HttpRoute, Routes};
use paystorm::stack::Stack;
use paystorm::webhook_sink::{server, Misbehaviour, Sink};

/// Per event id: emitted?, dead-lettered?, times applied at the sink.
#[derive(Default)]
struct Ledger {
    emitted: HashMap<u64, ()>,
    dead: HashMap<u64, ()>,
    applied: HashMap<u64, u32>,
    bad_signatures: u64,
}

#[derive(Default)]
struct Watch(Mutex<Ledger>);

impl Observer for Watch {
    fn audit(&self, r: AuditRecord) {
        let mut l = self.0.lock().unwrap();
        match r {
            AuditRecord::EventEmitted { event, .. } => {
                l.emitted.insert(event.0, ());
            }
            AuditRecord::EventDeadLettered { event, .. } => {
                l.dead.insert(event.0, ());
            }
            AuditRecord::EventReceived {
                event,
                applied,
                signature_valid,
                ..
            } => {
                if applied {
                    *l.applied.entry(event.0).or_default() += 1;
                }
                if !signature_valid {
                    l.bad_signatures += 1;
                }
            }
            _ => {}
        }
    }
    fn history(&self, _: HistoryEvent) {}
}

/// Every merchant's events to one URL.
struct AllTo(HttpRoute);

impl Routes for AllTo {
    fn routes(&self, _: MerchantId) -> Vec<HttpRoute> {
        vec![self.0.clone()]
    }
}

struct Outcome {
    ledger: Ledger,
    received: paystorm::webhook_sink::Received,
    stats: paystorm::stack::webhooks::WebhookStats,
}

/// Runs `payments` card payments through a wall-clock stack whose
/// webhooks go to a sink holding `sink_secret`, endpoints signed with
/// `whsec_right`, at most `attempts` attempts each; waits for every event
/// to be delivered or dead-lettered.
fn run(payments: u32, attempts: u32, sink_secret: &str, misbehaviour: Misbehaviour) -> Outcome {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let watch = Arc::new(Watch::default());
    let sink_secret = sink_secret.to_string();
    runtime.block_on(async move {
        let mut cfg = StackConfig::default();
        cfg.wallet.failure_share = 0.0;
        cfg.issuers.risk_decline_share = 0.0;
        cfg.webhooks.attempts_max = attempts;
        cfg.webhooks.backoff_base_ms = 5.0;
        cfg.webhooks.backoff_max_ms = 20.0;
        cfg.webhooks.timeout_ms = 2_000.0;
        let pop = Population {
            merchants: 3,
            customers: 20,
            balance_p50_minor: 1_000_000,
            balance_p99_minor: 1_000_001,
            short_of_funds_share: 0.0,
            ..Population::default()
        };
        let world = make_world(&pop, &cfg, Seed(3));
        let stack = Stack::build(
            &cfg,
            &world,
            Currency::USD,
            Seed(3),
            Clock::start_live(),
            watch.clone(),
            Sabotages::NONE,
            paystorm::stack::Sizing::default(),
            &paystorm::chaos::Chaos::none(Seed(3)),
            &paystorm::resilience::ResilienceConfig::default(),
        )
        .unwrap();
        let (listener, addr) = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let sink = Arc::new(Sink::new(
            vec![sink_secret],
            misbehaviour,
            1_000,
            Some(watch.clone() as Arc<dyn Observer>),
            9,
        ));
        let stop_sink = Signal::new();
        let sink_task = tokio::spawn(server::serve(listener, sink.clone(), {
            let s = stop_sink.clone();
            async move { s.wait().await }
        }));
        stack
            .deliver_webhooks_over_http(Arc::new(AllTo(HttpRoute {
                url: format!("http://{addr}/hooks").parse().unwrap(),
                secret: Arc::from(&b"whsec_right"[..]),
            })))
            .unwrap();
        let stop = Signal::new();
        let background = stack.spawn_background(&stop);
        let api = stack.api();
        let mut calls = Vec::new();
        for i in 0..payments {
            let api = api.clone();
            calls.push(tokio::spawn(async move {
                let customer = CustomerId(i % 20);
                let p = api
                    .authenticate(customer)
                    .await
                    .expect("no wallet failures");
                let params = CreateParams {
                    merchant: MerchantId(i % 3),
                    customer,
                    amount: Money::new(1_000 + i64::from(i), Currency::USD),
                    method: Method::CardOnline,
                    capture: CaptureMode::Automatic,
                    token: Some((p.token, p.device)),
                    callback: false,
                };
                api.call(Request {
                    merchant: params.merchant,
                    key: Some(IdemKey(u64::from(i) + 1)),
                    op: Operation::Create(params),
                })
                .await
            }));
        }
        for c in calls {
            c.await.unwrap().expect("the payment goes through");
        }
        let drained = stack.drain(Duration::from_secs(30)).await;
        assert!(drained.completed, "webhooks still outstanding after 30 s");
        stop.fire();
        for t in background {
            let _ = t.await;
        }
        stop_sink.fire();
        sink_task.await.unwrap().unwrap();
        Outcome {
            ledger: std::mem::take(&mut *watch.0.lock().unwrap()),
            received: sink.received(),
            stats: stack.stats().webhooks,
        }
    })
}

#[test]
fn every_event_is_applied_once_over_a_network_that_fails_and_loses_acks() {
    // An event fails an attempt with probability at most 0.1 + 0.9 x 0.3
    // before it is applied and 0.1 after: all 12 attempts fail with
    // probability below 0.37 x 0.1^11, so no event dead-letters by luck.
    let o = run(
        30,
        12,
        "whsec_right",
        Misbehaviour {
            failure_share: 0.1,
            lost_ack_share: 0.3,
        },
    );
    let l = &o.ledger;
    assert!(l.emitted.len() >= 30, "an event per payment at least");
    assert!(l.dead.is_empty(), "12 attempts suffice at these shares");
    for id in l.emitted.keys() {
        assert_eq!(l.applied.get(id), Some(&1), "event {id} applied once");
    }
    assert_eq!(o.received.applied, l.emitted.len() as u64);
    assert!(
        o.received.duplicates > 0,
        "lost acks cause redeliveries: {:?}",
        o.received
    );
    assert!(o.received.failed_on_purpose > 0);
    assert!(o.stats.retries > 0);
    assert_eq!(o.stats.delivered, l.emitted.len() as u64);
    assert_eq!(l.bad_signatures, 0);
}

#[test]
fn a_sink_with_the_wrong_secret_applies_nothing_and_events_dead_letter() {
    let o = run(5, 4, "whsec_wrong", Misbehaviour::default());
    let l = &o.ledger;
    assert!(!l.emitted.is_empty());
    assert!(l.applied.is_empty(), "nothing unverified is applied");
    assert_eq!(l.dead.len(), l.emitted.len(), "every event dead-lettered");
    assert_eq!(o.received.bad_signature, 4 * l.emitted.len() as u64);
    assert_eq!(o.stats.dead_lettered, l.emitted.len() as u64);
}

/// One HTTP/1.1 exchange on a fresh connection: the status line and body.
fn http(addr: &str, request: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or_default().to_string();
    let body = answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    (status, body)
}

#[test]
fn the_webhook_sink_command_verifies_dedups_reports_and_stops_on_sigterm() {
    use paystorm::stack::webhooks::signature::{header, sign};
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_paystorm"))
        .args([
            "webhook-sink",
            "--listen",
            "127.0.0.1:0",
            "--secret",
            "whsec_cli",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = r#"{"id":"evt_42","type":"payment.captured"}"#;
    let post = |sig: &str| {
        format!(
            "POST /hooks HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nPaystorm-Signature: {sig}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let good = header(now, &sign(b"whsec_cli", now, body.as_bytes()));
    let forged = header(now, &sign(b"whsec_guess", now, body.as_bytes()));
    assert!(http(&addr, &post(&good)).0.contains(" 200 "));
    assert!(
        http(&addr, &post(&good)).0.contains(" 200 "),
        "a duplicate is acknowledged"
    );
    assert!(http(&addr, &post(&forged)).0.contains(" 400 "));
    let (status, received) = http(
        &addr,
        "GET /received HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(status.contains(" 200 "), "{status}");
    let r: serde_json::Value = serde_json::from_str(&received).unwrap();
    assert_eq!(
        (r["applied"].as_u64(), r["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(r["bad_signature"].as_u64(), Some(1));

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop");
    let mut last = String::new();
    out.read_line(&mut last).unwrap();
    assert!(last.contains("\"applied\":1"), "{last}");
}
