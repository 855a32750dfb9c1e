//! Faults back into the plan format, so a run's effective faults (a
//! monkey's draws included) can be saved beside its results and replayed.

use super::{Direction, Durability, Fault, FaultSpec, Kind, OutageMode, PlanFile};

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
