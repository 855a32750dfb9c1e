//! Fault plan files: what `--chaos FILE` reads. A plan is a list of
//! `[[fault]]` tables (target, kind, window, probability, kind-specific
//! parameters) and, optionally, a `[monkey]` table that draws a random mix of
//! faults from the run's seed. Parsing turns every string into a typed value
//! and every problem into a one-paragraph error naming the file, the fault,
//! the field and its line.

use serde::{Deserialize, Serialize};

use crate::sim::{LatencyModel, LatencySpec};
use crate::workload::InputError;

use super::target::Target;
use super::window::Window;

/// A plan as written.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monkey: Option<MonkeySpec>,
    #[serde(default)]
    pub fault: Vec<FaultSpec>,
}

/// One `[[fault]]` table as written. Which optional fields apply depends on
/// `kind`; a field that does not apply is an error, not silently ignored.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    // Every optional field is left out when absent, so a rendered plan
    // reads back as written.
    /// A label for reports; defaults to `kind@target`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub target: String,
    pub kind: String,
    /// Start of the (first) window, simulated seconds since the run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_s: Option<f64>,
    /// Length of a single window (for `crash`: how long the restart takes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Repeating windows: one starts every `every_s`, lasting `for_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub for_s: Option<f64>,
    /// No repeating window starts at or after this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until_s: Option<f64>,
    /// Share of calls in the window the fault hits (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// `latency`: the added delay. `duplicate`: when the copy arrives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// `error` at client->gateway: the HTTP error the client sees.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `outage`: `hang` or `refuse`. `webhook_down`: `5xx` or `timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// `partition`: `both`, `forward` (requests lost) or `backward`
    /// (responses lost).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// `crash`: what the restarted gateway's idempotency store kept:
    /// `durable` or `memory` (default: the workload's setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// `clock_skew`: how far the target's clock is off (negative: behind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_s: Option<f64>,
}

/// `[monkey]`: `count` faults drawn from the seed, spread over the load
/// phase, each a random kind on a random target it applies to.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MonkeySpec {
    pub count: u32,
    /// Kinds to draw from (default: every kind but `crash` and `clock_skew`).
    pub kinds: Option<Vec<String>>,
    /// Shortest and longest window, seconds.
    pub window_min_s: Option<f64>,
    pub window_max_s: Option<f64>,
    /// Share of calls each drawn fault hits (default 0.3).
    pub probability: Option<f64>,
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Latency,
    Error,
    Outage,
    Partition,
    DropResponse,
    Duplicate,
    Crash,
    ClockSkew,
    QueueStall,
    WebhookDown,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Latency,
        Kind::Error,
        Kind::Outage,
        Kind::Partition,
        Kind::DropResponse,
        Kind::Duplicate,
        Kind::Crash,
        Kind::ClockSkew,
        Kind::QueueStall,
        Kind::WebhookDown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Latency => "latency",
            Kind::Error => "error",
            Kind::Outage => "outage",
            Kind::Partition => "partition",
            Kind::DropResponse => "drop_response",
            Kind::Duplicate => "duplicate",
            Kind::Crash => "crash",
            Kind::ClockSkew => "clock_skew",
            Kind::QueueStall => "queue_stall",
            Kind::WebhookDown => "webhook_down",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the kind acts on calls across a boundary (as opposed to a
    /// component's state: crash, clock skew, queue stall).
    pub fn is_call_fault(self) -> bool {
        !matches!(self, Kind::Crash | Kind::ClockSkew | Kind::QueueStall)
    }
}

/// How an unreachable callee behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutageMode {
    /// The call hangs until the caller's timeout.
    Hang,
    /// The connection is refused at once.
    Refuse,
}

/// Which way a partition cuts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Requests never arrive, answers never return.
    Both,
    /// Caller -> callee is cut: requests are lost.
    Forward,
    /// Callee -> caller is cut: the callee acts, the answer is lost.
    Backward,
}

