//! Resilience in the stack: what an SRE puts between a gateway and its
//! downstreams, and at its front door.
//!
//! - per downstream (each issuer, each card network, the webhook endpoint) a
//!   [`Guard`]: circuit breaker, bulkhead and call timeout, wrapped around
//!   the call tower style (outside the chaos fault layer, as a client's
//!   policy sits outside the network);
//! - at the gateway's door, before the idempotency layer: load shedding and
//!   rate limits (per merchant and global), each refusing with nothing
//!   stored against the key;
//! - in the gateway: a deadline per request carried to every call, and
//!   retries of a message (same id, so safe) under a retry budget.
//!
//! All of it is the `[resilience]` section of a workload, on by default with
//! settings that leave a healthy stack alone; `--no-resilience` turns it off
//! as a whole, so a run can be compared with and without.

pub mod bulkhead;
pub mod circuit_breaker;
pub mod deadline;
pub mod rate_limit;
pub mod retry;
pub mod shedding;
pub mod stand_in;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::chaos::CallFault;
use crate::domain::MerchantId;
use crate::lock::Locked;
use crate::sim::Clock;

use bulkhead::{Bulkhead, BulkheadConfig};
use circuit_breaker::{BreakerConfig, BreakerReport, CircuitBreaker};
use deadline::TimeoutConfig;
use rate_limit::{Limited, RateLimitConfig, RateLimits};
use retry::{RetryBudget, RetryConfig};
use shedding::{LoadShedder, SheddingConfig};
use stand_in::{StandInConfig, StandInStats};

/// The `[resilience]` section of a workload.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceConfig {
    /// Everything below at once (`--no-resilience` sets it false).
    pub enabled: bool,
    pub breaker: BreakerConfig,
    pub rate_limit: RateLimitConfig,
    pub bulkhead: BulkheadConfig,
    pub timeouts: TimeoutConfig,
    pub retry: RetryConfig,
    pub shedding: SheddingConfig,
    pub stand_in: StandInConfig,
}

impl Default for ResilienceConfig {
    fn default() -> ResilienceConfig {
        ResilienceConfig {
            enabled: true,
            breaker: BreakerConfig::default(),
            rate_limit: RateLimitConfig::default(),
            bulkhead: BulkheadConfig::default(),
            timeouts: TimeoutConfig::default(),
            retry: RetryConfig::default(),
            shedding: SheddingConfig::default(),
            stand_in: StandInConfig::default(),
        }
    }
}

impl ResilienceConfig {
    pub fn breakers(&self) -> bool {
        self.enabled && self.breaker.enabled
    }
    pub fn bulkheads(&self) -> bool {
        self.enabled && self.bulkhead.enabled
    }
    pub fn timeouts(&self) -> bool {
        self.enabled && self.timeouts.enabled
    }
    pub fn retries(&self) -> bool {
        self.enabled && self.retry.enabled
    }
    /// Stand-in needs an issuer's breaker to tell it the issuer is down.
    pub fn stand_ins(&self) -> bool {
        self.breakers() && self.stand_in.enabled
    }
    /// Whether a call can end without an answer the gateway applies at once
    /// (a timeout, a retry), so messages must be journalled and repeatable.
    pub fn can_repeat_messages(&self) -> bool {
        self.timeouts() || self.retries()
    }
}

/// A downstream's breaker, bulkhead and call timeout.
pub struct Guard {
    name: String,
    breaker: Option<CircuitBreaker>,
    bulkhead: Option<Bulkhead>,
    timeout: Option<Duration>,
    clock: Clock,
    timeouts: AtomicU64,
    /// Told how long each call through an active guard took (µs), when
    /// someone watches (telemetry); unset it costs one atomic load a call.
    observer: OnceLock<CallObserver>,
}

/// Receives the duration of each call a guard made, in microseconds.
pub type CallObserver = Arc<dyn Fn(u64) + Send + Sync>;

