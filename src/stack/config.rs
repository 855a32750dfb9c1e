//! Configuration of the payment stack: one section per component, every field
//! with its unit in its name and a default that models a healthy production
//! stack. Written as the `[stack.*]` sections of a workload file.

use serde::{Deserialize, Serialize};

use crate::domain::FeeTable;
use crate::sim::LatencySpec;

/// Latency and capacity (concurrent calls) of one component.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentConfig {
    pub latency: LatencySpec,
    /// Calls served at once; further calls wait in line.
    pub capacity: u32,
}

impl ComponentConfig {
    const fn new(p50_ms: f64, p99_ms: f64, capacity: u32) -> ComponentConfig {
        ComponentConfig {
            latency: LatencySpec::lognormal(p50_ms, p99_ms),
            capacity,
        }
    }
}

impl Default for ComponentConfig {
    fn default() -> ComponentConfig {
        ComponentConfig::new(5.0, 25.0, 10_000)
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct StackConfig {
    pub wallet: WalletConfig,
    pub tokens: ComponentConfig,
    pub gateway: GatewayConfig,
    pub networks: NetworksConfig,
    pub issuers: IssuersConfig,
    pub qr: ComponentConfig,
    pub bank: BankConfig,
    pub acquirer: AcquirerConfig,
    pub webhooks: WebhooksConfig,
}

/// The customer's phone: biometric or PIN authentication before a card
/// payment, and the secure element that holds the device-bound token.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    pub latency: LatencySpec,
    /// Share of authentication attempts that fail (a finger not read, a
    /// mistyped PIN); the customer tries again up to `attempts_max` times.
    pub failure_share: f64,
    pub attempts_max: u32,
}

impl Default for WalletConfig {
    fn default() -> WalletConfig {
        WalletConfig {
            latency: LatencySpec::lognormal(350.0, 1500.0),
            failure_share: 0.03,
            attempts_max: 3,
        }
    }
}

/// The merchant-facing gateway.
///
/// `stall_start_s` and `stall_duration_s` are the one fault available before
/// the chaos layer: while simulated time is inside
/// `[stall_start_s, stall_start_s + stall_duration_s)` the gateway starts
/// serving no request; each waits until the window ends (requests already
/// past that point carry on). Clients keep their timeouts, so a stall longer
/// than `clients.timeout_ms` also produces retries and unknowns. No stall by
/// default.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// The gateway's own processing (parsing, fraud screen, encryption).
    pub latency: LatencySpec,
    pub capacity: u32,
    /// Start of the stall window, simulated seconds since the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stall_start_s: Option<f64>,
    /// Length of the stall window (0: no stall).
    pub stall_duration_s: f64,
    pub idempotency: IdempotencyConfig,
    pub dedup: DedupConfig,
    pub fraud: FraudConfig,
    /// How long the gateway waits for a network, issuer or rail where a
    /// chaos plan can make it hang; then the outcome is unknown and the
    /// gateway reconciles it. Below the clients' timeout, so the merchant
    /// hears 504 rather than nothing.
    pub downstream_timeout_ms: f64,
}

impl GatewayConfig {
    /// The stall window in microseconds since the start of the run, if any.
    pub fn stall_window_us(&self) -> Option<(u64, u64)> {
        let start = self.stall_start_s?;
        if self.stall_duration_s > 0.0 {
            let start_us = (start.max(0.0) * 1e6) as u64;
            Some((start_us, start_us + (self.stall_duration_s * 1e6) as u64))
        } else {
            None
        }
    }
}

