//! Chaos: seeded fault plans injected at the stack's boundaries.
//!
//! `--chaos FILE` (repeatable; plans compose) loads [`plan::Plan`]s; for a
//! run they become one [`Chaos`]: the fault list (the monkey's draws
//! expanded from the seed), a counter per fault, and a [`layer::FaultLayer`]
//! for every boundary some fault aims at. Boundaries no fault aims at get no
//! layer and cost nothing. Every decision draws from the run's seed, so the
//! same seed gives the same faults at the same virtual times.

pub mod layer;
pub mod plan;
pub mod shrink;
pub mod target;
pub mod window;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::sim::executor::boxed;
use crate::sim::{Clock, Seed};

pub use layer::{CallFault, FaultLayer};
pub use plan::{Durability, Fault, Kind, Plan};
pub use target::Target;
pub use window::Window;

/// Makes a call through `layer` if there is one, else straight (no cost).
pub async fn through<T, Fut>(
    layer: Option<&FaultLayer>,
    make: impl Fn() -> Fut,
) -> Result<T, CallFault>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    match layer {
        None => Ok(make().await),
        // Boxed: a fault layer's future is large, and without a layer (most
        // boundaries, every run without chaos) the caller should not carry
        // its size.
        Some(l) => boxed(l.call(make)).await,
    }
}

/// How many times each fault was injected.
#[derive(Debug, Default)]
pub struct Counters(Vec<AtomicU64>);

impl Counters {
    fn new(n: usize) -> Counters {
        Counters((0..n).map(|_| AtomicU64::new(0)).collect())
    }

    pub fn hit(&self, index: usize) {
        if let Some(c) = self.0.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self, index: usize) -> u64 {
        self.0.get(index).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// A read-only view of a run's faults (see [`Chaos::probe`]).
#[derive(Clone, Debug)]
pub struct FaultProbe {
    faults: Vec<(Kind, String, window::Window)>,
    counters: Arc<Counters>,
}

/// One fault as telemetry sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultReading {
    pub kind: Kind,
    /// The boundary or component it aims at (`network->issuer:0`).
    pub target: String,
    pub injected: u64,
    /// Whether its window is open at the time of the reading.
    pub active: bool,
}

impl FaultProbe {
    /// Every fault at `now_s` seconds of the run, in plan order.
    pub fn read(&self, now_s: f64) -> Vec<FaultReading> {
        self.faults
            .iter()
            .enumerate()
            .map(|(i, (kind, target, window))| FaultReading {
                kind: *kind,
                target: target.clone(),
                injected: self.counters.get(i),
                active: window.active(now_s),
            })
            .collect()
    }
}

/// Every fault of a run, ready to hand out layers.
pub struct Chaos {
    pub plans: Vec<String>,
    pub faults: Vec<Fault>,
    counters: Arc<Counters>,
    seed: Seed,
    pub shape: Shape,
}

/// What the run's stack looks like, for expanding a monkey.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Length of the load phase, simulated seconds.
    pub horizon_s: f64,
    pub issuers: u16,
    pub networks: u8,
}

impl Chaos {
    /// No faults at all: every `layer` is `None`.
    pub fn none(seed: Seed) -> Chaos {
        Chaos::build(
            &[],
            seed,
            Shape {
                horizon_s: 0.0,
                issuers: 0,
                networks: 0,
            },
        )
    }

