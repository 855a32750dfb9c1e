//! `paystorm validate`: workload files, chaos plans, SLO files and traces
//! checked without running them, each told apart by its content.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{say, EXIT_INPUT};
use crate::chaos::Plan;
use crate::load::trace;
use crate::slo::SloFile;
use crate::workload::Workload;

pub fn validate(files: &[PathBuf]) -> ExitCode {
    let mut bad = false;
    for f in files {
        if trace::is_trace_path(f) {
            match trace::check_file(f) {
                Ok(t) => say(&format!(
                    "ok: {} (trace: {} records over {:.1} s, {}; ids are range-checked via a workload)",
                    f.display(),
                    t.records,
                    t.duration_s,
                    t.currency
                )),
                Err(e) => {
                    eprintln!("{e}");
                    bad = true;
                }
            }
            continue;
        }
        if is_slo_file(f) {
            match SloFile::from_path(f) {
                Ok(file) => say(&format!(
                    "ok: {} (SLO file: {} objectives)",
                    f.display(),
                    file.slo.len()
                )),
                Err(e) => {
                    eprintln!("{e}");
                    bad = true;
                }
            }
            continue;
        }
        if is_chaos_plan(f) {
            match Plan::from_path(f) {
                Ok(p) => say(&format!(
                    "ok: {} (chaos plan `{}`: {} faults{})",
                    f.display(),
                    p.name,
                    p.faults.len(),
                    p.monkey
                        .as_ref()
                        .map(|m| format!(" and a monkey drawing {}", m.count))
                        .unwrap_or_default()
                )),
                Err(e) => {
                    eprintln!("{e}");
                    bad = true;
                }
            }
            continue;
        }
        match Workload::from_path(f) {
            Ok(w) => {
                say(&format!("ok: {} (workload `{}`)", f.display(), w.name()));
                for warning in crate::workload::capacity::warnings(&w, 1.0) {
                    say(&format!("  {warning}"));
                }
            }
            Err(e) => {
                eprintln!("{e}");
                bad = true;
            }
        }
    }
    if bad {
        ExitCode::from(EXIT_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

/// Whether a TOML file is an SLO file (`[[slo]]` tables and nothing else)
/// rather than a workload with objectives in it.
fn is_slo_file(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match text.parse::<toml::Table>() {
        Ok(t) => t.contains_key("slo") && t.len() == 1,
        Err(_) => {
            let headers: Vec<String> = text
                .lines()
                .map(|l| l.trim().replace(' ', ""))
                .filter(|l| l.starts_with('['))
                .collect();
            !headers.is_empty() && headers.iter().all(|h| h == "[[slo]]")
        }
    }
}

/// Whether a TOML file is a chaos plan (it has `[[fault]]` or `[monkey]`
/// tables) rather than a workload.
fn is_chaos_plan(path: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    match text.parse::<toml::Table>() {
        Ok(t) => t.contains_key("fault") || t.contains_key("monkey"),
        // Not TOML: judge by its table headers, so the syntax error is
        // reported as a plan's.
        Err(_) => text.lines().any(|l| {
            let l = l.trim().replace(' ', "");
            l == "[[fault]]" || l == "[monkey]"
        }),
    }
}
