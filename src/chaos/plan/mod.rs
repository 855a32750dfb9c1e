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

mod compile;
mod render;

use compile::{compile, compile_monkey};
pub use render::render_plan;

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
        let file: PlanFile = toml::from_str(text)
            .map_err(|e| crate::workload::toml_syntax_error(text, source, "chaos plan", &e))?;
        if file.fault.is_empty() && file.monkey.is_none() {
            return Err(InputError(format!(
                "error: chaos plan `{source}` has no `[[fault]]` table and no `[monkey]` table, so it would inject nothing. Add at least one fault, then check it with `paystorm validate {source}`."
            )));
        }
        let mut faults = Vec::with_capacity(file.fault.len());
        for (i, spec) in file.fault.iter().enumerate() {
            let fault = compile(spec).map_err(|p| {
                let at = crate::workload::array_field_line(text, "fault", i, p.field)
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