    pub fn build(plans: &[Plan], seed: Seed, shape: Shape) -> Chaos {
        let mut faults = Vec::new();
        for (p, plan) in plans.iter().enumerate() {
            faults.extend(plan.faults.iter().cloned());
            if let Some(m) = &plan.monkey {
                faults.extend(monkey(m, seed, p as u64, shape));
            }
        }
        Chaos {
            plans: plans.iter().map(|p| p.source.clone()).collect(),
            counters: Arc::new(Counters::new(faults.len())),
            faults,
            seed,
            shape,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// The fault layer for the boundary `at`, if any call fault aims at it.
    /// `timeout` is the caller's (`None`: the caller enforces its own).
    pub fn layer(
        &self,
        at: Target,
        clock: Clock,
        timeout: Option<Duration>,
    ) -> Option<Arc<FaultLayer>> {
        let faults: Vec<(usize, Fault)> = self
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind.is_call_fault() && f.target.hits(at))
            .map(|(i, f)| (i, f.clone()))
            .collect();
        if faults.is_empty() {
            return None;
        }
        let stream = crate::domain::fingerprint::hash_bytes(at.to_string().as_bytes());
        Some(Arc::new(FaultLayer::new(
            faults,
            self.counters.clone(),
            self.seed.shared("chaos", stream),
            clock,
            timeout,
        )))
    }

    /// Whether anything can make a message to an issuer repeat or its
    /// outcome unknown: a call fault between the gateway and an issuer, or a
    /// gateway crash. Without one every call answers once, so the stack
    /// skips the bookkeeping that only repeats need (the gateway's outbox
    /// journal, the issuers' message logs) and runs faster.
    pub fn can_repeat_messages(&self) -> bool {
        self.faults.iter().any(|f| {
            f.kind == Kind::Crash
                || (f.kind.is_call_fault()
                    && matches!(
                        f.target,
                        Target::GatewayNetwork(_)
                            | Target::NetworkIssuer(_)
                            | Target::GatewayQr
                            | Target::GatewayBank
                    ))
        })
    }

    /// The clock skews aimed at `at`, for its [`Skew`].
    pub fn skew(&self, at: Target) -> Skew {
        Skew {
            faults: self
                .faults
                .iter()
                .enumerate()
                .filter(|(_, f)| f.kind == Kind::ClockSkew && f.target.hits(at))
                .map(|(i, f)| (i, f.window, f.offset_s.unwrap_or(0.0)))
                .collect(),
            counters: self.counters.clone(),
        }
    }

    /// Windows in which the webhook queue stops draining.
    pub fn queue_stalls(&self) -> Stalls {
        Stalls {
            faults: self
                .faults
                .iter()
                .enumerate()
                .filter(|(_, f)| f.kind == Kind::QueueStall)
                .map(|(i, f)| (i, f.window))
                .collect(),
            counters: self.counters.clone(),
        }
    }

    /// Gateway crashes in time order (repeating ones up to the end of the
    /// load phase).
    pub fn crashes(&self) -> Vec<Crash> {
        let horizon_s = self.shape.horizon_s;
        let mut out: Vec<Crash> = self
            .faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind == Kind::Crash)
            .flat_map(|(i, f)| {
                f.window
                    .intervals(horizon_s, 1000)
                    .into_iter()
                    .map(move |(s, e)| Crash {
                        at_s: s,
                        downtime_s: e - s,
                        fault: i,
                        counters: self.counters.clone(),
                    })
            })
            .collect();
        out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
        out
    }

    /// The durability the plans ask of the idempotency store, if any does.
    pub fn store_override(&self) -> Option<Durability> {
        self.faults.iter().find_map(|f| f.store)
    }

    /// When the last fault window closes (`None`: no faults). A window
    /// repeating forever counts as closing at the end of the load phase.
    pub fn last_window_end_s(&self) -> Option<f64> {
        self.faults
            .iter()
            .map(|f| f.window.end_s().unwrap_or(self.shape.horizon_s))
            .reduce(f64::max)
    }

    /// Every fault of the run (the monkey's draws written out) as a plan
    /// file: saved as `chaos.toml` beside results.json, it replays the run's
    /// faults exactly, and `paystorm shrink` starts from it.
    pub fn effective_plan(&self) -> String {
        plan::render_plan(
            "effective",
            &format!(
                "The effective faults of a run with --chaos {} (monkeys drawn from the seed).",
                self.plans.join(" --chaos ")
            ),
            &self.faults,
        )
    }

    /// What telemetry reads of the faults while the run goes on: each
    /// fault's kind, target, window and injection count (shared with the
    /// fault layers, so a read sees the counts as they are now).
    pub fn probe(&self) -> FaultProbe {
        FaultProbe {
            faults: self
                .faults
                .iter()
                .map(|f| (f.kind, f.target.to_string(), f.window))
                .collect(),
            counters: self.counters.clone(),
        }
    }

    /// The `faults` section of results.json.
    pub fn summary(&self, recovery: Option<Recovery>) -> FaultSummary {
        let horizon_s = self.shape.horizon_s;
        let list: Vec<FaultRow> = self
            .faults
            .iter()
            .enumerate()
            .map(|(i, f)| FaultRow {
                name: f.name.clone(),
                kind: f.kind,
                target: f.target,
                probability: f.probability,
                injected: self.counters.get(i),
                windows: f.window.intervals(horizon_s, 100),
                fault: f.clone(),
            })
            .collect();
        let mut by: std::collections::BTreeMap<(Kind, String), u64> = Default::default();
        for r in &list {
            *by.entry((r.kind, r.target.to_string())).or_default() += r.injected;
        }
        FaultSummary {
            plans: self.plans.clone(),
            effective_plan: self.effective_plan(),
            injected_total: list.iter().map(|r| r.injected).sum(),
            by_kind_and_target: by
                .into_iter()
                .map(|((kind, target), injected)| KindTarget {
                    kind,
                    target,
                    injected,
                })
                .collect(),
            faults: list,
            last_window_end_s: self.last_window_end_s(),
            recovery,
        }
    }
}