impl Guard {
    /// `own_timeout`: whether the guard times calls out itself. The
    /// gateway's calls to networks and issuers are timed once, at the
    /// gateway (the call timeout within the request's deadline), so their
    /// guards do not stack timers of their own. `bulkhead`: the cap on
    /// concurrency here, if any (the webhook dispatcher has its own cap,
    /// `webhooks.in_flight_max`).
    pub fn new(
        name: &str,
        cfg: &ResilienceConfig,
        clock: Clock,
        own_timeout: bool,
        bulkhead: Option<u32>,
    ) -> Guard {
        Guard {
            name: name.to_string(),
            breaker: cfg
                .breakers()
                .then(|| CircuitBreaker::new(name.to_string(), cfg.breaker)),
            bulkhead: bulkhead
                .filter(|_| cfg.bulkheads())
                .map(|slots| Bulkhead::new(slots, cfg.bulkhead.max_wait_ms, clock)),
            timeout: (own_timeout && cfg.timeouts())
                .then(|| crate::sim::clock::ms_f64(cfg.timeouts.call_ms)),
            clock,
            timeouts: AtomicU64::new(0),
            observer: OnceLock::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Tells `observer` the duration of every call from now on (the first
    /// observer set stays).
    pub fn observe_calls(&self, observer: CallObserver) {
        let _ = self.observer.set(observer);
    }

    /// Whether the guard does anything (else calls go straight through).
    pub fn is_active(&self) -> bool {
        self.breaker.is_some() || self.bulkhead.is_some() || self.timeout.is_some()
    }

    /// Whether the breaker is open now (stand-in and reports look).
    pub fn is_open(&self) -> bool {
        self.breaker
            .as_ref()
            .is_some_and(|b| b.state() != circuit_breaker::State::Closed)
    }

    /// Makes the call `make` starts under the breaker, the bulkhead and the
    /// timeout. A refusal by either is [`CallFault::Rejected`]: nothing was
    /// sent.
    ///
    /// It takes a maker, not a future: an async fn stores a future it is
    /// given twice (the argument, and the value it awaits), and the calls
    /// through a guard are the deepest futures of the stack. Started here,
    /// the call's future is stored once.
    pub async fn call<T, Fut>(&self, make: impl FnOnce() -> Fut) -> Result<T, CallFault>
    where
        Fut: Future<Output = Result<T, CallFault>>,
    {
        if !self.is_active() {
            return make().await;
        }
        // The slot first, then the breaker: a half-open trial the breaker
        // admits always runs and reports, so it cannot stay half-open.
        let _slot = match &self.bulkhead {
            None => None,
            Some(b) => Some(b.enter().await.map_err(|_| CallFault::Rejected)?),
        };
        if let Some(b) = &self.breaker {
            if b.try_acquire(self.clock.now_us()).is_err() {
                return Err(CallFault::Rejected);
            }
        }
        let started = self.clock.now_us();
        // If the caller drops this call half-way (its own deadline), the
        // breaker still hears of it — else a half-open trial that never
        // reports would keep the breaker half-open for good.
        let mut unfinished = Unfinished {
            breaker: self.breaker.as_ref(),
            clock: self.clock,
            started,
        };
        let out = match self.timeout {
            None => make().await,
            Some(t) => match self.clock.timeout(t, make()).await.ok() {
                Some(out) => out,
                None => {
                    self.timeouts.fetch_add(1, Ordering::Relaxed);
                    Err(CallFault::TimedOut)
                }
            },
        };
        unfinished.breaker = None;
        let observer = self.observer.get();
        if self.breaker.is_some() || observer.is_some() {
            let end = self.clock.now_us();
            if let Some(b) = &self.breaker {
                b.record(end, out.is_err(), end - started);
            }
            if let Some(f) = observer {
                f(end.saturating_sub(started));
            }
        }
        out
    }

    pub fn report(&self) -> GuardReport {
        GuardReport {
            name: self.name.clone(),
            breaker: self.breaker.as_ref().map(|b| b.report()),
            bulkhead_rejected: self.bulkhead.as_ref().map_or(0, |b| b.rejected()),
            call_timeouts: self.timeouts.load(Ordering::Relaxed),
        }
    }
}

/// Records a call dropped before it finished as a failure.
struct Unfinished<'a> {
    breaker: Option<&'a CircuitBreaker>,
    clock: Clock,
    started: u64,
}

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.breaker {
            let end = self.clock.now_us();
            b.record(end, true, end - self.started);
        }
    }
}