/// How the restarted gateway's idempotency store survives a crash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Committed writes survive (a database, or Redis with AOF fsync).
    #[default]
    Durable,
    /// Everything is lost (an in-memory cache).
    Memory,
}

/// A fault ready to inject.
#[derive(Clone, Debug, Serialize)]
pub struct Fault {
    pub name: String,
    pub kind: Kind,
    pub target: Target,
    pub window: Window,
    pub probability: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    #[serde(skip)]
    pub latency_model: Option<LatencyModel>,
    /// `error` at client->gateway: the error the client gets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::domain::ApiError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outage: Option<OutageMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<Durability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset_s: Option<f64>,
}

impl Fault {
    /// The fault as a plan would write it (a drawn monkey fault included),
    /// so a run's effective faults can be saved and replayed.
    pub fn to_spec(&self) -> FaultSpec {
        let w = &self.window;
        let (duration_s, every_s, for_s) = match w.every_s {
            None => (Some(w.length_s), None, None),
            Some(e) => (None, Some(e), Some(w.length_s)),
        };
        FaultSpec {
            name: Some(self.name.clone()),
            target: self.target.to_string(),
            kind: self.kind.as_str().to_string(),
            start_s: Some(w.start_s),
            duration_s,
            every_s,
            for_s,
            until_s: w.until_s,
            probability: self.kind.is_call_fault().then_some(self.probability),
            latency: self.latency,
            error: self.error.map(|e| e.as_str().to_string()),
            mode: self.outage.map(|m| {
                match (self.kind, m) {
                    (Kind::WebhookDown, OutageMode::Refuse) => "5xx",
                    (Kind::WebhookDown, OutageMode::Hang) => "timeout",
                    (_, OutageMode::Refuse) => "refuse",
                    (_, OutageMode::Hang) => "hang",
                }
                .to_string()
            }),
            direction: self.direction.map(|d| {
                match d {
                    Direction::Both => "both",
                    Direction::Forward => "forward",
                    Direction::Backward => "backward",
                }
                .to_string()
            }),
            store: self.store.map(|d| {
                match d {
                    Durability::Durable => "durable",
                    Durability::Memory => "memory",
                }
                .to_string()
            }),
            offset_s: self.offset_s,
        }
    }
}

/// Renders faults as a plan file that `--chaos` reads back.
pub fn render_plan(name: &str, comment: &str, faults: &[Fault]) -> String {
    let file = PlanFile {
        name: name.to_string(),
        description: comment.to_string(),
        fault: faults.iter().map(Fault::to_spec).collect(),
        monkey: None,
    };
    let body = toml::to_string(&file).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
    format!("# {comment}\n{body}")
}

/// A problem in one fault, before it is placed in the file.
struct Problem {
    field: &'static str,
    message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
    }
}

/// A parsed plan: its faults, and the monkey to expand once the run's seed
/// and length are known.
#[derive(Clone, Debug)]
pub struct Plan {
    pub source: String,
    pub name: String,
    pub faults: Vec<Fault>,
    pub monkey: Option<Monkey>,
}

#[derive(Clone, Debug)]
pub struct Monkey {
    pub count: u32,
    pub kinds: Vec<Kind>,
    pub window_min_s: f64,
    pub window_max_s: f64,
    pub probability: f64,
}

