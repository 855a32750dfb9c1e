//! Workload files: one TOML file says what load to send, at which stack, and
//! how its clients behave. Every section has defaults, so a workload only
//! states what it changes; unknown fields are errors, not silently ignored.

pub mod capacity;
mod locate;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::domain::Currency;
use crate::load::curve::RateCurve;
use crate::load::schedule::Schedule;
use crate::load::spec::{Amounts, Clients, Lifecycle, LoadSpec, Mix, Population};
use crate::load::trace;
use crate::load::ArrivalSource;
use crate::sim::Seed;
use crate::stack::config::StackConfig;

pub use locate::{array_field_line, find_field, line_col};
pub use validate::Problem;

/// More payments than this in one run is almost surely a typo in a rate.
pub const MAX_EXPECTED_PAYMENTS: f64 = 200_000_000.0;

/// The tiny workload, for tests and quick looks.
pub const SMOKE: &str = include_str!("../../workloads/smoke.toml");

/// The workload `paystorm run` uses when given no file: a whole Black Friday.
pub const DEFAULT: &str = include_str!("../../workloads/black-friday.toml");

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadFile {
    pub name: String,
    pub description: String,
    /// ISO 4217 code of every payment in the run.
    pub currency: String,
    /// Seed used when `--seed` is not given.
    pub seed: u64,
    /// Copies of the stack the traffic is split across, as a cell-based
    /// deployment splits it: `[stack]` and `[resilience]` describe one
    /// cell; `[load]` and `[population]` the whole traffic, shared out
    /// evenly. Cells share nothing, so they run on separate threads
    /// (`crate::sim::cells`). `run --cells N` overrides it.
    #[serde(skip_serializing_if = "is_one_cell")]
    pub cells: u32,
    pub load: LoadSpec,
    pub mix: Mix,
    pub population: Population,
    pub amounts: Amounts,
    pub clients: Clients,
    pub lifecycle: Lifecycle,
    pub stack: StackConfig,
    pub resilience: crate::resilience::ResilienceConfig,
    pub drain: Drain,
    /// Service level objectives: `[[slo]]` tables (more with `--slo FILE`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slo: Vec<crate::slo::SloSpec>,
}

/// Most cells a run may split into (each is a thread and a whole stack).
pub const MAX_CELLS: u32 = 256;

fn is_one_cell(cells: &u32) -> bool {
    *cells == 1
}

impl Default for WorkloadFile {
    fn default() -> WorkloadFile {
        WorkloadFile {
            name: "unnamed".into(),
            description: String::new(),
            currency: "USD".into(),
            seed: 1,
            cells: 1,
            load: LoadSpec::default(),
            mix: Mix::default(),
            population: Population::default(),
            amounts: Amounts::default(),
            clients: Clients::default(),
            lifecycle: Lifecycle::default(),
            stack: StackConfig::default(),
            resilience: crate::resilience::ResilienceConfig::default(),
            drain: Drain::default(),
            slo: Vec::new(),
        }
    }
}

/// The phase after the last arrival: holds expire, the last batches run,
/// webhooks are delivered or dead-lettered — bounded in simulated time.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Drain {
    pub max_s: f64,
    /// With chaos plans: how long after the last fault window the stack may
    /// take to resolve what the faults left unresolved (invariant
    /// `recovery_within_bound`). The default covers the gateway's
    /// reconciliation backoff (at most 10 s) and a webhook's whole retry
    /// schedule with endpoint timeouts.
    pub recovery_bound_s: f64,
}

impl Default for Drain {
    fn default() -> Drain {
        Drain {
            max_s: 8.0 * 86_400.0,
            recovery_bound_s: 120.0,
        }
    }
}

/// A parsed and validated workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Where it came from, as the user named it (or `<built-in black-friday>`).
    pub source: String,
    /// The directory a trace path is relative to: the workload file's own
    /// (empty, the current directory, for a workload parsed from text or
    /// named without a directory).
    pub base_dir: PathBuf,
    pub currency: Currency,
    pub file: WorkloadFile,
}