/// One downstream's figures in results.json.
#[derive(Clone, Debug, Serialize)]
pub struct GuardReport {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaker: Option<BreakerReport>,
    pub bulkhead_rejected: u64,
    pub call_timeouts: u64,
}

impl FrontlineStats {
    /// Every quota refusal: the three merchant classes and the global quota.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited_top_1pct
            + self.rate_limited_next_9pct
            + self.rate_limited_rest
            + self.rate_limited_global
    }
}

/// The gateway's own mechanisms: its door (shedding, rate limits) and its
/// retries.
pub struct Frontline {
    pub cfg: ResilienceConfig,
    rate: Option<RateLimits>,
    shedder: Option<LoadShedder>,
    budget: Option<RetryBudget>,
    /// Merchants, for the merchant classes of the rate-limit figures.
    merchants: u32,
    stats: Mutex<FrontlineStats>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FrontlineStats {
    /// Refused by a merchant's quota, by merchant class: the top 1% of
    /// merchants by id (the most popular: merchants are drawn Zipf by id),
    /// the next 9%, and the rest.
    pub rate_limited_top_1pct: u64,
    pub rate_limited_next_9pct: u64,
    pub rate_limited_rest: u64,
    /// Refused by the global quota.
    pub rate_limited_global: u64,
    /// Retries of a message inside the stack.
    pub retries: u64,
    /// Retries the budget refused.
    pub retry_budget_exhausted: u64,
    /// Downstream calls that ran out of time (the call timeout, or what
    /// was left of the request's deadline).
    pub call_timeouts: u64,
}

/// Why the door refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    Shed,
    RateLimited(Limited),
}

impl Frontline {
    pub fn new(cfg: ResilienceConfig, merchants: u32, clock: Clock) -> Frontline {
        let on = cfg.enabled;
        Frontline {
            rate: (on && cfg.rate_limit.enabled).then(|| RateLimits::new(cfg.rate_limit, clock)),
            shedder: (on && cfg.shedding.enabled).then(|| LoadShedder::new(cfg.shedding)),
            budget: cfg.retries().then(|| RetryBudget::new(cfg.retry)),
            merchants,
            stats: Mutex::new(FrontlineStats::default()),
            cfg,
        }
    }

