//! What the load generator sends: the arrival rate, the traffic mix, the
//! population it draws from, and how its clients behave when answers are slow,
//! lost or negative. Written as the `[load]`, `[mix]`, `[population]`,
//! `[amounts]` and `[clients]` sections of a workload file.

use serde::{Deserialize, Serialize};

use crate::domain::Method;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Arrivals {
    /// Exponential gaps (a Poisson process), seeded.
    Poisson,
    /// Evenly spaced at the rate.
    Uniform,
}

/// The open model: arrivals are scheduled from a rate curve whatever the
/// stack does, and latency is measured from each arrival's intended time.
///
/// Exactly one base shape: a constant `rate_per_s` for `duration_s` (the
/// default), ramping `[[load.stages]]`, a `[load.day]` shape, or a
/// `[load.trace]` replay. Named `[[load.spikes]]` multiply any curve shape.
/// Every shape compiles into one [`RateCurve`](super::curve::RateCurve).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSpec {
    /// Constant shape: payments per second (default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_per_s: Option<f64>,
    /// Constant shape: how long (default 30 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Stages shape: the rate the first stage ramps from.
    pub start_rate_per_s: f64,
    /// Stages shape: each ramps linearly from the previous rate to its target.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// Day shape: a base rate times 24 hourly multipliers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<DayShape>,
    /// Flash spikes on top of the curve.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spikes: Vec<Spike>,
    /// Trace replay instead of a curve.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceSpec>,
    /// Multiplies every rate of the curve (and `--rate-scale` multiplies it).
    pub rate_scale: f64,
    pub arrivals: Arrivals,
    /// Payments in flight at once (each a customer's whole journey); an
    /// arrival beyond it is dropped and counted, never silently lost.
    pub in_flight_max: u32,
    /// Share of dropped plus late arrivals above which the run is invalid
    /// (exit 3).
    pub dropped_share_max: f64,
    /// An arrival sent later than its intended time by more than this is
    /// counted late.
    pub late_tolerance_ms: f64,
    /// Arrivals stop after this many simulated seconds, whatever the shape
    /// says (`paystorm shrink` writes it to cut a failing run short).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_after_s: Option<f64>,
}

impl Default for LoadSpec {
    fn default() -> LoadSpec {
        LoadSpec {
            rate_per_s: None,
            duration_s: None,
            start_rate_per_s: 0.0,
            stages: Vec::new(),
            day: None,
            spikes: Vec::new(),
            trace: None,
            rate_scale: 1.0,
            arrivals: Arrivals::Poisson,
            in_flight_max: 1_000_000,
            dropped_share_max: 0.001,
            late_tolerance_ms: 10.0,
            stop_after_s: None,
        }
    }
}

pub const DEFAULT_RATE_PER_S: f64 = 20.0;
pub const DEFAULT_DURATION_S: f64 = 30.0;

/// One stage of a ramping-arrival-rate shape (as in k6).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub target_per_s: f64,
    pub duration_s: f64,
}

/// A day: `base_rate_per_s` times the multiplier of each hour.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DayShape {
    pub base_rate_per_s: f64,
    /// 24 multipliers, hour 0 (midnight) first; the rate moves linearly
    /// between the middles of consecutive hours.
    pub hourly: Vec<f64>,
    /// Time compression: simulated seconds per hour of the day (3600 plays
    /// the day in real length; 60 plays it in 24 simulated minutes).
    #[serde(default = "default_hour_s")]
    pub hour_s: f64,
}

fn default_hour_s() -> f64 {
    3_600.0
}

/// A named flash spike: the rate is multiplied by `multiplier` from
/// `start_s` for `duration_s`, reached over `ramp_s` and left over `ramp_s`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spike {
    pub name: String,
    pub start_s: f64,
    pub duration_s: f64,
    pub multiplier: f64,
    #[serde(default)]
    pub ramp_s: f64,
}

/// Replay of a recorded (or synthesized) trace.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceSpec {
    /// CSV (`.csv`) or JSON lines (`.jsonl`), relative to the workload file.
    pub path: String,
    /// 2 replays the trace twice as fast (half the simulated duration).
    #[serde(default = "default_speed")]
    pub speed: f64,
}

fn default_speed() -> f64 {
    1.0
}

/// One scheduled arrival: when, and — for trace replay — what to pay.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arrival {
    /// Intended send time, microseconds since the start of the run.
    pub at_us: u64,
    pub payment: Option<FixedPayment>,
}

/// A payment fixed by a trace record instead of drawn from the mix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FixedPayment {
    pub merchant: u32,
    pub customer: u32,
    pub amount_minor: i64,
    pub method: Method,
}

/// Shares of payment methods; must sum to 1.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Mix {
    pub card_online: f64,
    pub card_nfc: f64,
    pub qr_wallet: f64,
    pub bank_instant: f64,
    pub bank_batch: f64,
}

impl Default for Mix {
    fn default() -> Mix {
        Mix {
            card_online: 0.45,
            card_nfc: 0.25,
            qr_wallet: 0.15,
            bank_instant: 0.10,
            bank_batch: 0.05,
        }
    }
}

