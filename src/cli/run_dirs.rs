//! The commands that read or write a run's directory or a workload's
//! objectives without running anything: shrink, rules, report, diff.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{say, EXIT_INPUT, EXIT_INVALID};
use crate::report;
use crate::slo::SloFile;
use crate::workload::Workload;

pub fn shrink(run_dir: &std::path::Path, max_runs: u32) -> ExitCode {
    use crate::chaos::shrink::Failing;
    let failing = match Failing::load(run_dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    say(&format!(
        "shrinking `{}`: seed {}, {} faults, failed: {}",
        run_dir.display(),
        failing.seed,
        failing.faults.len(),
        failing.failed.join(", ")
    ));
    let shrunk = match failing.shrink(max_runs, say) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let cmd = match failing.write(&shrunk) {
        Ok(cmd) => cmd,
        Err(e) => {
            eprintln!(
                "error: cannot write the shrunk case into `{}`: {e}",
                run_dir.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let plan = if shrunk.faults.is_empty() {
        "(no fault is needed: it fails without chaos)\n".to_string()
    } else {
        crate::chaos::plan::render_plan("shrunk", "smallest failing fault plan", &shrunk.faults)
    };
    say(&format!(
        "\nsmallest failing case after {} runs{}: {} fault window{}, arrivals {}; still fails: {}\n\n{plan}\nreproduce with:\n  {cmd}",
        shrunk.runs,
        if shrunk.exhausted { " (budget exhausted; smaller may exist)" } else { "" },
        shrunk.faults.len(),
        if shrunk.faults.len() == 1 { "" } else { "s" },
        shrunk
            .stop_after_s
            .map_or_else(|| "over the whole load".to_string(), |s| format!("stopping at {s:.1} s")),
        shrunk.failed.join(", ")
    ));
    ExitCode::SUCCESS
}

pub fn rules_command(
    workload: &std::path::Path,
    slo: &[PathBuf],
    out: &std::path::Path,
) -> ExitCode {
    let mut w = match Workload::from_path(workload) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    for path in slo {
        match SloFile::from_path(path) {
            Ok(f) => w.file.slo.extend(f.slo),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(EXIT_INPUT);
            }
        }
    }
    if w.file.slo.is_empty() {
        eprintln!(
            "error: workload `{}` has no `[[slo]]` table and no --slo file was given, so there is nothing to write rules for",
            w.source
        );
        return ExitCode::from(EXIT_INPUT);
    }
    let slos = match crate::slo::compile(&w.file.slo) {
        Ok(s) => s,
        Err(p) => {
            eprintln!("error: slo {}: {}", p.index + 1, p.message);
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let rules = crate::slo::rules::render(w.name(), &slos);
    if let Err(e) = std::fs::write(out, rules) {
        eprintln!(
            "error: cannot write `{}` (option --out): {e}",
            out.display()
        );
        return ExitCode::from(EXIT_INPUT);
    }
    say(&format!(
        "rules for {} objectives: {} (check: promtool check rules {})",
        slos.len(),
        out.display(),
        out.display()
    ));
    ExitCode::SUCCESS
}

pub fn report_command(run_dir: &std::path::Path) -> ExitCode {
    let path = run_dir.join("results.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "error: cannot read `{}`: {e}. `paystorm report` takes the --out directory of a run.",
                path.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let html = serde_json::from_str::<serde_json::Value>(&text)
        .map_err(|e| {
            format!(
                "`{}` is not valid JSON: {e} (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })
        .and_then(|v| report::html::render(&v).map_err(|e| format!("`{}`: {e}", path.display())));
    let out = run_dir.join("report.html");
    match html.map(|h| std::fs::write(&out, h).map_err(|e| e.to_string())) {
        Ok(Ok(())) => {
            say(&format!("report: {}", out.display()));
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("error: cannot write `{}`: {e}", out.display());
            ExitCode::from(EXIT_INPUT)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_INPUT)
        }
    }
}

pub fn diff(
    base: &std::path::Path,
    new: &std::path::Path,
    tolerances: report::diff::Tolerances,
    json: Option<&std::path::Path>,
) -> ExitCode {
    let diff = match report::diff::Diff::load(base, new, tolerances) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(EXIT_INPUT);
        }
    };
    for warning in &diff.warnings {
        eprintln!("{warning}");
    }
    say(&diff.render());
    if let Some(path) = json {
        if let Err(e) = diff.write_json(path) {
            eprintln!(
                "error: cannot write the comparison to `{}` (option --json): {e}",
                path.display()
            );
            return ExitCode::from(EXIT_INPUT);
        }
    }
    // A regression is NEW over BASE's budget: the budget-breached code.
    if diff.regressions() > 0 {
        ExitCode::from(crate::exit_code::SLO_BREACHED)
    } else {
        ExitCode::SUCCESS
    }
}
