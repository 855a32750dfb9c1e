//! The fault layer: wraps the callee at one boundary, tower style. The
//! caller hands it a way to make the call; the layer decides, from the
//! faults active now and the run's seed, whether to delay it, fail it, let it
//! hang until the caller's timeout, perform it and lose the answer, or
//! deliver it twice. The callee never knows.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::ApiError;
use crate::sim::rng::SharedRng;
use crate::sim::Clock;

use super::plan::{Direction, Fault, Kind, OutageMode};
use super::Counters;

/// How a call through a fault layer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallFault {
    /// Refused or failed fast: the callee did nothing. The error is the one
    /// a `client->gateway` fault names, if any.
    Failed(Option<ApiError>),
    /// No answer within the caller's timeout: the callee may or may not have
    /// acted.
    TimedOut,
}

/// What the active faults decided for one call.
#[derive(Default)]
struct Decision {
    delay: Duration,
    fail: Option<Fail>,
    lose_response: bool,
    duplicate_after: Option<Duration>,
}

enum Fail {
    Fast(Option<ApiError>),
    Hang,
}

pub struct FaultLayer {
    /// The faults aimed at this boundary, with their index in the counters.
    faults: Vec<(usize, Fault)>,
    counters: Arc<Counters>,
    rng: SharedRng,
    clock: Clock,
    /// The caller's timeout; `None` where the caller enforces its own (the
    /// load generator's clients), so a hang is simply no answer.
    timeout: Option<Duration>,
}

impl FaultLayer {
    pub(super) fn new(
        faults: Vec<(usize, Fault)>,
        counters: Arc<Counters>,
        rng: SharedRng,
        clock: Clock,
        timeout: Option<Duration>,
    ) -> FaultLayer {
        FaultLayer {
            faults,
            counters,
            rng,
            clock,
            timeout,
        }
    }

    fn decide(&self) -> Decision {
        let now_s = self.clock.now_us() as f64 / 1e6;
        let mut d = Decision::default();
        self.rng.with(|r| {
            for (index, f) in &self.faults {
                if !f.window.active(now_s) || !r.chance(f.probability) {
                    continue;
                }
                self.counters.hit(*index);
                match f.kind {
                    Kind::Latency => {
                        if let Some(m) = f.latency_model {
                            d.delay += m.sample(r);
                        }
                    }
                    Kind::Error => d.fail = Some(Fail::Fast(f.error)),
                    Kind::Outage | Kind::WebhookDown => {
                        d.fail = Some(match f.outage {
                            Some(OutageMode::Refuse) => Fail::Fast(None),
                            _ => Fail::Hang,
                        })
                    }
                    Kind::Partition => match f.direction {
                        Some(Direction::Backward) => d.lose_response = true,
                        _ => d.fail = Some(Fail::Hang),
                    },
                    Kind::DropResponse => d.lose_response = true,
                    Kind::Duplicate => {
                        d.duplicate_after =
                            Some(f.latency_model.map_or(Duration::ZERO, |m| m.sample(r)))
                    }
                    Kind::Crash | Kind::ClockSkew | Kind::QueueStall => {}
                }
            }
        });
        d
    }

    /// Makes the call through the faults active now. `make` builds the call;
    /// a `duplicate` fault builds it twice and runs the copy on its own.
    pub async fn call<T, Fut>(&self, make: impl Fn() -> Fut) -> Result<T, CallFault>
    where
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let d = self.decide();
        if let Some(after) = d.duplicate_after {
            let copy = make();
            let clock = self.clock;
            tokio::spawn(async move {
                clock.sleep(after).await;
                let _ = copy.await;
            });
        }
        let started = self.clock.now_us();
        match d.fail {
            Some(Fail::Fast(e)) => return Err(CallFault::Failed(e)),
            Some(Fail::Hang) => {
                self.no_answer_until(started).await;
                return Err(CallFault::TimedOut);
            }
            None => {}
        }
        let (clock, delay, call) = (self.clock, d.delay, make());
        let delayed = async move {
            clock.sleep(delay).await;
            call.await
        };
        let out = match self.timeout {
            Some(t) => self.clock.timeout(t, delayed).await,
            None => Some(delayed.await),
        };
        match out {
            Some(v) if !d.lose_response => Ok(v),
            _ => {
                self.no_answer_until(started).await;
                Err(CallFault::TimedOut)
            }
        }
    }

    /// Waits out the caller's timeout from `started` (forever when the caller
    /// times out by itself).
    async fn no_answer_until(&self, started: u64) {
        match self.timeout {
            Some(t) => {
                self.clock
                    .sleep_until_us(started + t.as_micros() as u64)
                    .await
            }
            None => std::future::pending::<()>().await,
        }
    }

    /// For a component's own operation (no callee to wrap, e.g. the
    /// idempotency store): the delay and failure the active faults decide.
    pub async fn pass(&self) -> Result<(), CallFault> {
        self.call(|| async {}).await
    }
}
