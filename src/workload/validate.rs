//! Semantic checks a TOML parser cannot make: rates above zero, shares
//! between 0 and 1 that sum to 1 where they must, latency shapes that make
//! sense. Each problem names its dotted field path.

use crate::domain::{Currency, FeeSchedule};
use crate::load::spec::LoadSpec;
use crate::sim::LatencySpec;

use super::WorkloadFile;

#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, field: &str, message: String) {
        self.0.push(Problem {
            field: field.to_string(),
            message,
        });
    }

    fn positive(&mut self, field: &str, v: f64) {
        if !(v.is_finite() && v > 0.0) {
            self.add(field, format!("must be a number above 0, got {v}"));
        }
    }

    fn non_negative(&mut self, field: &str, v: f64) {
        if !(v.is_finite() && v >= 0.0) {
            self.add(field, format!("must be a number >= 0, got {v}"));
        }
    }

    fn share(&mut self, field: &str, v: f64) {
        if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
            self.add(
                field,
                format!("is a share and must be between 0 and 1, got {v}"),
            );
        }
    }

    fn at_least(&mut self, field: &str, v: u64, min: u64) {
        if v < min {
            self.add(field, format!("must be at least {min}, got {v}"));
        }
    }

    fn latency(&mut self, field: &str, spec: &LatencySpec) {
        if let Err(e) = spec.to_model() {
            self.add(field, e);
        }
    }

    fn median_p99(&mut self, field: &str, p50: i64, p99: i64) {
        if p50 <= 0 || p99 < p50 {
            self.add(
                field,
                format!(
                    "needs 0 < p50_minor <= p99_minor, got p50_minor = {p50}, p99_minor = {p99}"
                ),
            );
        }
    }

    fn fees(&mut self, field: &str, f: &FeeSchedule) {
        if f.percent_bps > 10_000 {
            self.add(
                &format!("{field}.percent_bps"),
                format!(
                    "is in basis points and must be at most 10000 (100%), got {}",
                    f.percent_bps
                ),
            );
        }
        self.non_negative(&format!("{field}.fixed_minor"), f.fixed_minor as f64);
    }
}

/// The load's curve shape: exactly one base shape, each with sane numbers.
fn load_shape(p: &mut Problems, l: &LoadSpec) {
    if let Some(stop) = l.stop_after_s {
        p.positive("load.stop_after_s", stop);
    }
    let constant = l.rate_per_s.is_some() || l.duration_s.is_some();
    let shapes = [
        ("rate_per_s/duration_s", constant),
        ("stages", !l.stages.is_empty()),
        ("day", l.day.is_some()),
        ("trace", l.trace.is_some()),
    ];
    let given: Vec<&str> = shapes.iter().filter(|s| s.1).map(|s| s.0).collect();
    if given.len() > 1 {
        p.add(
            "load",
            format!(
                "give one load shape, not several: found {}",
                given.join(" and ")
            ),
        );
    }
    if let Some(r) = l.rate_per_s {
        p.positive("load.rate_per_s", r);
    }
    if let Some(d) = l.duration_s {
        p.positive("load.duration_s", d);
    }
    p.non_negative("load.start_rate_per_s", l.start_rate_per_s);
    for (i, st) in l.stages.iter().enumerate() {
        p.non_negative(&format!("load.stages.{i}.target_per_s"), st.target_per_s);
        p.positive(&format!("load.stages.{i}.duration_s"), st.duration_s);
    }
    if let Some(day) = &l.day {
        p.positive("load.day.base_rate_per_s", day.base_rate_per_s);
        p.positive("load.day.hour_s", day.hour_s);
        if day.hourly.len() != 24 {
            p.add(
                "load.day.hourly",
                format!(
                    "needs 24 multipliers, one per hour from midnight, got {}",
                    day.hourly.len()
                ),
            );
        }
        for (h, m) in day.hourly.iter().enumerate() {
            if !(m.is_finite() && *m >= 0.0) {
                p.add(
                    "load.day.hourly",
                    format!("hour {h}: a multiplier must be >= 0, got {m}"),
                );
            }
        }
    }
    for (i, s) in l.spikes.iter().enumerate() {
        let f = format!("load.spikes.{i}");
        if s.name.trim().is_empty() {
            p.add(&format!("{f}.name"), "must not be empty".into());
        }
        p.non_negative(&format!("{f}.start_s"), s.start_s);
        p.positive(&format!("{f}.duration_s"), s.duration_s);
        p.non_negative(&format!("{f}.multiplier"), s.multiplier);
        p.non_negative(&format!("{f}.ramp_s"), s.ramp_s);
    }
    if l.trace.is_some() && !l.spikes.is_empty() {
        p.add(
            "load.spikes",
            "spikes shape a rate curve; a trace replay has none".into(),
        );
    }
    if let Some(t) = &l.trace {
        if t.path.trim().is_empty() {
            p.add(
                "load.trace.path",
                "must name a CSV or JSON-lines file".into(),
            );
        }
        p.positive("load.trace.speed", t.speed);
        if l.rate_scale != 1.0 {
            p.add(
                "load.rate_scale",
                "a trace replay has no rate curve to scale; set load.trace.speed instead".into(),
            );
        }
    }
    p.positive("load.rate_scale", l.rate_scale);
    p.non_negative("load.late_tolerance_ms", l.late_tolerance_ms);
}

