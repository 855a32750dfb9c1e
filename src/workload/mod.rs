//! Workload files: one TOML file says what load to send, at which stack, and
//! how its clients behave. Every section has defaults, so a workload only
//! states what it changes; unknown fields are errors, not silently ignored.

mod locate;
mod validate;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::domain::Currency;
use crate::load::curve::RateCurve;
use crate::load::schedule::Schedule;
use crate::load::spec::{Amounts, Clients, Lifecycle, LoadSpec, Mix, Population};
use crate::load::ArrivalSource;
use crate::sim::Seed;
use crate::stack::config::StackConfig;

pub use validate::Problem;

/// The workload `paystorm run` uses when given none.
pub const SMOKE: &str = include_str!("../../workloads/smoke.toml");

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WorkloadFile {
    pub name: String,
    pub description: String,
    /// ISO 4217 code of every payment in the run.
    pub currency: String,
    /// Seed used when `--seed` is not given.
    pub seed: u64,
    pub load: LoadSpec,
    pub mix: Mix,
    pub population: Population,
    pub amounts: Amounts,
    pub clients: Clients,
    pub lifecycle: Lifecycle,
    pub stack: StackConfig,
    pub drain: Drain,
}

impl Default for WorkloadFile {
    fn default() -> WorkloadFile {
        WorkloadFile {
            name: "unnamed".into(),
            description: String::new(),
            currency: "USD".into(),
            seed: 1,
            load: LoadSpec::default(),
            mix: Mix::default(),
            population: Population::default(),
            amounts: Amounts::default(),
            clients: Clients::default(),
            lifecycle: Lifecycle::default(),
            stack: StackConfig::default(),
            drain: Drain::default(),
        }
    }
}

/// The phase after the last arrival: holds expire, the last batches run,
/// webhooks are delivered or dead-lettered — bounded in simulated time.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Drain {
    pub max_s: f64,
}

impl Default for Drain {
    fn default() -> Drain {
        Drain {
            max_s: 8.0 * 86_400.0,
        }
    }
}

/// A parsed and validated workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Where it came from, as the user named it (or `<built-in smoke>`).
    pub source: String,
    pub currency: Currency,
    pub file: WorkloadFile,
}

/// Bad input: a one-paragraph message for the user; exit code 4.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl Workload {
    pub fn from_path(path: &Path) -> Result<Workload, InputError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError(format!(
                "error: cannot read workload file `{source}`: {e}. Check the path; `paystorm run` without a file runs the built-in smoke workload."
            ))
        })?;
        Workload::parse(&text, &source)
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
        let currency = Currency::parse(&file.currency).expect("validated above");
        Ok(Workload {
            source: source.to_string(),
            currency,
            file,
        })
    }

    /// The run's arrivals and how many are expected: the compiled rate curve
    /// (scaled by `rate_scale` and `cli_scale`), or the trace replay.
    pub fn arrivals(&self, seed: Seed, cli_scale: f64) -> Result<(ArrivalSource, f64), InputError> {
        let load = &self.file.load;
        let scale = load.rate_scale * cli_scale;
        match RateCurve::from_spec(load, scale) {
            Some(curve) => {
                let expected = curve.expected_arrivals();
                let schedule = Schedule::new(curve, load.arrivals, seed.stream("arrivals", 0));
                Ok((Box::new(schedule), expected))
            }
            None => Err(InputError(format!(
                "error: workload file `{}`, field `load.trace`: trace replay is not available in this build",
                self.source
            ))),
        }
    }

    /// The compiled rate curve, for the console header (`None` for a trace).
    pub fn curve(&self, cli_scale: f64) -> Option<RateCurve> {
        RateCurve::from_spec(&self.file.load, self.file.load.rate_scale * cli_scale)
    }

    pub fn name(&self) -> &str {
        &self.file.name
    }
}