impl Plan {
    pub fn from_path(path: &std::path::Path) -> Result<Plan, InputError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            InputError(format!(
                "error: cannot read chaos plan `{source}`: {e}. Check the path (option --chaos); the shipped plans are under chaos/."
            ))
        })?;
        Plan::parse(&text, &source)
    }

    pub fn parse(text: &str, source: &str) -> Result<Plan, InputError> {
        let file: PlanFile = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| crate::workload::line_col(text, s.start))
                .map(|(l, c)| format!(", line {l}, column {c}"))
                .unwrap_or_default();
            InputError(format!(
                "error: invalid chaos plan `{source}`{at}: {}. Fix the file, then check it with `paystorm validate {source}`.",
                e.message().trim().trim_end_matches('.')
            ))
        })?;
        if file.fault.is_empty() && file.monkey.is_none() {
            return Err(InputError(format!(
                "error: chaos plan `{source}` has no `[[fault]]` table and no `[monkey]` table, so it would inject nothing. Add at least one fault, then check it with `paystorm validate {source}`."
            )));
        }
        let mut faults = Vec::with_capacity(file.fault.len());
        for (i, spec) in file.fault.iter().enumerate() {
            let fault = compile(spec).map_err(|p| {
                let at = fault_field_line(text, i, p.field)
                    .map(|(l, c)| format!(", line {l}, column {c}"))
                    .unwrap_or_default();
                let label = spec
                    .name
                    .as_deref()
                    .map(|n| format!(" (`{n}`)"))
                    .unwrap_or_default();
                InputError(format!(
                    "error: invalid chaos plan `{source}`{at}, fault {}{label}, field `{}`: {}. Fix the file, then check it with `paystorm validate {source}`.",
                    i + 1,
                    p.field,
                    p.message
                ))
            })?;
            faults.push(fault);
        }
        let monkey = match &file.monkey {
            None => None,
            Some(m) => Some(compile_monkey(m).map_err(|p| {
                let at = crate::workload::find_field(text, &format!("monkey.{}", p.field))
                    .map(|(l, c)| format!(", line {l}, column {c}"))
                    .unwrap_or_default();
                InputError(format!(
                    "error: invalid chaos plan `{source}`{at}, field `monkey.{}`: {}. Fix the file, then check it with `paystorm validate {source}`.",
                    p.field, p.message
                ))
            })?),
        };
        Ok(Plan {
            source: source.to_string(),
            name: if file.name.is_empty() {
                source.to_string()
            } else {
                file.name
            },
            faults,
            monkey,
        })
    }
}

fn share(field: &'static str, v: f64) -> Result<f64, Problem> {
    if v.is_finite() && (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(problem(
            field,
            format!("is a probability and must be between 0 and 1, got {v}"),
        ))
    }
}

fn seconds(field: &'static str, v: f64, allow_zero: bool) -> Result<f64, Problem> {
    if v.is_finite() && (v > 0.0 || (allow_zero && v == 0.0)) {
        Ok(v)
    } else {
        let bound = if allow_zero { ">= 0" } else { "above 0" };
        Err(problem(
            field,
            format!("must be a number of seconds {bound}, got {v}"),
        ))
    }
}