/// Bad input: a one-paragraph message for the user; exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// A TOML file (`what`: "chaos plan", "SLO file") that does not parse, as
/// a one-paragraph error naming the file, the line and the column.
pub fn toml_syntax_error(text: &str, source: &str, what: &str, e: &toml::de::Error) -> InputError {
    let at = e
        .span()
        .map(|s| line_col(text, s.start))
        .map(|(l, c)| format!(", line {l}, column {c}"))
        .unwrap_or_default();
    InputError(format!(
        "error: invalid {what} `{source}`{at}: {}. Fix the file, then check it with `paystorm validate {source}`.",
        e.message().trim().trim_end_matches('.')
    ))
}

impl Workload {
    pub fn from_path(path: &Path) -> Result<Workload, InputError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError(format!(
                "error: cannot read workload file `{source}`: {e}. Check the path; `paystorm run` without a file runs the built-in black-friday workload."
            ))
        })?;
        let mut w = Workload::parse(&text, &source)?;
        // Empty for a bare file name: the current directory, and error
        // messages show the trace path as the user would type it.
        w.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        w.check_trace(&text)?;
        Ok(w)
    }

    /// The trace this workload replays, resolved against its directory.
    pub fn trace_path(&self) -> Option<PathBuf> {
        let t = self.file.load.trace.as_ref()?;
        Some(trace::resolve(&self.base_dir, &t.path))
    }

    /// What a trace's records must fit: this workload's currency and
    /// population.
    pub fn trace_limits(&self) -> trace::Limits {
        trace::Limits {
            currency: Some(self.currency),
            merchants: Some(self.file.population.merchants),
            customers: Some(self.file.population.customers),
        }
    }

    /// A referenced trace must exist and be valid against this workload: a
    /// full streaming pass, so `paystorm validate` names the bad line.
    fn check_trace(&self, text: &str) -> Result<(), InputError> {
        let Some(path) = self.trace_path() else {
            return Ok(());
        };
        let source = &self.source;
        trace::scan(&path, &self.trace_limits()).map(|_| ()).map_err(|p| {
            if p.is_access() {
                let at = locate::find_field(text, "load.trace.path")
                    .map(|(l, c)| format!(", line {l}, column {c}"))
                    .unwrap_or_default();
                InputError(format!(
                    "error: invalid workload file `{source}`{at}, field `load.trace.path`: trace `{}`: {} (the path is relative to the workload file's directory). Fix the file, then check it with `paystorm validate {source}`.",
                    p.path, p.message
                ))
            } else {
                p.render(&format!(
                    "The trace is replayed by workload file `{source}` (field `load.trace.path`); fix it, then check it with `paystorm validate {source}`."
                ))
            }
        })
    }

    /// What `paystorm run` runs without a file: `workloads/black-friday.toml`,
    /// compiled in so it works from any directory.
    pub fn default_workload() -> Workload {
        Workload::parse(DEFAULT, "<built-in black-friday>")
            .expect("the built-in black-friday workload is valid")
    }

    pub fn smoke() -> Workload {
        Workload::parse(SMOKE, "<built-in smoke>").expect("the built-in smoke workload is valid")
    }

    /// Parses and validates; every problem names the file, the field and,
    /// where it can be found, the line and column.
    pub fn parse(text: &str, source: &str) -> Result<Workload, InputError> {
        let file: WorkloadFile = toml::from_str(text).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| locate::line_col(text, s.start))
                .unwrap_or((0, 0));
            let field = e.span().and_then(|s| locate::field_at(text, s.start));
            let field = field.map(|f| format!(", field `{f}`")).unwrap_or_default();
            let at = if line > 0 {
                format!(", line {line}, column {col}")
            } else {
                String::new()
            };
            InputError(format!(
                "error: invalid workload file `{source}`{at}{field}: {}. Fix the file, then check it with `paystorm validate {source}`.",
                e.message().trim().trim_end_matches('.')
            ))
        })?;
        let problems = validate::problems(&file);
        if let Some(first) = problems.first() {
            let at = locate::find_field(text, &first.field)
                .map(|(l, c)| format!(", line {l}, column {c}"))
                .unwrap_or_default();
            let more = match problems.len() {
                1 => String::new(),
                n => format!(
                    " ({} more problem{} after this one)",
                    n - 1,
                    if n == 2 { "" } else { "s" }
                ),
            };
            return Err(InputError(format!(
                "error: invalid workload file `{source}`{at}, field `{}`: {}{more}. Fix the file, then check it with `paystorm validate {source}`.",
                first.field, first.message
            )));
        }
        crate::slo::compile(&file.slo).map_err(|p| {
            crate::slo::spec::problem_error(text, source, "workload file", &file.slo, &p)
        })?;
        let currency = Currency::parse(&file.currency).expect("validated above");
        Ok(Workload {
            source: source.to_string(),
            base_dir: PathBuf::new(),
            currency,
            file,
        })
    }

    /// The run's arrivals and how many are expected: the compiled rate curve
    /// (scaled by `rate_scale` and `cli_scale`), or the trace replay.
    pub fn arrivals(&self, seed: Seed, cli_scale: f64) -> Result<(ArrivalSource, f64), InputError> {
        let (source, expected) = self.uncut_arrivals(seed, cli_scale)?;
        Ok(match self.file.load.stop_after_s {
            None => (source, expected),
            Some(stop_s) => {
                let stop_us = (stop_s * 1e6) as u64;
                (
                    Box::new(source.take_while(move |a| a.at_us <= stop_us)),
                    expected,
                )
            }
        })
    }

    fn uncut_arrivals(
        &self,
        seed: Seed,
        cli_scale: f64,
    ) -> Result<(ArrivalSource, f64), InputError> {
        let load = &self.file.load;
        let scale = load.rate_scale * cli_scale;
        match RateCurve::from_spec(load, scale) {
            Some(curve) => {
                let expected = curve.expected_arrivals();
                self.check_size(expected)?;
                let schedule = Schedule::new(curve, load.arrivals, seed.stream("arrivals", 0));
                Ok((Box::new(schedule), expected))
            }
            None => {
                let (Some(spec), Some(path)) = (load.trace.as_ref(), self.trace_path()) else {
                    return Err(InputError(format!(
                        "error: workload file `{}`, field `load`: no load shape to run",
                        self.source
                    )));
                };
                if cli_scale != 1.0 {
                    return Err(InputError(format!(
                        "error: option --rate-scale ({cli_scale}) does not apply to workload `{}`: it replays trace `{}`, which has no rate curve to scale. Set `load.trace.speed` in the workload instead (2 replays the trace twice as fast)",
                        self.source,
                        path.display()
                    )));
                }
                let p = &self.file.population;
                trace::arrivals(&path, spec.speed, self.currency, p.merchants, p.customers)
            }
        }
    }

    /// Refuses a run too large to be anything but a typo, before it starts.
    pub fn check_scale(&self, cli_scale: f64) -> Result<(), InputError> {
        match self.curve(cli_scale) {
            Some(curve) => self.check_size(curve.expected_arrivals()),
            None => Ok(()),
        }
    }

    fn check_size(&self, expected: f64) -> Result<(), InputError> {
        if expected > MAX_EXPECTED_PAYMENTS {
            return Err(InputError(format!(
                "error: workload file `{}`, field `load`: the rate curve asks for about {expected:.0} payments, more than one run handles ({MAX_EXPECTED_PAYMENTS:.0}); lower the rates or durations, or pass --rate-scale below 1",
                self.source
            )));
        }
        Ok(())
    }

    /// The payments a run of this workload expects, at `cli_scale` and over
    /// all its cells; `None` for a trace replay, whose size is not known
    /// before it is read.
    pub fn expected_payments(&self, cli_scale: f64) -> Option<f64> {
        self.curve(cli_scale).map(|c| c.expected_arrivals())
    }

    /// The compiled rate curve, for the console header (`None` for a trace).
    pub fn curve(&self, cli_scale: f64) -> Option<RateCurve> {
        RateCurve::from_spec(&self.file.load, self.file.load.rate_scale * cli_scale)
    }

    /// This workload split into `cells` (`run --cells`), checked as the
    /// `cells` field would be.
    pub fn with_cells(mut self, cells: u32) -> Result<Workload, InputError> {
        self.file.cells = cells;
        match validate::problems(&self.file)
            .into_iter()
            .find(|p| p.field == "cells")
        {
            Some(p) => Err(InputError(format!(
                "error: option --cells {cells} for workload `{}`: cells {}",
                self.source, p.message
            ))),
            None => Ok(self),
        }
    }

    pub fn name(&self) -> &str {
        &self.file.name
    }
}