/// Each cell needs at least one merchant, one customer and one payment in
/// flight, and a trace names its merchants and customers, so it cannot be
/// shared out.
fn cells(p: &mut Problems, w: &WorkloadFile) {
    let n = w.cells;
    if !(1..=super::MAX_CELLS).contains(&n) {
        p.add(
            "cells",
            format!("must be between 1 and {}, got {n}", super::MAX_CELLS),
        );
        return;
    }
    if n == 1 {
        return;
    }
    for (field, have) in [
        ("population.merchants", w.population.merchants),
        ("population.customers", w.population.customers),
        ("load.in_flight_max", w.load.in_flight_max),
        ("clients.connections_max", w.clients.connections_max),
    ] {
        if have < n {
            p.add(
                "cells",
                format!("is {n}, but {field} is {have}: each cell needs at least one"),
            );
        }
    }
    if w.load.trace.is_some() {
        p.add(
            "cells",
            format!("is {n}, but a trace replay names its merchants and customers, so it cannot be split across cells: use one cell"),
        );
    }
}

pub fn problems(w: &WorkloadFile) -> Vec<Problem> {
    let mut p = Problems::default();
    if w.name.trim().is_empty() {
        p.add("name", "must not be empty".into());
    }
    if Currency::parse(&w.currency).is_none() {
        p.add(
            "currency",
            format!(
                "must be an ISO 4217 code of three upper-case letters, got {:?}",
                w.currency
            ),
        );
    }

    load_shape(&mut p, &w.load);
    cells(&mut p, w);
    p.at_least("load.in_flight_max", w.load.in_flight_max.into(), 1);
    p.share("load.dropped_share_max", w.load.dropped_share_max);

    let mut sum = 0.0;
    for (method, share) in w.mix.shares() {
        p.share(&format!("mix.{}", method.as_str()), share);
        sum += share;
    }
    if (sum - 1.0).abs() > 1e-6 {
        p.add(
            "mix",
            format!("the payment-method shares must sum to 1, they sum to {sum}"),
        );
    }

    let pop = &w.population;
    p.at_least("population.merchants", pop.merchants.into(), 1);
    p.at_least("population.customers", pop.customers.into(), 1);
    p.median_p99(
        "population.balance_p50_minor",
        pop.balance_p50_minor,
        pop.balance_p99_minor,
    );
    p.share("population.short_of_funds_share", pop.short_of_funds_share);
    p.non_negative(
        "population.credit_limit_minor",
        pop.credit_limit_minor as f64,
    );
    p.non_negative("population.merchant_zipf_s", pop.merchant_zipf_s);

    p.median_p99(
        "amounts.p50_minor",
        w.amounts.p50_minor,
        w.amounts.p99_minor,
    );
    p.share("amounts.fraud_share", w.amounts.fraud_share);
    let mut category_shares = 0.0;
    for (i, c) in w.amounts.categories.iter().enumerate() {
        let f = format!("amounts.categories.{i}");
        if c.name.trim().is_empty() {
            p.add(&format!("{f}.name"), "must not be empty".into());
        }
        p.share(&format!("{f}.merchant_share"), c.merchant_share);
        p.median_p99(&format!("{f}.p50_minor"), c.p50_minor, c.p99_minor);
        category_shares += c.merchant_share;
    }
    if !w.amounts.categories.is_empty() && (category_shares - 1.0).abs() > 1e-6 {
        p.add(
            "amounts.categories",
            format!("the categories' merchant_share values must sum to 1, they sum to {category_shares}"),
        );
    }

    let c = &w.clients;
    p.positive("clients.timeout_ms", c.timeout_ms);
    p.at_least("clients.attempts_max", c.attempts_max.into(), 1);
    if c.attempts_max > 100 {
        p.add(
            "clients.attempts_max",
            format!("must be at most 100, got {}", c.attempts_max),
        );
    }
    p.non_negative("clients.backoff_base_ms", c.backoff_base_ms);
    p.non_negative("clients.backoff_max_ms", c.backoff_max_ms);
    p.positive("clients.give_up_after_ms", c.give_up_after_ms);
    p.at_least("clients.connections_max", c.connections_max.into(), 1);
    p.non_negative(
        "clients.double_submit_delay_max_ms",
        c.double_submit_delay_max_ms,
    );
    for (field, v) in [
        ("clients.double_submit_share", c.double_submit_share),
        (
            "clients.key_reuse_mismatch_share",
            c.key_reuse_mismatch_share,
        ),
        ("clients.keyless_share", c.keyless_share),
        ("clients.wrong_device_share", c.wrong_device_share),
        ("clients.pay_again_share", c.pay_again_share),
        ("clients.get_share", c.get_share),
        ("clients.callback_share", c.callback_share),
    ] {
        p.share(field, v);
    }

    let l = &w.lifecycle;
    for (field, v) in [
        ("lifecycle.manual_capture_share", l.manual_capture_share),
        ("lifecycle.void_share", l.void_share),
        ("lifecycle.abandon_share", l.abandon_share),
        ("lifecycle.partial_capture_share", l.partial_capture_share),
        ("lifecycle.refund_share", l.refund_share),
        ("lifecycle.double_refund_share", l.double_refund_share),
    ] {
        p.share(field, v);
    }
    if l.void_share + l.abandon_share > 1.0 {
        p.add(
            "lifecycle.abandon_share",
            format!(
                "void_share + abandon_share must not exceed 1, got {}",
                l.void_share + l.abandon_share
            ),
        );
    }
    p.non_negative("lifecycle.fulfilment_delay_max_s", l.fulfilment_delay_max_s);
    p.non_negative("lifecycle.refund_delay_max_s", l.refund_delay_max_s);

    let s = &w.stack;
    p.latency("stack.wallet.latency", &s.wallet.latency);
    p.share("stack.wallet.failure_share", s.wallet.failure_share);
    p.at_least("stack.wallet.attempts_max", s.wallet.attempts_max.into(), 1);
    for (name, cc) in [
        ("tokens", &s.tokens),
        ("qr", &s.qr),
        ("bank.instant", &s.bank.instant),
    ] {
        p.latency(&format!("stack.{name}.latency"), &cc.latency);
        p.at_least(&format!("stack.{name}.capacity"), cc.capacity.into(), 1);
    }
    p.latency("stack.gateway.latency", &s.gateway.latency);
    p.at_least("stack.gateway.capacity", s.gateway.capacity.into(), 1);
    if let Some(start) = s.gateway.stall_start_s {
        p.non_negative("stack.gateway.stall_start_s", start);
    }
    p.non_negative("stack.gateway.stall_duration_s", s.gateway.stall_duration_s);
    p.positive(
        "stack.gateway.idempotency.retention_s",
        s.gateway.idempotency.retention_s,
    );
    p.positive(
        "stack.gateway.idempotency.prune_interval_s",
        s.gateway.idempotency.prune_interval_s,
    );
    p.non_negative("stack.gateway.dedup.window_s", s.gateway.dedup.window_s);
    p.positive(
        "stack.gateway.fraud.amount_max_minor",
        s.gateway.fraud.amount_max_minor as f64,
    );
    p.positive(
        "stack.gateway.fraud.velocity_window_s",
        s.gateway.fraud.velocity_window_s,
    );

    let n = &s.networks;
    if n.first_digits.is_empty() {
        p.add(
            "stack.networks.first_digits",
            "needs at least one network".into(),
        );
    }
    for (i, d) in n.first_digits.iter().enumerate() {
        if !(1..=9).contains(d) {
            p.add(
                "stack.networks.first_digits",
                format!("entry {i} must be a digit 1 to 9, got {d}"),
            );
        }
        if n.first_digits[..i].contains(d) {
            p.add(
                "stack.networks.first_digits",
                format!("digit {d} is given to two networks"),
            );
        }
    }
    p.latency("stack.networks.latency", &n.latency);
    p.at_least("stack.networks.capacity", n.capacity.into(), 1);

    let i = &s.issuers;
    p.at_least("stack.issuers.count", i.count.into(), 1);
    if i.count > 100 {
        p.add(
            "stack.issuers.count",
            format!("must be at most 100 (one BIN range each), got {}", i.count),
        );
    }
    p.latency("stack.issuers.latency", &i.latency);
    p.at_least("stack.issuers.capacity", i.capacity.into(), 1);
    p.positive("stack.issuers.hold_expiry_s", i.hold_expiry_s);
    p.positive(
        "stack.issuers.expiry_sweep_interval_s",
        i.expiry_sweep_interval_s,
    );
    p.positive(
        "stack.issuers.per_payment_limit_minor",
        i.per_payment_limit_minor as f64,
    );
    p.share("stack.issuers.risk_decline_share", i.risk_decline_share);

    p.positive("stack.bank.batch_interval_s", s.bank.batch_interval_s);
    p.at_least(
        "stack.bank.batch_queue_max",
        s.bank.batch_queue_max.into(),
        1,
    );
    p.positive(
        "stack.acquirer.settlement_interval_s",
        s.acquirer.settlement_interval_s,
    );
    let f = &s.acquirer.fees;
    p.fees("stack.acquirer.fees.card", &f.card);
    p.fees("stack.acquirer.fees.qr", &f.qr);
    p.fees("stack.acquirer.fees.bank_instant", &f.bank_instant);
    p.fees("stack.acquirer.fees.bank_batch", &f.bank_batch);

    let wh = &s.webhooks;
    p.at_least("stack.webhooks.queue_capacity", wh.queue_capacity.into(), 1);
    p.at_least("stack.webhooks.in_flight_max", wh.in_flight_max.into(), 1);
    p.at_least("stack.webhooks.attempts_max", wh.attempts_max.into(), 1);
    if wh.attempts_max > 50 {
        p.add(
            "stack.webhooks.attempts_max",
            format!("must be at most 50, got {}", wh.attempts_max),
        );
    }
    p.non_negative("stack.webhooks.backoff_base_ms", wh.backoff_base_ms);
    p.non_negative("stack.webhooks.backoff_max_ms", wh.backoff_max_ms);
    p.latency("stack.webhooks.endpoint.latency", &wh.endpoint.latency);
    p.share(
        "stack.webhooks.endpoint.failure_share",
        wh.endpoint.failure_share,
    );
    p.share(
        "stack.webhooks.endpoint.lost_ack_share",
        wh.endpoint.lost_ack_share,
    );
    p.share(
        "stack.webhooks.endpoint.down_merchant_share",
        wh.endpoint.down_merchant_share,
    );

    p.positive("drain.max_s", w.drain.max_s);
    p.0
}