/// Turns one written fault into a typed one, or says what is wrong with it.
fn compile(s: &FaultSpec) -> Result<Fault, Problem> {
    let kind = Kind::parse(&s.kind).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        problem(
            "kind",
            format!(
                "unknown fault kind `{}`; known kinds: {}",
                s.kind,
                known.join(", ")
            ),
        )
    })?;
    let target = Target::parse(&s.target).map_err(|m| problem("target", m))?;
    if !target.accepts(kind) {
        return Err(problem(
            "target",
            format!(
                "a `{}` fault cannot target `{}`; it applies to {}",
                kind.as_str(),
                s.target,
                Target::accepted_by(kind)
            ),
        ));
    }
    let window = compile_window(s, kind)?;
    let probability = share("probability", s.probability.unwrap_or(1.0))?;
    if !kind.is_call_fault() && s.probability.is_some() {
        return Err(problem(
            "probability",
            format!(
                "does not apply to a `{}` fault (it is a window, not a share of calls)",
                kind.as_str()
            ),
        ));
    }
    // Kind-specific parameters: required where the kind needs them, refused
    // where it does not.
    let only = |field: &'static str, present: bool, kinds: &[Kind]| -> Result<(), Problem> {
        if present && !kinds.contains(&kind) {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            Err(problem(
                field,
                format!(
                    "does not apply to a `{}` fault (only to {})",
                    kind.as_str(),
                    names.join(", ")
                ),
            ))
        } else {
            Ok(())
        }
    };
    only(
        "latency",
        s.latency.is_some(),
        &[Kind::Latency, Kind::Duplicate],
    )?;
    only("error", s.error.is_some(), &[Kind::Error])?;
    only("mode", s.mode.is_some(), &[Kind::Outage, Kind::WebhookDown])?;
    only("direction", s.direction.is_some(), &[Kind::Partition])?;
    only("store", s.store.is_some(), &[Kind::Crash])?;
    only("offset_s", s.offset_s.is_some(), &[Kind::ClockSkew])?;

    let latency_spec = match (kind, s.latency) {
        (Kind::Latency, None) => {
            return Err(problem(
                "latency",
                "a `latency` fault needs the delay it adds, e.g. `latency = { p50_ms = 800, p99_ms = 3000 }`",
            ))
        }
        (Kind::Duplicate, None) => Some(LatencySpec {
            fixed_ms: Some(50.0),
            ..LatencySpec::default()
        }),
        (_, spec) => spec,
    };
    let latency_model = match &latency_spec {
        Some(spec) => Some(spec.to_model().map_err(|m| problem("latency", m))?),
        None => None,
    };
    let error = match (&s.error, target) {
        (None, _) => None,
        (Some(e), Target::ClientGateway) => Some(parse_api_error(e)?),
        (Some(_), _) => {
            return Err(problem(
                "error",
                "only a fault at `client->gateway` picks the error the caller sees; inside the stack an injected error is a fast failure of the call",
            ))
        }
    };
    let outage = match (kind, s.mode.as_deref()) {
        (Kind::Outage, None | Some("hang")) => Some(OutageMode::Hang),
        (Kind::Outage, Some("refuse")) => Some(OutageMode::Refuse),
        (Kind::WebhookDown, None | Some("5xx")) => Some(OutageMode::Refuse),
        (Kind::WebhookDown, Some("timeout")) => Some(OutageMode::Hang),
        (Kind::Outage, Some(m)) => {
            return Err(problem(
                "mode",
                format!("unknown outage mode `{m}`; use `hang` or `refuse`"),
            ))
        }
        (_, Some(m)) => {
            return Err(problem(
                "mode",
                format!("unknown webhook_down mode `{m}`; use `5xx` or `timeout`"),
            ))
        }
        _ => None,
    };
    let direction = match (kind, s.direction.as_deref()) {
        (Kind::Partition, None | Some("both")) => Some(Direction::Both),
        (Kind::Partition, Some("forward")) => Some(Direction::Forward),
        (Kind::Partition, Some("backward")) => Some(Direction::Backward),
        (_, Some(d)) => {
            return Err(problem(
                "direction",
                format!("unknown partition direction `{d}`; use `both`, `forward` (requests lost) or `backward` (responses lost)"),
            ))
        }
        _ => None,
    };
    let store = match s.store.as_deref() {
        None => None,
        Some("durable") => Some(Durability::Durable),
        Some("memory") => Some(Durability::Memory),
        Some(m) => {
            return Err(problem(
                "store",
                format!("unknown store durability `{m}`; use `durable` or `memory`"),
            ))
        }
    };
    let offset_s = match (kind, s.offset_s) {
        (Kind::ClockSkew, None) => return Err(problem(
            "offset_s",
            "a `clock_skew` fault needs `offset_s`, how far the clock is off (negative: behind)",
        )),
        (_, Some(o)) if !o.is_finite() || o == 0.0 => {
            return Err(problem(
                "offset_s",
                format!("must be a non-zero number of seconds, got {o}"),
            ))
        }
        (_, o) => o,
    };
    Ok(Fault {
        name: s
            .name
            .clone()
            .unwrap_or_else(|| format!("{}@{}", kind.as_str(), target)),
        kind,
        target,
        window,
        probability,
        latency: latency_spec,
        latency_model,
        error,
        outage,
        direction,
        store,
        offset_s,
    })
}

