//! The Grafana dashboards under dashboards/, read: each file's JSON model
//! and every PromQL expression in it (panel targets, annotations, template
//! variable queries) with where it is. `tests/dashboards.rs` checks the
//! names they read; `tests/prometheus.rs` runs them against a Prometheus.

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

pub fn dashboards() -> Vec<(PathBuf, Value)> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("dashboards"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
    paths.sort();
    paths.into_iter().map(|p| (p.clone(), load(&p))).collect()
}

/// Every panel, rows' nested panels included.
pub fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for q in p["panels"].as_array().into_iter().flatten() {
            out.push(q);
        }
    }
    out
}

/// Every PromQL expression with where it is.
pub fn expressions(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((
                    format!("panel `{}`", p["title"].as_str().unwrap_or("?")),
                    e.to_string(),
                ));
            }
        }
    }
    for a in d["annotations"]["list"].as_array().into_iter().flatten() {
        if let Some(e) = a["expr"].as_str() {
            out.push((
                format!("annotation `{}`", a["name"].as_str().unwrap_or("?")),
                e.to_string(),
            ));
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let q = match &v["query"] {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("query").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        if let Some(q) = q {
            out.push((
                format!("variable `{}`", v["name"].as_str().unwrap_or("?")),
                q,
            ));
        }
    }
    out
}
