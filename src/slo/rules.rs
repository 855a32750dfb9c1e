//! Prometheus rules for a workload's objectives, so the SLOs a CI run gates
//! on are the ones production pages on: per objective, the SLI error ratio
//! recorded over the SRE Workbook's windows, the objective's metadata, and
//! multi-window multi-burn-rate alerts (page: 14.4x over 1 h and 5 min, or
//! 6x over 6 h and 30 min; ticket: 3x over 1 d and 2 h, or 1x over 3 d and
//! 6 h) for a 30-day period. Names and labels follow Sloth's output
//! (`slo:sli_error:ratio_rate5m`, `sloth_id`, `sloth_slo`, `sloth_window`,
//! ...), so dashboards built for Sloth read them.
//!
//! The rules read two metrics (what `paystorm serve` exports, and what a
//! service under test should export to reuse them):
//! - `paystorm_requests_total{operation, method, outcome, reason}`: logical
//!   requests by how they ended (`outcome` is ok, declined, rejected,
//!   failed or unknown; `reason` the decline reason or error code);
//! - `paystorm_request_duration_seconds_bucket{operation, method, le}`: their
//!   latency from the intended send time, with a bucket at each latency
//!   objective's limit.
//!
//! Objectives on avg, min or max have no error ratio and get no rules (the
//! file says so in a comment).

use std::fmt::Write as _;

use super::burn::WORKBOOK;
use super::outcome::ClassPattern;
use super::threshold::Stat;
use super::{Slo, SloKind};

/// Sloth's SLI windows for a 30-day objective.
const WINDOWS: [&str; 7] = ["5m", "30m", "1h", "2h", "6h", "1d", "3d"];

