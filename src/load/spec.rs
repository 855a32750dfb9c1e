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

/// Open model at a constant rate: arrivals are scheduled whatever the stack
/// does, and latency is measured from each arrival's intended time.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoadSpec {
    pub rate_per_s: f64,
    pub duration_s: f64,
    pub arrivals: Arrivals,
    /// Payments in flight at once (each a customer's whole journey); an
    /// arrival beyond it is dropped and counted, never silently lost.
    pub in_flight_max: u32,
    /// Share of dropped arrivals above which the run is invalid (exit 3).
    pub dropped_share_max: f64,
}

impl Default for LoadSpec {
    fn default() -> LoadSpec {
        LoadSpec {
            rate_per_s: 20.0,
            duration_s: 30.0,
            arrivals: Arrivals::Poisson,
            in_flight_max: 1_000_000,
            dropped_share_max: 0.001,
        }
    }
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

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Amounts {
    pub p50_minor: i64,
    pub p99_minor: i64,
    /// Share of attempts with fraud-looking amounts (above the gateway's limit).
    pub fraud_share: f64,
}

impl Default for Amounts {
    fn default() -> Amounts {
        Amounts {
            p50_minor: 4_500,
            p99_minor: 60_000,
            fraud_share: 0.005,
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
