//! The label policy, stated apart from the code that writes labels so a
//! test can hold the exposition to it: which label names exist and which
//! values each may take. Every set is fixed by the code (operations,
//! methods, outcomes, states, fault kinds) or by the run's configuration
//! (issuer and network counts, fault targets, objective names) — nothing a
//! request carries. A payment id, an idempotency key, a merchant id or a
//! card number can therefore never pass, and the number of series cannot
//! grow with traffic.

use crate::chaos::{Kind, Target};
use crate::domain::{DeclineReason, Method};
use crate::metrics::OpKind;

use super::exposition::Sample;
use super::labels::{ERRORS, OUTCOMES};

/// What the run's configuration adds to the fixed sets.
#[derive(Clone, Debug, Default)]
pub struct RunLabels {
    /// The objectives' `slo` labels (slugs of their names).
    pub slos: Vec<String>,
    /// Cells the run was split into: `cell` takes `0` to `cells - 1`
    /// (0 or 1: a run of one stack, which has no `cell` label).
    pub cells: u32,
}

/// Reasons besides decline reasons and error codes.
const OTHER_REASONS: [&str; 8] = [
    "mismatch",
    "in_flight",
    "failed",
    "timed_out",
    "rejected",
    "amount",
    "card_limit",
    "advices_full",
];

/// Whether `value` is allowed for label `name`; `Err` says why not.
pub fn check_label(name: &str, value: &str, run: &RunLabels) -> Result<(), String> {
    let ok = match name {
        "operation" => value == "call" || OpKind::ALL.iter().any(|o| o.as_str() == value),
        "method" => Method::ALL.iter().any(|m| m.as_str() == value),
        "outcome" => OUTCOMES.contains(&value),
        "reason" => {
            value.is_empty()
                || DeclineReason::ALL.iter().any(|r| r.as_str() == value)
                || ERRORS.iter().any(|e| e.as_str() == value)
                || OTHER_REASONS.contains(&value)
        }
        "component" => value == "gateway" || value == "wallet" || is_downstream(value),
        "downstream" => is_downstream(value),
        "state" => ["closed", "open", "half_open"].contains(&value),
        "scope" => [
            "global",
            "merchant_top_1pct",
            "merchant_next_9pct",
            "merchant_rest",
        ]
        .contains(&value),
        "queue" => [
            "webhooks",
            "unresolved_messages",
            "stand_in_advices",
            "settlement",
        ]
        .contains(&value),
        "kind" => Kind::ALL.iter().any(|k| k.as_str() == value),
        "target" => Target::parse(value).is_ok_and(|t| t.to_string() == value),
        "slo" => run.slos.iter().any(|s| s == value),
        // A cell's index as the run wrote it: digits, no leading zero.
        "cell" => {
            run.cells > 1
                && value.bytes().all(|b| b.is_ascii_digit())
                && (value == "0" || !value.starts_with('0'))
                && value.parse::<u32>().is_ok_and(|k| k < run.cells)
        }
        "window" => value == "run" || super::slo::WINDOWS.iter().any(|(w, _)| *w == value),
        "version" => value == env!("CARGO_PKG_VERSION"),
        "le" => value == "+Inf" || value.parse::<f64>().is_ok_and(|v| v > 0.0 && v.is_finite()),
        _ => return Err(format!("label `{name}` is not in the policy")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}=\"{value}\"` is not an allowed value"))
    }
}

/// A guarded downstream: `issuer:N`, `network:N` (N a configured index)
/// or the webhook endpoint.
fn is_downstream(value: &str) -> bool {
    if value == "webhook-endpoint" {
        return true;
    }
    match value.split_once(':') {
        Some(("issuer" | "network", n)) => n.len() <= 3 && n.parse::<u16>().is_ok(),
        _ => false,
    }
}

/// Every label of every sample checked; the problems found, at most 20.
pub fn check(samples: &[Sample], run: &RunLabels) -> Result<(), Vec<String>> {
    let problems: Vec<String> = samples
        .iter()
        .flat_map(|s| {
            s.labels
                .iter()
                .filter_map(|(k, v)| check_label(k, v, run).err())
                .map(|e| format!("{}: {e}", s.name))
                .collect::<Vec<_>>()
        })
        .take(20)
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunLabels {
        RunLabels {
            slos: vec!["payments-fast".into()],
            cells: 3,
        }
    }

    #[test]
    fn ids_keys_and_unknown_labels_are_refused() {
        for (name, value) in [
            ("payment_id", "42"),
            ("merchant", "17"),
            ("reason", "merchant_1234"),
            ("reason", "pay_000042"),
            ("component", "issuer:abc"),
            ("component", "issuer:123456"),
            ("slo", "someone-elses"),
            ("target", "gateway->moon"),
            ("le", "-1"),
            ("le", "NaN"),
            ("cell", "3"),
            ("cell", "01"),
            ("cell", "-1"),
            ("cell", "+1"),
        ] {
            assert!(check_label(name, value, &run()).is_err(), "{name}={value}");
        }
    }

    #[test]
    fn the_fixed_sets_pass() {
        for (name, value) in [
            ("operation", "device_auth"),
            ("method", "qr_wallet"),
            ("outcome", "dead_lettered"),
            ("reason", ""),
            ("reason", "idempotency_error"),
            ("reason", "insufficient_funds"),
            ("component", "issuer:3"),
            ("downstream", "webhook-endpoint"),
            ("target", "network->issuer:0"),
            ("slo", "payments-fast"),
            ("window", "5m"),
            ("le", "0.3"),
            ("cell", "0"),
            ("cell", "2"),
        ] {
            assert_eq!(check_label(name, value, &run()), Ok(()), "{name}={value}");
        }
        let one_stack = RunLabels::default();
        assert!(check_label("cell", "0", &one_stack).is_err());
    }
}