/// The rules file for `slos` of the service `service`.
pub fn render(service: &str, slos: &[Slo]) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# Prometheus rules for the service level objectives of `{service}`, written by\n# `paystorm rules`: SLI error ratios, objective metadata and SRE Workbook\n# multi-window multi-burn-rate alerts (30-day period), in Sloth's conventions.\ngroups:"
    );
    for slo in slos {
        let Some(share) = slo.budget_share().map(|s| (s * 1e10).round() / 1e10) else {
            let _ = writeln!(
                y,
                "  # `{}` ({}) has no error ratio: no rules.",
                slo.name,
                slo.describe()
            );
            continue;
        };
        let id = format!("{}-{}", slug(service), slug(&slo.name));
        let labels = format!(
            "sloth_id: {}, sloth_service: {}, sloth_slo: {}",
            q(&id),
            q(service),
            q(&slug(&slo.name))
        );
        let sel = format!(
            "sloth_id=\"{id}\", sloth_service=\"{}\", sloth_slo=\"{}\"",
            service,
            slug(&slo.name)
        );
        // SLI recordings.
        let _ = writeln!(y, "  - name: sloth-slo-sli-recordings-{id}\n    rules:");
        for w in WINDOWS {
            let _ = writeln!(
                y,
                "      - record: slo:sli_error:ratio_rate{w}\n        expr: {}\n        labels: {{{labels}, sloth_window: {}}}",
                q(&error_ratio(slo, w)),
                q(w)
            );
        }
        let _ = writeln!(
            y,
            "      - record: slo:sli_error:ratio_rate30d\n        expr: {}\n        labels: {{{labels}, sloth_window: \"30d\"}}",
            q(&format!(
                "sum_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d]) / ignoring (sloth_window) count_over_time(slo:sli_error:ratio_rate5m{{{sel}}}[30d])"
            ))
        );
        // Metadata.
        let objective = ((1.0 - share) * 1e10).round() / 1e10;
        let _ = writeln!(y, "  - name: sloth-slo-meta-recordings-{id}\n    rules:");
        for (record, expr) in [
            ("slo:objective:ratio", format!("vector({objective})")),
            ("slo:error_budget:ratio", format!("vector(1 - {objective})")),
            ("slo:time_period:days", "vector(30)".to_string()),
            (
                "slo:current_burn_rate:ratio",
                format!("slo:sli_error:ratio_rate5m{{{sel}}} / on(sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{{{sel}}}"),
            ),
            (
                "slo:period_burn_rate:ratio",
                format!("slo:sli_error:ratio_rate30d{{{sel}}} / on(sloth_id, sloth_slo, sloth_service) group_left slo:error_budget:ratio{{{sel}}}"),
            ),
            (
                "slo:period_error_budget_remaining:ratio",
                format!("1 - slo:period_burn_rate:ratio{{{sel}}}"),
            ),
        ] {
            let _ = writeln!(
                y,
                "      - record: {record}\n        expr: {}\n        labels: {{{labels}}}",
                q(&expr)
            );
        }
        let _ = writeln!(
            y,
            "      - record: sloth_slo_info\n        expr: vector(1)\n        labels: {{{labels}, sloth_objective: {}, paystorm_threshold: {}}}",
            q(&format!("{}", objective * 100.0)),
            q(&slo.describe())
        );
        // Alerts.
        let _ = writeln!(y, "  - name: sloth-slo-alerts-{id}\n    rules:");
        for severity in ["page", "ticket"] {
            let rows: Vec<&(&str, f64, f64, f64, f64)> =
                WORKBOOK.iter().filter(|r| r.0 == severity).collect();
            let expr = rows
                .iter()
                .map(|&&(_, long, short, burn, _)| {
                    format!(
                        "(max(slo:sli_error:ratio_rate{}{{{sel}}} > ({burn} * {share})) without (sloth_window) and max(slo:sli_error:ratio_rate{}{{{sel}}} > ({burn} * {share})) without (sloth_window))",
                        window_name(short),
                        window_name(long)
                    )
                })
                .collect::<Vec<_>>()
                .join(" or ");
            let _ = writeln!(
                y,
                "      - alert: {}\n        expr: {}\n        labels: {{severity: {severity}, sloth_severity: {severity}}}\n        annotations: {{summary: {}, title: {}}}",
                alert_name(&slo.name, severity),
                q(&expr),
                q(&format!("{} is burning its error budget too fast ({severity})", slo.name)),
                q(&format!("(page) {} error budget burn rate is too high", slo.name).replace("(page)", &format!("({severity})")))
            );
        }
    }
    y
}

/// The workbook's windows (seconds) as Prometheus durations.
fn window_name(seconds: f64) -> &'static str {
    match seconds as u64 {
        300 => "5m",
        1_800 => "30m",
        3_600 => "1h",
        7_200 => "2h",
        21_600 => "6h",
        86_400 => "1d",
        _ => "3d",
    }
}

