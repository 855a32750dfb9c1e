//! A served stack for the live-mode tests: built on the wall clock, served on
//! an ephemeral loopback port, with an observer that counts what the stack
//! recorded (a payment created, a ledger posting) so a test can prove a
//! refused request changed nothing.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use paystorm::domain::audit::{AuditRecord, Observer};
use paystorm::domain::history::HistoryEvent;
use paystorm::domain::{Currency, MerchantId};
use paystorm::live::auth::ApiKeys;
use paystorm::live::server::{
    build_info_metrics, App, Running, Server, ServerConfig, StackBackend,
};
use paystorm::live::webhooks::Registry;
use paystorm::load::spec::Population;
use paystorm::resilience::ResilienceConfig;
use paystorm::sim::world::make_world;
use paystorm::sim::{Clock, Seed};
use paystorm::stack::config::StackConfig;
use paystorm::stack::sabotage::Sabotages;
use paystorm::stack::Stack;

pub const SEED: u64 = 11;
pub const MERCHANTS: u32 = 4;
pub const CUSTOMERS: u32 = 20;

/// Counts every audit record: payments created, postings, events.
#[derive(Default)]
pub struct Audits(AtomicU64);

impl Observer for Audits {
    fn audit(&self, _: AuditRecord) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn history(&self, _: HistoryEvent) {}
}

impl Audits {
    pub fn count(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub keys: ApiKeys,
    pub audits: Arc<Audits>,
    pub stack: Arc<Stack>,
    running: Running,
}

impl TestServer {
    pub fn key(&self, m: u32) -> String {
        format!("Bearer {}", self.keys.merchant(MerchantId(m)).unwrap())
    }

    pub fn device(&self) -> String {
        format!("Bearer {}", self.keys.device())
    }

    pub async fn stop(self) -> paystorm::live::server::ServeSummary {
        self.running.stop().await
    }
}

/// A stack whose wallet and issuers never refuse (so outcomes are known),
/// tweaked by the caller, served with `cfg`. No background tasks: nothing
/// but requests changes it.
pub async fn start(
    tweak: impl FnOnce(&mut StackConfig, &mut ResilienceConfig),
    cfg: ServerConfig,
) -> TestServer {
    let mut stack_cfg = StackConfig::default();
    stack_cfg.wallet.failure_share = 0.0;
    stack_cfg.issuers.risk_decline_share = 0.0;
    let mut resilience = ResilienceConfig::default();
    tweak(&mut stack_cfg, &mut resilience);
    let pop = Population {
        merchants: MERCHANTS,
        customers: CUSTOMERS,
        balance_p50_minor: 1_000_000,
        balance_p99_minor: 1_000_001,
        short_of_funds_share: 0.0,
        ..Population::default()
    };
    let world = make_world(&pop, &stack_cfg, Seed(SEED));
    let audits = Arc::new(Audits::default());
    let stack = Arc::new(
        Stack::build(
            &stack_cfg,
            &world,
            Currency::USD,
            Seed(SEED),
            Clock::start_live(),
            audits.clone(),
            Sabotages::NONE,
            paystorm::stack::Sizing::default(),
            &paystorm::chaos::Chaos::none(Seed(SEED)),
            &resilience,
        )
        .expect("the config builds"),
    );
    let keys = ApiKeys::derive(SEED, MERCHANTS);
    let app = App {
        backend: Arc::new(StackBackend::new(&stack)),
        keys: keys.clone(),
        webhooks: Arc::new(Registry::new(SEED)),
        metrics: build_info_metrics(),
        currency: Currency::USD,
        customers: CUSTOMERS,
    };
    let running = Server::bind(([127, 0, 0, 1], 0).into(), app, cfg)
        .await
        .expect("binds a loopback port")
        .spawn()
        .expect("has an address");
    TestServer {
        addr: running.addr,
        keys,
        audits,
        stack,
        running,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// `error.type` and `error.code` of an error body.
    pub fn error(&self) -> (String, String) {
        let v = self.json();
        (
            v["error"]["type"].as_str().unwrap_or_default().to_string(),
            v["error"]["code"].as_str().unwrap_or_default().to_string(),
        )
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One request on a connection of its own.
pub async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(body.into())).unwrap())
        .await
        .expect("an answer");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("a body").to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A create body for a non-card method (no wallet step needed).
pub fn qr_body(customer: u32, amount: i64) -> String {
    format!(
        r#"{{"customer":"cus_{customer}","amount":{amount},"currency":"usd","method":"qr_wallet"}}"#
    )
}
