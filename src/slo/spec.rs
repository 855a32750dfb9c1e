//! The SLO spec as written: `[[slo]]` tables in a workload file, or in a
//! file of their own passed with `--slo`. Compiled into [`Slo`] with every
//! problem named by its field, so the file's line can be found.
//!
//! ```toml
//! [[slo]]
//! name = "payments are available"
//! objective = 0.999                  # good/total over the run
//! good = ["ok", "declined", "rejected"]   # the default
//! exclude = []
//!
//! [[slo]]
//! name = "card payments are fast"
//! method = "card_online"
//! threshold = "p(99) < 300ms"        # k6 syntax
//! window_s = 60                      # ... in every 60 s window
//! ```

use serde::{Deserialize, Serialize};

use crate::domain::Method;
use crate::metrics::OpKind;
use crate::workload::InputError;

use super::outcome::ClassPattern;
use super::threshold::{Cmp, Stat, Threshold};
use super::{Slo, SloKind};

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    pub name: String,
    /// `device_auth`, `create` (the default: payments), `capture`, `void`,
    /// `refund` or `get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Only requests of one payment method (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Availability: the share of good outcomes must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objective: Option<f64>,
    /// Outcomes that count as good (see `slo::outcome`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<Vec<String>>,
    /// Outcomes left out of the total.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Latency: this percentile of corrected latency ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// ... must be at most this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    /// Or a k6 threshold: `"p(99) < 300ms"`, `"avg < 100ms"`, `"rate < 0.001"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// The objective must hold in every window of this many seconds (of
    /// completion time), not only over the whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_s: Option<f64>,
    /// Stop sending load as soon as the objective is breached (after
    /// `grace_s`); the run then drains and reports as usual.
    #[serde(default)]
    pub abort_on_fail: bool,
    #[serde(default)]
    pub grace_s: f64,
}

/// A file of SLOs for `--slo`: `[[slo]]` tables and nothing else.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SloFile {
    #[serde(default)]
    pub slo: Vec<SloSpec>,
}

/// A problem with one field of one SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct SloProblem {
    /// Index of the `[[slo]]` table.
    pub index: usize,
    pub field: &'static str,
    pub message: String,
}

/// The one-paragraph error for a problem in the `index`-th `[[slo]]` of
/// `text` (a workload file or an SLO file named `source`).
pub fn problem_error(
    text: &str,
    source: &str,
    what: &str,
    specs: &[SloSpec],
    p: &SloProblem,
) -> InputError {
    let at = crate::workload::array_field_line(text, "slo", p.index, p.field)
        .map(|(l, c)| format!(", line {l}, column {c}"))
        .unwrap_or_default();
    let name = specs
        .get(p.index)
        .map(|s| format!(" (`{}`)", s.name))
        .unwrap_or_default();
    InputError(format!(
        "error: invalid {what} `{source}`{at}, slo {}{name}, field `{}`: {}. Fix the file, then check it with `paystorm validate {source}`.",
        p.index + 1,
        p.field,
        p.message
    ))
}

impl SloFile {
    /// Reads and checks a file of `[[slo]]` tables (`--slo`).
    pub fn from_path(path: &std::path::Path) -> Result<SloFile, InputError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError(format!(
                "error: cannot read SLO file `{source}`: {e}. Check the path (option --slo)."
            ))
        })?;
        SloFile::parse(&text, &source)
    }

    pub fn parse(text: &str, source: &str) -> Result<SloFile, InputError> {
        let file: SloFile = toml::from_str(text)
            .map_err(|e| crate::workload::toml_syntax_error(text, source, "SLO file", &e))?;
        if file.slo.is_empty() {
            return Err(InputError(format!(
                "error: SLO file `{source}` has no `[[slo]]` table, so it sets no objective. Add one, then check it with `paystorm validate {source}`."
            )));
        }
        super::compile(&file.slo)
            .map_err(|p| problem_error(text, source, "SLO file", &file.slo, &p))?;
        Ok(file)
    }
}