/// The error ratio over window `w`.
fn error_ratio(slo: &Slo, w: &str) -> String {
    let mut base = format!("operation=\"{}\"", slo.op.as_str());
    if let Some(m) = slo.method {
        let _ = write!(base, ", method=\"{}\"", m.as_str());
    }
    match &slo.kind {
        SloKind::Availability { good, exclude, .. } => {
            let total = format!("sum(rate(paystorm_requests_total{{{base}}}[{w}]))");
            let terms = |patterns: &[ClassPattern]| -> String {
                if patterns.is_empty() {
                    return "0".into();
                }
                patterns
                    .iter()
                    .map(|p| {
                        let (outcome, reason) = p.labels();
                        let reason = reason
                            .map(|r| format!(", reason=\"{r}\""))
                            .unwrap_or_default();
                        format!("(sum(rate(paystorm_requests_total{{{base}, outcome=\"{outcome}\"{reason}}}[{w}])) or vector(0))")
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            };
            // Excluded requests leave the total; good ones that are also
            // excluded must not be subtracted twice.
            let (good, exclude) = (
                ClassPattern::disjoint(good),
                ClassPattern::disjoint(exclude),
            );
            let overlap: Vec<ClassPattern> = good
                .iter()
                .flat_map(|g| exclude.iter().filter_map(|e| g.intersect(e)))
                .collect();
            let (good, excluded, overlap) = (terms(&good), terms(&exclude), terms(&overlap));
            format!(
                "({total} - ({excluded}) - (({good}) - ({overlap}))) / ({total} - ({excluded}))"
            )
        }
        SloKind::Latency(t) => {
            let limit_s = t.limit / 1000.0;
            debug_assert!(matches!(t.stat, Stat::Percentile(_)));
            format!(
                "1 - (sum(rate(paystorm_request_duration_seconds_bucket{{{base}, le=\"{limit_s}\"}}[{w}])) / sum(rate(paystorm_request_duration_seconds_count{{{base}}}[{w}])))"
            )
        }
    }
}

/// `payments are available` -> `payments-are-available`: Sloth's `sloth_slo`
/// label, and telemetry's `slo` label.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `payments are available`, page -> `PaymentsAreAvailablePage`.
fn alert_name(name: &str, severity: &str) -> String {
    let mut out = String::new();
    for word in slug(name).split('-').chain([severity]) {
        let mut cs = word.chars();
        if let Some(f) = cs.next() {
            out.push(f.to_ascii_uppercase());
            out.extend(cs);
        }
    }
    out
}

/// A YAML string: JSON's double-quoted form, which YAML reads as is.
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slo::SloFile;

    fn slos(text: &str) -> Vec<Slo> {
        let f = SloFile::parse(text, "t.toml").unwrap();
        crate::slo::compile(&f.slo).unwrap()
    }

    #[test]
    fn an_availability_objective_gets_its_ratios_metadata_and_alerts() {
        let y = render(
            "steady",
            &slos("[[slo]]\nname = \"Payments up\"\nobjective = 0.999\nexclude = [\"rejected:idempotency_error\"]\n"),
        );
        for w in WINDOWS {
            assert!(
                y.contains(&format!("record: slo:sli_error:ratio_rate{w}\n")),
                "{w}"
            );
        }
        assert!(y.contains("sloth_id: \"steady-payments-up\""), "{y}");
        assert!(y.contains("alert: PaymentsUpPage") && y.contains("alert: PaymentsUpTicket"));
        assert!(
            y.contains("outcome=\\\"rejected\\\", reason=\\\"idempotency_error\\\""),
            "{y}"
        );
        assert!(y.contains("(14.4 * 0.001))"), "{y}");
        assert!(y.contains("vector(0.999)"), "{y}");
    }

    #[test]
    fn an_excluded_class_inside_a_good_family_is_not_subtracted_twice() {
        let y = render(
            "s",
            &slos("[[slo]]\nname = \"up\"\nobjective = 0.99\ngood = [\"ok\", \"rejected\", \"rejected:not_found\"]\nexclude = [\"rejected:idempotency_error\"]\n"),
        );
        let line = y
            .lines()
            .find(|l| l.contains("expr:") && l.contains("[5m]"))
            .unwrap();
        // (total - excluded - (good - overlap)) / (total - excluded): the
        // idempotency_error term appears in excluded (twice) and in the
        // overlap (once); rejected:not_found is covered by rejected.
        assert_eq!(
            line.matches("reason=\\\"idempotency_error\\\"").count(),
            3,
            "{line}"
        );
        assert!(!line.contains("not_found"), "{line}");
    }

    #[test]
    fn objectives_without_a_ratio_get_a_comment_only() {
        let y = render(
            "s",
            &slos("[[slo]]\nname = \"avg\"\nthreshold = \"avg < 100ms\"\n"),
        );
        assert!(y.contains("# `avg` (avg < 100 ms) has no error ratio: no rules."));
        assert!(!y.contains("record:"));
    }

    #[test]
    fn names_become_slugs_and_alert_names() {
        assert_eq!(slug("Payments are fast (p99)!"), "payments-are-fast-p99");
        assert_eq!(
            alert_name("payments are fast", "page"),
            "PaymentsAreFastPage"
        );
    }
}