impl Default for GatewayConfig {
    fn default() -> GatewayConfig {
        GatewayConfig {
            latency: LatencySpec::lognormal(8.0, 40.0),
            capacity: 20_000,
            stall_start_s: None,
            stall_duration_s: 0.0,
            idempotency: IdempotencyConfig::default(),
            dedup: DedupConfig::default(),
            fraud: FraudConfig::default(),
            downstream_timeout_ms: 1_000.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IdempotencyConfig {
    /// How long a key and its stored response are kept (Stripe: 24 h).
    pub retention_s: f64,
    /// How often expired keys are pruned.
    pub prune_interval_s: f64,
    /// What survives a crash of the gateway: `durable` (committed writes,
    /// as in a database) or `memory` (nothing, as in a cache). Only a chaos
    /// plan's `crash` fault makes the difference show.
    pub durability: crate::chaos::Durability,
}

impl Default for IdempotencyConfig {
    fn default() -> IdempotencyConfig {
        IdempotencyConfig {
            retention_s: 86_400.0,
            prune_interval_s: 60.0,
            durability: crate::chaos::Durability::Durable,
        }
    }
}

/// What to do with a keyless request identical (customer, merchant, amount)
/// to one seen within the dedup window.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DedupPolicy {
    /// Answer 409 `duplicate_request`.
    Reject,
    /// Answer with the earlier payment, marked as a replay.
    ReturnExisting,
    /// Execute it anyway (the window only counts).
    Allow,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DedupConfig {
    pub window_s: f64,
    pub policy: DedupPolicy,
}

impl Default for DedupConfig {
    fn default() -> DedupConfig {
        DedupConfig {
            window_s: 10.0,
            policy: DedupPolicy::ReturnExisting,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    /// Card payments above this amount are declined as suspected fraud.
    pub amount_max_minor: i64,
    /// More than this many card payments per card within the window are
    /// declined as suspected fraud (velocity rule).
    pub velocity_max: u32,
    pub velocity_window_s: f64,
}

impl Default for FraudConfig {
    fn default() -> FraudConfig {
        FraudConfig {
            amount_max_minor: 1_000_000,
            velocity_max: 6,
            velocity_window_s: 60.0,
        }
    }
}

/// The card networks. Network `i` serves the card numbers whose first digit
/// is `first_digits[i]` (4 and 5 by default, like the two largest brands).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NetworksConfig {
    pub first_digits: Vec<u32>,
    pub latency: LatencySpec,
    pub capacity: u32,
    /// Messages a network has out to its issuers at once, all issuers
    /// together (its switch's table of outstanding requests). A message
    /// holds its link until the issuer answers, so a slow issuer can take
    /// them all and stall the others: what a per-issuer bulkhead prevents.
    pub links: u32,
}

impl Default for NetworksConfig {
    fn default() -> NetworksConfig {
        NetworksConfig {
            first_digits: vec![4, 5],
            latency: LatencySpec::lognormal(12.0, 60.0),
            capacity: 20_000,
            links: 10_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct IssuersConfig {
    pub count: u32,
    pub latency: LatencySpec,
    pub capacity: u32,
    /// An uncaptured authorization hold is released after this long.
    pub hold_expiry_s: f64,
    /// How often each issuer sweeps expired holds.
    pub expiry_sweep_interval_s: f64,
    /// The per-payment limit on a card; above it: declined `limit_exceeded`.
    pub per_payment_limit_minor: i64,
    /// Share of authorizations the issuer's own risk engine declines as
    /// suspected fraud.
    pub risk_decline_share: f64,
    /// How long an issuer remembers its answer to each message, so a repeat
    /// or a duplicate delivery moves no money twice. Must outlast the
    /// gateway's reconciliation of a timed-out call.
    pub message_log_s: f64,
}

impl Default for IssuersConfig {
    fn default() -> IssuersConfig {
        IssuersConfig {
            count: 4,
            latency: LatencySpec::lognormal(40.0, 250.0),
            capacity: 10_000,
            hold_expiry_s: 7.0 * 86_400.0,
            expiry_sweep_interval_s: 60.0,
            per_payment_limit_minor: 500_000,
            risk_decline_share: 0.002,
            message_log_s: 3_600.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BankConfig {
    /// The instant rail (Faster Payments, RTP): answers within the request.
    pub instant: ComponentConfig,
    /// The batch rail (ACH): transfers queue and run every interval.
    pub batch_interval_s: f64,
    /// Transfers waiting for the next batch; beyond it the gateway answers 503.
    pub batch_queue_max: u32,
}

impl Default for BankConfig {
    fn default() -> BankConfig {
        BankConfig {
            instant: ComponentConfig::new(60.0, 400.0, 5_000),
            batch_interval_s: 3_600.0,
            batch_queue_max: 1_000_000,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AcquirerConfig {
    /// How often the acquirer closes a settlement batch.
    pub settlement_interval_s: f64,
    pub fees: FeeTable,
}

impl Default for AcquirerConfig {
    fn default() -> AcquirerConfig {
        AcquirerConfig {
            settlement_interval_s: 3_600.0,
            fees: FeeTable::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Events waiting for delivery; producers wait when it is full.
    pub queue_capacity: u32,
    /// Deliveries in flight at once (including those waiting to retry).
    pub in_flight_max: u32,
    /// Delivery attempts before an event goes to the dead-letter queue.
    pub attempts_max: u32,
    pub backoff_base_ms: f64,
    pub backoff_max_ms: f64,
    /// How long a delivery waits for the endpoint's answer where a chaos
    /// plan can make it hang; then the attempt counts as failed.
    pub timeout_ms: f64,
    /// The merchant endpoint: its latency and how often it fails.
    pub endpoint: EndpointConfig,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            queue_capacity: 100_000,
            in_flight_max: 50_000,
            attempts_max: 6,
            backoff_base_ms: 500.0,
            backoff_max_ms: 60_000.0,
            timeout_ms: 5_000.0,
            endpoint: EndpointConfig::default(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointConfig {
    pub latency: LatencySpec,
    /// Share of deliveries answered 5xx before the merchant processed them.
    pub failure_share: f64,
    /// Share of deliveries processed but whose 2xx never reached the gateway
    /// (so the event is delivered again and must be deduplicated).
    pub lost_ack_share: f64,
    /// Share of merchants whose endpoint is down for the whole run: their
    /// events exhaust their attempts and land in the dead-letter queue.
    pub down_merchant_share: f64,
}

impl Default for EndpointConfig {
    fn default() -> EndpointConfig {
        EndpointConfig {
            latency: LatencySpec::lognormal(30.0, 200.0),
            failure_share: 0.02,
            lost_ack_share: 0.01,
            down_merchant_share: 0.0,
        }
    }
}