    /// The door: shed when too busy, then the merchant's and the global
    /// quota. The returned guard keeps the request counted as in progress.
    pub fn admit(&self, merchant: MerchantId) -> Result<Option<shedding::InProgress<'_>>, Refused> {
        let in_progress = match &self.shedder {
            Some(s) => Some(s.enter().map_err(|_| Refused::Shed)?),
            None => None,
        };
        if let Some(rate) = &self.rate {
            if let Err(limited) = rate.check(merchant) {
                let mut s = self.stats.locked();
                match limited {
                    Limited::Global { .. } => s.rate_limited_global += 1,
                    Limited::Merchant { .. } => {
                        let rank = f64::from(merchant.0) / f64::from(self.merchants.max(1));
                        if rank < 0.01 {
                            s.rate_limited_top_1pct += 1
                        } else if rank < 0.10 {
                            s.rate_limited_next_9pct += 1
                        } else {
                            s.rate_limited_rest += 1
                        }
                    }
                }
                return Err(Refused::RateLimited(limited));
            }
        }
        Ok(in_progress)
    }

    /// A first attempt of a message (it earns retry budget).
    pub fn first_attempt(&self, now_us: u64) {
        if let Some(b) = &self.budget {
            b.request(now_us);
        }
    }

    /// Whether retry number `retry` (1 = the first retry) may go now.
    pub fn may_retry(&self, now_us: u64, retry: u32) -> bool {
        let Some(b) = &self.budget else {
            return false;
        };
        if retry >= self.cfg.retry.attempts_max {
            return false;
        }
        let ok = b.try_retry(now_us);
        let mut s = self.stats.locked();
        if ok {
            s.retries += 1;
        } else {
            s.retry_budget_exhausted += 1;
        }
        ok
    }

    pub fn call_timed_out(&self) {
        self.stats.locked().call_timeouts += 1;
    }

    /// How long a call may take now: the call timeout, within what is left
    /// of the request's deadline (`None`: timeouts off).
    pub fn call_budget(&self, now_us: u64, deadline_us: Option<u64>) -> Option<Duration> {
        if !self.cfg.timeouts() {
            return None;
        }
        let call = crate::sim::clock::ms_f64(self.cfg.timeouts.call_ms);
        Some(match deadline_us {
            Some(d) => call.min(TimeoutConfig::left(d, now_us)),
            None => call,
        })
    }

    pub fn shed(&self) -> u64 {
        self.shedder.as_ref().map_or(0, |s| s.shed())
    }

    /// Requests past the door and not yet answered (0 without shedding,
    /// which is what counts them).
    pub fn in_flight(&self) -> u64 {
        self.shedder.as_ref().map_or(0, |s| s.in_flight())
    }

    pub fn stats(&self) -> FrontlineStats {
        *self.stats.locked()
    }
}

/// The `resilience` section of results.json.
#[derive(Clone, Debug, Serialize)]
pub struct ResilienceReport {
    pub enabled: bool,
    pub shed: u64,
    #[serde(flatten)]
    pub frontline: FrontlineStats,
    /// Breaker, bulkhead and timeout figures per downstream.
    pub downstreams: Vec<GuardReport>,
    /// Stand-in approvals by the card networks and their reconciliation.
    pub stand_in: StandInReport,
}

/// `resilience.stand_in` in results.json: the networks' figures summed, and
/// what the issuers fronted.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StandInReport {
    #[serde(flatten)]
    pub networks: StandInStats,
    /// Money the issuers put up for stand-in approvals their customers
    /// could not cover (the risk stand-in takes), at the end of the run.
    pub exposure_minor: i64,
}

/// Every guard of a stack, for the report.
#[derive(Default)]
pub struct Guards(Mutex<Vec<Arc<Guard>>>);

impl Guards {
    pub fn add(
        &self,
        name: &str,
        cfg: &ResilienceConfig,
        clock: Clock,
        own_timeout: bool,
        bulkhead: Option<u32>,
    ) -> Arc<Guard> {
        let g = Arc::new(Guard::new(name, cfg, clock, own_timeout, bulkhead));
        self.0.locked().push(g.clone());
        g
    }

    pub fn report(&self, front: &Frontline, stand_in: StandInReport) -> ResilienceReport {
        report_of(&self.all(), front, stand_in)
    }

    /// Every guard added so far (a stack adds them all while it is built).
    pub fn all(&self) -> Vec<Arc<Guard>> {
        self.0.locked().clone()
    }
}

/// The resilience report of these guards and this door.
pub fn report_of(
    guards: &[Arc<Guard>],
    front: &Frontline,
    stand_in: StandInReport,
) -> ResilienceReport {
    ResilienceReport {
        stand_in,
        enabled: front.cfg.enabled,
        shed: front.shed(),
        frontline: front.stats(),
        downstreams: guards.iter().map(|g| g.report()).collect(),
    }
}
