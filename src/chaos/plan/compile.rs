//! Checking one written fault (or monkey) and turning it into a typed one:
//! every string parsed, every number range-checked, every parameter that
//! does not apply to the fault's kind refused — each problem naming its
//! field.

use crate::sim::LatencySpec;

use super::super::target::Target;
use super::super::window::Window;
use super::{Direction, Durability, Fault, FaultSpec, Kind, Monkey, MonkeySpec, OutageMode};

/// A problem in one fault, before it is placed in the file.
pub(super) struct Problem {
    pub(super) field: &'static str,
    pub(super) message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> Problem {
    Problem {
        field,
        message: message.into(),
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
pub(super) fn compile(s: &FaultSpec) -> Result<Fault, Problem> {
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
        // An injected 429 asks for a one-second wait, a common default.
        ApiError::RateLimited {
            retry_after_ms: 1_000,
        },
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

pub(super) fn compile_monkey(m: &MonkeySpec) -> Result<Monkey, Problem> {
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
