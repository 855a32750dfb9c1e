//! The Grafana dashboards under dashboards/: each is a current JSON model
//! (schemaVersion 39 or later) whose every panel, query and annotation
//! reads the `datasource` template variable (no hard-coded datasource uid),
//! and every metric name in every PromQL expression (panel targets,
//! annotations, template variable queries) is one telemetry exports or a
//! series the rules of `paystorm rules` record. A dashboard with a
//! misspelled metric (tests/fixtures/dashboards/misspelled.json) fails.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::dashboards::{dashboards, expressions, load, panels};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---- PromQL: the metric names an expression reads -----------------------

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Open,
    Close,
    Other,
}

/// Aggregations, set and grouping keywords, modifiers and literals: words
/// that are never metric names even when no parenthesis follows them.
const KEYWORDS: [&str; 27] = [
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
];

/// Keywords followed by a list of label names in parentheses.
const LABEL_LISTS: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Skips from `i` (an opening `open`) past its matching `close`, stepping
/// over string literals; returns the index after it.
fn skip_group(c: &[char], mut i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    while i < c.len() {
        match c[i] {
            '"' | '\'' | '`' => {
                i = skip_string(c, i);
                continue;
            }
            x if x == open => depth += 1,
            x if x == close => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

fn skip_string(c: &[char], i: usize) -> usize {
    let quote = c[i];
    let mut j = i + 1;
    while j < c.len() && c[j] != quote {
        if c[j] == '\\' && quote != '`' {
            j += 1;
        }
        j += 1;
    }
    j + 1
}

fn tokens(expr: &str) -> Vec<Tok> {
    let c: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        match ch {
            '"' | '\'' | '`' => i = skip_string(&c, i),
            // Label matchers and range selectors (durations, subqueries).
            '{' => i = skip_group(&c, i, '{', '}'),
            '[' => i = skip_group(&c, i, '[', ']'),
            // A Grafana variable: $name, ${name}, ${name:format}.
            '$' => {
                i += 1;
                if i < c.len() && c[i] == '{' {
                    i = skip_group(&c, i, '{', '}');
                } else {
                    while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_') {
                        i += 1;
                    }
                }
            }
            '#' => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            // Numbers and durations (0.99, 1e-3, 0x1f, 5m, 1h30m).
            d if d.is_ascii_digit()
                || (d == '.' && c.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while i < c.len()
                    && (c[i].is_ascii_alphanumeric()
                        || c[i] == '.'
                        || ((c[i] == '-' || c[i] == '+') && matches!(c[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                out.push(Tok::Other);
            }
            a if a.is_ascii_alphabetic() || a == '_' || a == ':' => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            _ => {
                if !ch.is_whitespace() {
                    out.push(Tok::Other);
                }
                i += 1;
            }
        }
    }
    out
}

/// Grafana's `label_values(selector, label)` reads `selector`'s metric;
/// `label_values(label)` reads none.
fn unwrap_label_values(expr: &str) -> String {
    let e = expr.trim();
    if let Some(args) = e
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return match args.rsplit_once(',') {
            Some((selector, _label)) => selector.to_string(),
            None => String::new(),
        };
    }
    e.to_string()
}

/// The metric names `expr` reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let toks = tokens(&unwrap_label_values(expr));
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < toks.len() {
        if let Tok::Ident(word) = &toks[i] {
            let next_open = toks.get(i + 1) == Some(&Tok::Open);
            if LABEL_LISTS.contains(&word.as_str()) && next_open {
                // Skip the label list.
                let mut depth = 0;
                i += 1;
                while i < toks.len() {
                    match toks[i] {
                        Tok::Open => depth += 1,
                        Tok::Close => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            } else if !next_open && !KEYWORDS.contains(&word.as_str()) {
                names.insert(word.clone());
            }
        }
        i += 1;
    }
    names
}

// ---- Dashboards -----------------------------------------------------------

/// What the dashboards may query: every series telemetry exports (a
/// histogram as its _bucket, _sum and _count), every series the rules of
/// `paystorm rules` record, and Prometheus' own ALERTS.
fn known_names() -> BTreeSet<String> {
    let mut known = BTreeSet::new();
    for spec in paystorm::telemetry::catalogue() {
        match spec.kind {
            paystorm::telemetry::family::Kind::Histogram => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    known.insert(format!("{}{suffix}", spec.name));
                }
            }
            _ => {
                known.insert(spec.name.to_string());
            }
        }
    }
    let file = paystorm::slo::SloFile::from_path(&root().join("slos/payments.toml")).unwrap();
    let slos = paystorm::slo::compile(&file.slo).unwrap();
    let rules = paystorm::slo::rules::render("paystorm", &slos);
    for line in rules.lines() {
        if let Some(name) = line.trim().strip_prefix("- record: ") {
            known.insert(name.trim().to_string());
        }
    }
    assert!(
        known.contains("slo:sli_error:ratio_rate5m"),
        "the rules record the SLI"
    );
    known.insert("ALERTS".to_string());
    known
}

/// Every problem with one dashboard.
fn problems(d: &Value, known: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    let ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    if d["schemaVersion"].as_u64().unwrap_or(0) < 39 {
        out.push(format!(
            "schemaVersion {} is older than 39",
            d["schemaVersion"]
        ));
    }
    let vars = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !vars.iter().any(|v| {
        v["name"] == "datasource" && v["type"] == "datasource" && v["query"] == "prometheus"
    }) {
        out.push("no `datasource` template variable of type datasource for prometheus".into());
    }
    for v in vars.iter().filter(|v| v["type"] == "query") {
        if v["datasource"] != ds {
            out.push(format!(
                "variable `{}` does not read ${{datasource}}",
                v["name"]
            ));
        }
    }
    let mut ids = BTreeSet::new();
    for p in panels(d) {
        let title = p["title"].as_str().unwrap_or("?");
        if !ids.insert(p["id"].as_u64()) {
            out.push(format!("panel `{title}` repeats id {}", p["id"]));
        }
        if p["type"] == "row" {
            continue;
        }
        if p["datasource"] != ds {
            out.push(format!("panel `{title}` does not read ${{datasource}}"));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            out.push(format!("panel `{title}` has no query"));
        }
        for t in targets {
            if t["datasource"] != ds {
                out.push(format!(
                    "a query of panel `{title}` does not read ${{datasource}}"
                ));
            }
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if a["datasource"] != ds {
            out.push(format!(
                "annotation `{}` does not read ${{datasource}}",
                a["name"]
            ));
        }
    }
    // No datasource uid written in anywhere.
    let mut uids = Vec::new();
    collect_uids(d, &mut uids);
    for uid in uids {
        if uid != "${datasource}" && Some(uid.as_str()) != d["uid"].as_str() {
            out.push(format!("hard-coded uid `{uid}`"));
        }
    }
    let exprs = expressions(d);
    if exprs.is_empty() {
        out.push("no PromQL at all".into());
    }
    for (place, e) in exprs {
        let names = metric_names(&e);
        if names.is_empty() && !e.trim().is_empty() {
            out.push(format!("{place}: reads no metric: {e}"));
        }
        for n in names {
            if !known.contains(&n) {
                out.push(format!(
                    "{place}: `{n}` is not a metric paystorm exports or records ({e})"
                ));
            }
        }
    }
    out
}

fn collect_uids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "uid" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                }
                collect_uids(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_uids(x, out)),
        _ => {}
    }
}

#[test]
fn every_dashboard_reads_only_exported_metrics_through_the_datasource_variable() {
    let known = known_names();
    let all = dashboards();
    assert!(all.len() >= 4, "overview, SLOs, resilience, chaos");
    let mut uids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for (path, d) in &all {
        let p = problems(d, &known);
        assert!(p.is_empty(), "{}:\n  {}", path.display(), p.join("\n  "));
        assert!(
            uids.insert(d["uid"].as_str().unwrap().to_string()),
            "uid repeated"
        );
        for (_, e) in expressions(d) {
            used.extend(metric_names(&e));
        }
    }
    // What the issue asks the dashboards to show is there.
    for name in [
        "paystorm_component_requests_total",
        "paystorm_component_duration_seconds_bucket",
        "paystorm_request_duration_seconds_bucket",
        "paystorm_requests_total",
        "paystorm_breaker_state",
        "paystorm_rate_limited_total",
        "paystorm_shed_total",
        "paystorm_queue_depth",
        "paystorm_dead_letter_queue_depth",
        "paystorm_fault_active",
        "paystorm_faults_injected_total",
        "paystorm_slo_burn_rate",
        "paystorm_slo_error_budget_remaining_ratio",
        "slo:sli_error:ratio_rate5m",
        "slo:period_error_budget_remaining:ratio",
        "ALERTS",
    ] {
        assert!(used.contains(name), "no dashboard shows {name}");
    }
}

#[test]
fn a_misspelled_metric_is_caught() {
    let d = load(&root().join("tests/fixtures/dashboards/misspelled.json"));
    let p = problems(&d, &known_names());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("`paystorm_request_total`"), "{p:?}");
}