fn parse_api_error(e: &str) -> Result<crate::domain::ApiError, Problem> {
    use crate::domain::ApiError;
    const ALLOWED: [ApiError; 3] = [
        ApiError::Unavailable,
        ApiError::Internal,
        ApiError::RateLimited,
    ];
    ALLOWED
        .into_iter()
        .find(|a| a.as_str() == e)
        .ok_or_else(|| {
            problem(
                "error",
                format!("unknown error `{e}`; use `unavailable` (503), `internal` (500) or `rate_limited` (429)"),
            )
        })
}

fn compile_window(s: &FaultSpec, kind: Kind) -> Result<Window, Problem> {
    let start = seconds("start_s", s.start_s.unwrap_or(0.0), true)?;
    match (s.duration_s, s.every_s, s.for_s) {
        (Some(d), None, None) => Ok(Window::once(start, seconds("duration_s", d, false)?)),
        (None, Some(every), Some(len)) => {
            let every = seconds("every_s", every, false)?;
            let len = seconds("for_s", len, false)?;
            if len > every {
                return Err(problem(
                    "for_s",
                    format!("a repeating window cannot last longer ({len} s) than its period `every_s` ({every} s)"),
                ));
            }
            let until = match s.until_s {
                Some(u) => Some(seconds("until_s", u, false)?),
                None => None,
            };
            Ok(Window::repeating(start, every, len, until))
        }
        (None, None, None) if kind == Kind::Crash => Ok(Window::once(start, 2.0)),
        (None, None, None) => Err(problem(
            "duration_s",
            "every fault needs a window: `duration_s` (one window from `start_s`), or `every_s` and `for_s` (repeating)",
        )),
        (Some(_), _, _) => Err(problem(
            "duration_s",
            "give either `duration_s` or `every_s` with `for_s`, not both",
        )),
        (None, Some(_), None) => Err(problem("for_s", "`every_s` needs `for_s`, how long each window lasts")),
        (None, None, Some(_)) => Err(problem("every_s", "`for_s` needs `every_s`, the period of the windows")),
    }
    .and_then(|w| {
        if s.until_s.is_some() && s.every_s.is_none() {
            Err(problem("until_s", "only applies to repeating windows (`every_s`)"))
        } else {
            Ok(w)
        }
    })
}