/// Draws a monkey's faults: each a random kind on a random target it applies
/// to, in a random window inside the load phase.
fn monkey(m: &plan::Monkey, seed: Seed, plan: u64, shape: Shape) -> Vec<Fault> {
    let mut rng = seed.stream("chaos-monkey", plan);
    let horizon = shape.horizon_s.max(1.0);
    (0..m.count)
        .map(|n| {
            let kind = m.kinds[rng.below(m.kinds.len() as u64) as usize];
            let targets = Target::candidates(kind, shape.issuers.max(1), shape.networks.max(1));
            let target = targets[rng.below(targets.len() as u64) as usize];
            let length = rng.range_f64(m.window_min_s, m.window_max_s).min(horizon);
            let start = rng.range_f64(0.0, (horizon - length).max(0.0));
            let call = kind.is_call_fault();
            let latency_spec = match kind {
                Kind::Latency => Some(crate::sim::LatencySpec::lognormal(400.0, 2000.0)),
                Kind::Duplicate => Some(crate::sim::LatencySpec {
                    fixed_ms: Some(50.0),
                    ..Default::default()
                }),
                _ => None,
            };
            Fault {
                name: format!("monkey-{}: {}@{}", n + 1, kind.as_str(), target),
                kind,
                target,
                window: Window::once(start, length),
                probability: if call { m.probability } else { 1.0 },
                latency: latency_spec,
                latency_model: latency_spec.and_then(|l| l.to_model().ok()),
                error: None,
                outage: match kind {
                    Kind::Outage | Kind::WebhookDown => Some(if rng.chance(0.5) {
                        plan::OutageMode::Hang
                    } else {
                        plan::OutageMode::Refuse
                    }),
                    _ => None,
                },
                direction: (kind == Kind::Partition).then(|| {
                    [
                        plan::Direction::Both,
                        plan::Direction::Forward,
                        plan::Direction::Backward,
                    ][rng.below(3) as usize]
                }),
                store: None,
                offset_s: (kind == Kind::ClockSkew).then(|| rng.range_f64(-120.0, 120.0)),
            }
        })
        .collect()
}

/// A gateway crash: when, and how long the restart takes.
#[derive(Clone, Debug)]
pub struct Crash {
    pub at_s: f64,
    pub downtime_s: f64,
    fault: usize,
    counters: Arc<Counters>,
}

impl Crash {
    /// Counts the crash as injected.
    pub fn count(&self) {
        self.counters.hit(self.fault);
    }
}

/// A component's clock offset under the skews aimed at it.
pub struct Skew {
    faults: Vec<(usize, Window, f64)>,
    counters: Arc<Counters>,
}

impl Skew {
    pub fn none() -> Skew {
        Skew {
            faults: Vec::new(),
            counters: Arc::new(Counters::default()),
        }
    }

    /// The component's reading of `now_us`.
    pub fn read(&self, now_us: u64) -> u64 {
        if self.faults.is_empty() {
            return now_us;
        }
        let now_s = now_us as f64 / 1e6;
        let mut off = 0.0;
        for (i, w, o) in &self.faults {
            if w.active(now_s) {
                self.counters.hit(*i);
                off += o;
            }
        }
        (now_us as f64 + off * 1e6).max(0.0) as u64
    }
}

/// Queue stall windows.
pub struct Stalls {
    faults: Vec<(usize, Window)>,
    counters: Arc<Counters>,
}

impl Stalls {
    /// If the queue is stalled at `now_us`, when the stall ends.
    pub fn stalled_until_us(&self, now_us: u64) -> Option<u64> {
        let now_s = now_us as f64 / 1e6;
        let mut until: Option<f64> = None;
        for (i, w) in &self.faults {
            if w.active(now_s) {
                self.counters.hit(*i);
                let end = w.closes_after(now_s);
                until = Some(until.map_or(end, |u| u.max(end)));
            }
        }
        until.map(|s| (s * 1e6).ceil() as u64)
    }
}

/// How long the stack took to come back after the last fault window.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Recovery {
    /// Simulated seconds from the end of the last window until no operation
    /// was left unresolved by a fault and no webhook was awaiting a retry;
    /// `None` if that never happened before the run ended.
    pub recovery_seconds: Option<f64>,
    /// The bound the run promises (`drain.recovery_bound_s`).
    pub bound_seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaultRow {
    pub name: String,
    pub kind: Kind,
    pub target: Target,
    pub probability: f64,
    pub injected: u64,
    /// Open intervals (simulated seconds) for reports to shade.
    pub windows: Vec<(f64, f64)>,
    #[serde(skip)]
    pub fault: Fault,
}

#[derive(Clone, Debug, Serialize)]
pub struct KindTarget {
    pub kind: Kind,
    pub target: String,
    pub injected: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FaultSummary {
    pub plans: Vec<String>,
    /// The faults as a plan file (written to chaos.toml, not results.json).
    #[serde(skip)]
    pub effective_plan: String,
    pub injected_total: u64,
    pub by_kind_and_target: Vec<KindTarget>,
    pub faults: Vec<FaultRow>,
    pub last_window_end_s: Option<f64>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
}