impl SloSpec {
    pub fn compile(&self, index: usize) -> Result<Slo, SloProblem> {
        let problem = |field: &'static str, message: String| SloProblem {
            index,
            field,
            message,
        };
        if self.name.trim().is_empty() {
            return Err(problem("name", "every SLO needs a name".into()));
        }
        let op = match self.operation.as_deref() {
            None => OpKind::Create,
            Some(o) => OpKind::ALL
                .into_iter()
                .find(|k| k.as_str() == o)
                .ok_or_else(|| {
                    let known: Vec<&str> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                    problem(
                        "operation",
                        format!("`{o}` is not an operation; known: {}", known.join(", ")),
                    )
                })?,
        };
        let method = match self.method.as_deref() {
            None => None,
            Some(m) => Some(
                Method::ALL
                    .into_iter()
                    .find(|k| k.as_str() == m)
                    .ok_or_else(|| {
                        let known: Vec<&str> = Method::ALL.iter().map(|k| k.as_str()).collect();
                        problem(
                            "method",
                            format!("`{m}` is not a payment method; known: {}", known.join(", ")),
                        )
                    })?,
            ),
        };
        let ways = [
            self.objective.is_some(),
            self.percentile.is_some() || self.max_ms.is_some(),
            self.threshold.is_some(),
        ];
        if ways.iter().filter(|w| **w).count() != 1 {
            return Err(problem(
                "objective",
                "say what must hold in exactly one way: `objective` (availability), `percentile` with `max_ms` (latency), or a k6 `threshold`".into(),
            ));
        }
        let kind = if let Some(o) = self.objective {
            if !(o > 0.0 && o < 1.0) {
                return Err(problem(
                    "objective",
                    format!("is the share of good outcomes, above 0 and below 1 (0.999 for 99.9%), got {o}"),
                ));
            }
            self.availability(index, 1.0 - o, false)?
        } else if let Some(t) = &self.threshold {
            let t = Threshold::parse(t).map_err(|e| problem("threshold", e))?;
            match t.stat {
                Stat::Rate if matches!(t.cmp, Cmp::Lt | Cmp::Le) => {
                    self.availability(index, t.limit, t.cmp == Cmp::Lt)?
                }
                Stat::Rate => return Err(problem(
                    "threshold",
                    "a rate is the share of bad outcomes and is bounded from above: use < or <="
                        .into(),
                )),
                _ => self.latency(index, t)?,
            }
        } else {
            let (Some(p), Some(max)) = (self.percentile, self.max_ms) else {
                return Err(problem(
                    if self.percentile.is_none() {
                        "percentile"
                    } else {
                        "max_ms"
                    },
                    "a latency objective needs both `percentile` and `max_ms`".into(),
                ));
            };
            if !(p > 0.0 && p < 100.0) {
                return Err(problem(
                    "percentile",
                    format!("is above 0 and below 100 (99.9 for p99.9), got {p}"),
                ));
            }
            if !(max.is_finite() && max > 0.0) {
                return Err(problem("max_ms", format!("must be above 0, got {max}")));
            }
            self.latency(
                index,
                Threshold {
                    stat: Stat::Percentile(p),
                    cmp: Cmp::Le,
                    limit: max,
                },
            )?
        };
        let window_us = match self.window_s {
            None => None,
            Some(w) if w.is_finite() && w > 0.0 => Some((w * 1e6) as u64),
            Some(w) => {
                return Err(problem(
                    "window_s",
                    format!("must be above 0 seconds, got {w}"),
                ))
            }
        };
        if !(self.grace_s.is_finite() && self.grace_s >= 0.0) {
            return Err(problem(
                "grace_s",
                format!("must be at least 0 seconds, got {}", self.grace_s),
            ));
        }
        Ok(Slo {
            name: self.name.clone(),
            op,
            method,
            kind,
            window_us,
            abort_on_fail: self.abort_on_fail,
            grace_us: (self.grace_s * 1e6) as u64,
        })
    }

    fn patterns(
        &self,
        index: usize,
        field: &'static str,
        list: &[String],
    ) -> Result<Vec<ClassPattern>, SloProblem> {
        list.iter()
            .map(|p| {
                ClassPattern::parse(p).map_err(|message| SloProblem {
                    index,
                    field,
                    message,
                })
            })
            .collect()
    }

    fn availability(
        &self,
        index: usize,
        max_bad: f64,
        strict: bool,
    ) -> Result<SloKind, SloProblem> {
        let default_good = ["ok", "declined", "rejected"].map(String::from);
        let good = self.patterns(index, "good", self.good.as_deref().unwrap_or(&default_good))?;
        let exclude = self.patterns(index, "exclude", &self.exclude)?;
        Ok(SloKind::Availability {
            good,
            exclude,
            max_bad,
            strict,
        })
    }

    fn latency(&self, index: usize, t: Threshold) -> Result<SloKind, SloProblem> {
        if self.good.is_some() || !self.exclude.is_empty() {
            return Err(SloProblem {
                index,
                field: if self.good.is_some() {
                    "good"
                } else {
                    "exclude"
                },
                message:
                    "sorts outcomes for availability; a latency objective counts every request"
                        .into(),
            });
        }
        Ok(SloKind::Latency(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml_text: &str) -> SloSpec {
        let f: SloFile = toml::from_str(&format!("[[slo]]\nname = \"x\"\n{toml_text}")).unwrap();
        f.slo[0].clone()
    }

    #[test]
    fn compiles_each_way_of_writing_an_objective() {
        let a = spec("objective = 0.999").compile(0).unwrap();
        assert!(
            matches!(a.kind, SloKind::Availability { max_bad, strict: false, .. } if (max_bad - 0.001).abs() < 1e-12)
        );
        assert_eq!(a.op, OpKind::Create);
        let l = spec("percentile = 99\nmax_ms = 300\noperation = \"capture\"")
            .compile(0)
            .unwrap();
        assert_eq!(l.op, OpKind::Capture);
        assert!(matches!(l.kind, SloKind::Latency(t) if t.limit == 300.0 && t.cmp == Cmp::Le));
        let k = spec("threshold = \"rate < 0.01\"\nmethod = \"qr_wallet\"")
            .compile(0)
            .unwrap();
        assert_eq!(k.method, Some(Method::QrWallet));
        assert!(matches!(k.kind, SloKind::Availability { strict: true, .. }));
        let w = spec("threshold = \"p(99) < 500ms\"\nwindow_s = 60")
            .compile(0)
            .unwrap();
        assert_eq!(w.window_us, Some(60_000_000));
    }

    #[test]
    fn a_bad_slo_names_file_slo_field_and_line() {
        let text = "[[slo]]\nname = \"fast\"\nthreshold = \"p(99) < 3ms\"\n\n[[slo]]\nname = \"up\"\nobjective = 1.5\n";
        let e = SloFile::parse(text, "slos.toml").unwrap_err().0;
        for part in ["slos.toml", "line 7", "slo 2 (`up`)", "field `objective`"] {
            assert!(e.contains(part), "{part}: {e}");
        }
        let e = SloFile::parse("name = 3", "s.toml").unwrap_err().0;
        assert!(e.contains("s.toml") && e.contains("line 1"), "{e}");
        assert!(SloFile::parse("", "e.toml")
            .unwrap_err()
            .0
            .contains("no `[[slo]]`"));
    }

    #[test]
    fn each_problem_names_its_field() {
        let field = |t: &str| spec(t).compile(3).unwrap_err();
        assert_eq!(field("objective = 99.9").field, "objective");
        assert_eq!(field("objective = 0.9\npercentile = 99").field, "objective");
        assert_eq!(field("percentile = 99").field, "max_ms");
        assert_eq!(field("threshold = \"rate > 0.1\"").field, "threshold");
        assert_eq!(
            field("threshold = \"p(99) < 3ms\"\ngood = [\"ok\"]").field,
            "good"
        );
        assert_eq!(field("objective = 0.9\ngood = [\"fine\"]").field, "good");
        assert_eq!(
            field("objective = 0.9\noperation = \"pay\"").field,
            "operation"
        );
        assert_eq!(field("objective = 0.9\nwindow_s = 0").field, "window_s");
        assert_eq!(field("objective = 2").index, 3);
    }
}