fn compile_monkey(m: &MonkeySpec) -> Result<Monkey, Problem> {
    if m.count == 0 || m.count > 1000 {
        return Err(problem(
            "count",
            format!("must be between 1 and 1000, got {}", m.count),
        ));
    }
    let kinds = match &m.kinds {
        None => Kind::ALL
            .into_iter()
            .filter(|k| !matches!(k, Kind::Crash | Kind::ClockSkew))
            .collect(),
        Some(names) => names
            .iter()
            .map(|n| {
                Kind::parse(n).ok_or_else(|| {
                    let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                    problem(
                        "kinds",
                        format!(
                            "unknown fault kind `{n}`; known kinds: {}",
                            known.join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if kinds.is_empty() {
        return Err(problem("kinds", "needs at least one kind"));
    }
    let lo = seconds("window_min_s", m.window_min_s.unwrap_or(5.0), false)?;
    let hi = seconds("window_max_s", m.window_max_s.unwrap_or(60.0), false)?;
    if lo > hi {
        return Err(problem(
            "window_max_s",
            format!("must be at least `window_min_s` ({lo}), got {hi}"),
        ));
    }
    Ok(Monkey {
        count: m.count,
        kinds,
        window_min_s: lo,
        window_max_s: hi,
        probability: share("probability", m.probability.unwrap_or(0.3))?,
    })
}

/// Line and column of `field` inside the `index`-th `[[fault]]` table (or of
/// the table's header when the field is not written there).
fn fault_field_line(text: &str, index: usize, field: &str) -> Option<(usize, usize)> {
    let mut seen = 0usize;
    let mut inside = false;
    let mut header_line = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.split('#').next().unwrap_or("").trim();
        if t.starts_with('[') {
            if inside {
                break;
            }
            if t.replace(' ', "") == "[[fault]]" {
                if seen == index {
                    inside = true;
                    header_line = Some((i + 1, 1));
                }
                seen += 1;
            }
            continue;
        }
        if inside {
            if let Some((key, _)) = t.split_once('=') {
                if key.trim() == field {
                    return Some((i + 1, line.find(field).unwrap_or(0) + 1));
                }
            }
        }
    }
    header_line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Plan::parse(text, "chaos/t.toml").unwrap_err().0
    }

    #[test]
    fn parses_a_plan_with_every_window_shape() {
        let p = Plan::parse(
            r#"
name = "t"
[[fault]]
target = "network->issuer:2"
kind = "latency"
start_s = 10
duration_s = 20
latency = { p50_ms = 800, p99_ms = 3000 }

[[fault]]
target = "gateway->webhook"
kind = "webhook_down"
every_s = 60
for_s = 10
until_s = 600
mode = "timeout"

[[fault]]
target = "gateway"
kind = "crash"
start_s = 30
store = "memory"
"#,
            "chaos/t.toml",
        )
        .unwrap();
        assert_eq!(p.faults.len(), 3);
        assert_eq!(p.faults[0].kind, Kind::Latency);
        assert_eq!(p.faults[0].target, Target::NetworkIssuer(Some(2)));
        assert_eq!(p.faults[1].outage, Some(OutageMode::Hang));
        assert_eq!(p.faults[2].store, Some(Durability::Memory));
        assert_eq!(p.faults[2].window.end_s(), Some(32.0));
    }

    #[test]
    fn a_rendered_plan_reads_back_as_the_same_faults() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/chaos/issuer-outage.toml"
        ))
        .unwrap();
        let p = Plan::parse(&text, "chaos/issuer-outage.toml").unwrap();
        let again = Plan::parse(&render_plan("x", "round trip", &p.faults), "x.toml").unwrap();
        assert_eq!(
            format!("{:?}", p.faults),
            format!("{:?}", again.faults),
            "render then parse is the identity"
        );
    }

    #[test]
    fn unknown_kind_names_fault_field_and_line() {
        let e = err("[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"meteor\"\nduration_s = 1\n");
        assert!(e.contains("chaos/t.toml"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        assert!(e.contains("fault 1"), "{e}");
        assert!(e.contains("field `kind`"), "{e}");
        assert!(e.contains("meteor"), "{e}");
    }

    #[test]
    fn unknown_target_is_refused_with_the_known_ones() {
        let e = err("[[fault]]\ntarget = \"moon\"\nkind = \"error\"\nduration_s = 1\n");
        assert!(
            e.contains("field `target`") && e.contains("client->gateway"),
            "{e}"
        );
    }

    #[test]
    fn probability_above_one_and_negative_duration_are_refused() {
        let e = err("[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"error\"\nduration_s = 1\nprobability = 1.5\n");
        assert!(
            e.contains("field `probability`") && e.contains("1.5"),
            "{e}"
        );
        assert!(e.contains("line 5"), "{e}");
        let e = err("[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"error\"\nduration_s = -3\n");
        assert!(e.contains("field `duration_s`") && e.contains("-3"), "{e}");
    }

    #[test]
    fn a_field_of_another_kind_is_an_error() {
        let e = err("[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"error\"\nduration_s = 1\noffset_s = 5\n");
        assert!(
            e.contains("field `offset_s`") && e.contains("clock_skew"),
            "{e}"
        );
    }

    #[test]
    fn a_kind_on_a_target_it_cannot_hit_is_an_error() {
        let e = err("[[fault]]\ntarget = \"queue\"\nkind = \"drop_response\"\nduration_s = 1\n");
        assert!(e.contains("cannot target `queue`"), "{e}");
    }

    #[test]
    fn toml_syntax_errors_name_the_line() {
        let e = err("[[fault]]\ntarget = \"gateway->tokens\nkind = 3\n");
        assert!(e.contains("chaos/t.toml") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn an_empty_plan_is_refused() {
        assert!(err("name = \"x\"\n").contains("inject nothing"));
    }
}