#[test]
fn a_hard_coded_datasource_is_caught() {
    let mut d = load(&root().join("dashboards/chaos.json"));
    d["panels"][2]["datasource"] =
        serde_json::json!({"type": "prometheus", "uid": "P1809F7CD0C75ACF3"});
    let p = problems(&d, &known_names());
    assert!(p.iter().any(|x| x.contains("P1809F7CD0C75ACF3")), "{p:?}");
    assert!(p.iter().any(|x| x.contains("does not read")), "{p:?}");
}

#[test]
fn the_tokenizer_finds_metrics_and_skips_everything_else() {
    let names = |e: &str| metric_names(e).into_iter().collect::<Vec<_>>();
    assert_eq!(
        names(
            r#"histogram_quantile(0.99, sum by (le, operation) (rate(paystorm_request_duration_seconds_bucket{operation="create", method=~"$method"}[$__rate_interval])))"#
        ),
        ["paystorm_request_duration_seconds_bucket"]
    );
    assert_eq!(
        names(
            r#"slo:sli_error:ratio_rate5m{sloth_slo="a"} / on(sloth_id, sloth_slo) group_left slo:error_budget:ratio{sloth_slo="a"}"#
        ),
        ["slo:error_budget:ratio", "slo:sli_error:ratio_rate5m"]
    );
    assert_eq!(
        names("sum without (instance) (rate(a_total[5m] offset 1h)) > bool 1e-3 and ignoring(x) b unless vector(0)"),
        ["a_total", "b"]
    );
    assert_eq!(
        names(r#"count(up{job="x}{"}) or max_over_time(c[1h:5m])"#),
        ["c", "up"]
    );
    assert_eq!(
        names("label_values(paystorm_breaker_state{a=\"b\"}, downstream)"),
        ["paystorm_breaker_state"]
    );
    assert!(names("label_values(downstream)").is_empty());
    assert!(names("2 * 3 + time()").is_empty());
}

/// Grafana's variables replaced by what Prometheus would see: intervals by
/// a duration, the multi-value variables (used only in `=~` matchers) by
/// `.*`.
fn as_prometheus_sees_it(expr: &str) -> String {
    let mut e = expr.to_string();
    for v in ["$__rate_interval", "$__interval", "$__range"] {
        e = e.replace(v, "1m");
    }
    let mut out = String::new();
    let mut chars = e.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars
                .peek()
                .is_some_and(|x| x.is_ascii_alphanumeric() || *x == '_')
            {
                chars.next();
            }
            out.push_str(".*");
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn promtool_parses_every_dashboard_expression() {
    // Each expression as a recording rule: `promtool check rules` parses
    // the PromQL, which the name check above does not.
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    let mut n = 0;
    for (path, d) in dashboards() {
        for (place, e) in expressions(&d) {
            if e.trim_start().starts_with("label_values(") {
                continue;
            }
            n += 1;
            let expr = serde_json::to_string(&as_prometheus_sees_it(&e)).unwrap();
            rules.push_str(&format!(
                "      # {} {}\n      - record: dashboard:expr{n}:check\n        expr: {expr}\n",
                path.file_name().unwrap().to_string_lossy(),
                place.replace('\n', " ")
            ));
        }
    }
    assert!(n > 40, "{n} expressions");
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("dashboards.yml");
    std::fs::write(&file, &rules).unwrap();
    let o = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool runs: install Debian's prometheus package (.ci/run does)");
    assert!(
        o.status.success(),
        "promtool check rules:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