impl Mix {
    pub fn shares(&self) -> [(Method, f64); 5] {
        [
            (Method::CardOnline, self.card_online),
            (Method::CardNfc, self.card_nfc),
            (Method::QrWallet, self.qr_wallet),
            (Method::BankInstant, self.bank_instant),
            (Method::BankBatch, self.bank_batch),
        ]
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Population {
    pub merchants: u32,
    pub customers: u32,
    /// Opening balances are log-normal with this median and 99th percentile.
    pub balance_p50_minor: i64,
    pub balance_p99_minor: i64,
    /// Share of customers who start with almost nothing (declines for
    /// insufficient funds).
    pub short_of_funds_share: f64,
    /// Credit line below zero that a customer's account may use.
    pub credit_limit_minor: i64,
    /// Merchant popularity is Zipf-like with this exponent (0 = uniform).
    pub merchant_zipf_s: f64,
}

impl Default for Population {
    fn default() -> Population {
        Population {
            merchants: 50,
            customers: 5_000,
            balance_p50_minor: 150_000,
            balance_p99_minor: 2_000_000,
            short_of_funds_share: 0.05,
            credit_limit_minor: 50_000,
            merchant_zipf_s: 1.0,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Amounts {
    /// Amounts when no categories are given: log-normal by median and p99.
    pub p50_minor: i64,
    pub p99_minor: i64,
    /// Share of attempts with fraud-looking amounts (above the gateway's limit).
    pub fraud_share: f64,
    /// Merchant categories, each with its own amounts (`[[amounts.categories]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Category>,
}

/// A merchant category: its share of the merchants and its amounts.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub name: String,
    pub merchant_share: f64,
    pub p50_minor: i64,
    pub p99_minor: i64,
}

impl Default for Amounts {
    fn default() -> Amounts {
        Amounts {
            p50_minor: 4_500,
            p99_minor: 60_000,
            fraud_share: 0.005,
            categories: Vec::new(),
        }
    }
}

/// Client behaviour. Every share is of the relevant payments; each behaviour
/// is counted in results.json.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Clients {
    /// A request without an answer within this long is retried (same key).
    pub timeout_ms: f64,
    /// Attempts per logical request, the first included.
    pub attempts_max: u32,
    /// Exponential backoff with full jitter: a retry waits a random time in
    /// [0, min(max, base * 2^(attempt-1))].
    pub backoff_base_ms: f64,
    pub backoff_max_ms: f64,
    /// A logical request still without an answer this long after its intended
    /// start is given up and recorded as unknown.
    pub give_up_after_ms: f64,
    /// Share of creates sent twice with the same key (the double click).
    pub double_submit_share: f64,
    /// The second submit follows the first after a delay up to this long.
    pub double_submit_delay_max_ms: f64,
    /// Share of keys reused later with a different amount (a buggy
    /// integration); the gateway must refuse them.
    pub key_reuse_mismatch_share: f64,
    /// Share of creates sent without an idempotency key (legacy
    /// integrations); they are never retried, and only the dedup window
    /// guards them.
    pub keyless_share: f64,
    /// Share of card payments presented from a device the token is not
    /// bound to (a stolen token).
    pub wrong_device_share: f64,
    /// After a definite decline, share of customers who press pay again
    /// (with a new key, as a user would).
    pub pay_again_share: f64,
    /// Share of successful payments whose status the merchant polls (GET).
    pub get_share: f64,
    /// Share of successful creates that ask for a per-request callback.
    pub callback_share: f64,
    /// Connections the load generator holds to the gateway. A request waits
    /// for a free one before it is actually sent, as in wrk2: service time
    /// runs from when it got a connection, corrected latency still from its
    /// intended time. The default (a million) is effectively unlimited.
    pub connections_max: u32,
}

impl Default for Clients {
    fn default() -> Clients {
        Clients {
            timeout_ms: 2_000.0,
            attempts_max: 5,
            backoff_base_ms: 200.0,
            backoff_max_ms: 5_000.0,
            give_up_after_ms: 30_000.0,
            double_submit_share: 0.02,
            double_submit_delay_max_ms: 1_500.0,
            key_reuse_mismatch_share: 0.005,
            keyless_share: 0.02,
            wrong_device_share: 0.002,
            pay_again_share: 0.3,
            get_share: 0.1,
            callback_share: 0.2,
            connections_max: 1_000_000,
        }
    }
}

/// What merchants do with successful payments.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Lifecycle {
    /// Share of card payments authorized only, captured later (ship then charge).
    pub manual_capture_share: f64,
    /// Delay between authorization and capture or void, uniform up to this.
    pub fulfilment_delay_max_s: f64,
    /// Of manual-capture payments: share voided instead of captured.
    pub void_share: f64,
    /// Of manual-capture payments: share never captured (the hold expires).
    pub abandon_share: f64,
    /// Of captures: share that capture less than authorized.
    pub partial_capture_share: f64,
    /// Of captured payments: share refunded (in part or in full) later.
    pub refund_share: f64,
    pub refund_delay_max_s: f64,
    /// Of refunds: share issued twice at once with different keys (two
    /// support agents); the gateway must refuse the one that over-refunds.
    pub double_refund_share: f64,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle {
            manual_capture_share: 0.3,
            fulfilment_delay_max_s: 600.0,
            void_share: 0.05,
            abandon_share: 0.02,
            partial_capture_share: 0.1,
            refund_share: 0.05,
            refund_delay_max_s: 3_600.0,
            double_refund_share: 0.1,
        }
    }
}
