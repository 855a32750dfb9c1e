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
    /// Refused by the caller's own resilience (an open circuit breaker, a
    /// full bulkhead) before anything was sent; not worth retrying now.
    Rejected,
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
        let started = self.clock.now_us();
        match d.fail {
            // Refused at the door: there is nothing to deliver twice, and
            // `Failed` keeps meaning "the callee did nothing".
            Some(Fail::Fast(e)) => return Err(CallFault::Failed(e)),
            Some(Fail::Hang) => {
                self.no_answer_until(started).await;
                return Err(CallFault::TimedOut);
            }
            None => {}
        }
        if let Some(after) = d.duplicate_after {
            let copy = make();
            let clock = self.clock;
            crate::sim::task::spawn_detached(async move {
                clock.sleep(after).await;
                let _ = copy.await;
            });
        }
        let (clock, delay, call) = (self.clock, d.delay, make());
        let delayed = async move {
            clock.sleep(delay).await;
            call.await
        };
        let out = match self.timeout {
            Some(t) => self.clock.timeout(t, delayed).await.ok(),
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

    /// Whether this boundary may deliver a call twice. Then a fast failure
    /// further down does not prove nothing happened: the copy may get
    /// through where the first delivery was refused.
    pub fn can_duplicate(&self) -> bool {
        self.faults.iter().any(|(_, f)| f.kind == Kind::Duplicate)
    }

    /// For a component's own operation (no callee to wrap, e.g. the
    /// idempotency store): the delay and failure the active faults decide.
    pub async fn pass(&self) -> Result<(), CallFault> {
        self.call(|| async {}).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::chaos::{Chaos, Plan, Shape, Target};
    use crate::sim::{Clock, Seed};

    use super::{CallFault, FaultLayer};

    const TIMEOUT: Duration = Duration::from_millis(1000);
    const TIMEOUT_US: u64 = 1_000_000;

    /// A plan of one fault at `gateway->tokens`; `body` gives the kind, its
    /// parameters and the window.
    fn plan(body: &str) -> Plan {
        let text = format!("[[fault]]\ntarget = \"gateway->tokens\"\n{body}\n");
        Plan::parse(&text, "test.toml").unwrap_or_else(|e| panic!("{}", e.0))
    }

    /// The chaos of `body` under `seed`, and its layer at `gateway->tokens`.
    fn setup(
        body: &str,
        seed: u64,
        clock: Clock,
        timeout: Option<Duration>,
    ) -> (Chaos, Arc<FaultLayer>) {
        let chaos = Chaos::build(
            &[plan(body)],
            Seed(seed),
            Shape {
                horizon_s: 100.0,
                issuers: 1,
                networks: 1,
            },
        );
        let layer = chaos
            .layer(Target::GatewayTokens, clock, timeout)
            .expect("a fault aims at gateway->tokens");
        (chaos, layer)
    }

    /// One call through a layer with the single fault `body` (seed 1, the
    /// 1 s timeout): its result, the callee's runs, the virtual time it
    /// took, and the chaos (for its counters).
    async fn one_fault(body: &str) -> (Result<u32, CallFault>, u64, u64, Chaos) {
        let clock = Clock::start();
        let (chaos, layer) = setup(body, 1, clock, Some(TIMEOUT));
        let (r, effects, took_us) = one_call(&layer, clock).await;
        (r, effects, took_us, chaos)
    }

    /// A callee whose effect is counting its runs; it answers 7.
    fn callee(
        effect: &Arc<AtomicU64>,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
        let effect = effect.clone();
        move || {
            let effect = effect.clone();
            Box::pin(async move {
                effect.fetch_add(1, Ordering::SeqCst);
                7
            })
        }
    }

    /// One call through `layer`: its result, the effects it had by the time
    /// it returned, and the virtual microseconds it took.
    async fn one_call(layer: &FaultLayer, clock: Clock) -> (Result<u32, CallFault>, u64, u64) {
        let effect = Arc::new(AtomicU64::new(0));
        let t0 = clock.now_us();
        let r = layer.call(callee(&effect)).await;
        (r, effect.load(Ordering::SeqCst), clock.now_us() - t0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_outside_its_window_does_nothing() {
        let (r, effects, took_us, chaos) =
            one_fault("kind = \"error\"\nstart_s = 50\nduration_s = 10").await;
        assert_eq!(r, Ok(7));
        assert_eq!(effects, 1);
        assert_eq!(took_us, 0);
        assert_eq!(chaos.summary(None).injected_total, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_delays_the_answer() {
        let (r, effects, took_us, chaos) = one_fault(
            "kind = \"latency\"\nstart_s = 0\nduration_s = 100\nlatency = { fixed_ms = 300 }",
        )
        .await;
        assert_eq!(r, Ok(7));
        assert_eq!(effects, 1);
        assert!(
            (300_000..301_000).contains(&took_us),
            "took {took_us} us, expected ~300 ms"
        );
        assert_eq!(chaos.summary(None).injected_total, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn latency_beyond_the_timeout_times_out_before_the_callee_runs() {
        let clock = Clock::start();
        let (_chaos, layer) = setup(
            "kind = \"latency\"\nstart_s = 0\nduration_s = 100\nlatency = { fixed_ms = 5000 }",
            1,
            clock,
            Some(TIMEOUT),
        );
        let effect = Arc::new(AtomicU64::new(0));
        let t0 = clock.now_us();
        let r = layer.call(callee(&effect)).await;
        assert_eq!(r, Err(CallFault::TimedOut));
        assert_eq!(clock.now_us() - t0, TIMEOUT_US);
        // Nothing is left to run the callee later either.
        clock.sleep(Duration::from_secs(10)).await;
        assert_eq!(effect.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn error_fails_fast_without_the_callee() {
        let (r, effects, took_us, chaos) =
            one_fault("kind = \"error\"\nstart_s = 0\nduration_s = 100").await;
        assert_eq!(r, Err(CallFault::Failed(None)));
        assert_eq!(effects, 0);
        assert_eq!(took_us, 0);
        assert_eq!(chaos.summary(None).injected_total, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_outage_times_out_without_the_callee() {
        let (r, effects, took_us, _) =
            one_fault("kind = \"outage\"\nmode = \"hang\"\nstart_s = 0\nduration_s = 100").await;
        assert_eq!(r, Err(CallFault::TimedOut));
        assert_eq!(effects, 0);
        assert_eq!(took_us, TIMEOUT_US);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusing_outage_fails_fast_without_the_callee() {
        let (r, effects, took_us, _) =
            one_fault("kind = \"outage\"\nmode = \"refuse\"\nstart_s = 0\nduration_s = 100").await;
        assert_eq!(r, Err(CallFault::Failed(None)));
        assert_eq!(effects, 0);
        assert_eq!(took_us, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_both_ways_or_forward_loses_the_request() {
        for direction in ["both", "forward"] {
            let clock = Clock::start();
            let (_chaos, layer) = setup(
                &format!(
                    "kind = \"partition\"\ndirection = \"{direction}\"\nstart_s = 0\nduration_s = 100"
                ),
                1,
                clock,
                Some(TIMEOUT),
            );
            let (r, effects, took_us) = one_call(&layer, clock).await;
            assert_eq!(r, Err(CallFault::TimedOut), "{direction}");
            assert_eq!(effects, 0, "{direction}: the request must not arrive");
            assert_eq!(took_us, TIMEOUT_US, "{direction}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_backward_partition_loses_the_answer_after_the_callee_acted() {
        let (r, effects, took_us, _) = one_fault(
            "kind = \"partition\"\ndirection = \"backward\"\nstart_s = 0\nduration_s = 100",
        )
        .await;
        assert_eq!(r, Err(CallFault::TimedOut));
        assert_eq!(effects, 1);
        assert_eq!(took_us, TIMEOUT_US);
    }

    #[tokio::test(start_paused = true)]
    async fn drop_response_loses_the_answer_after_the_callee_acted() {
        let (r, effects, took_us, chaos) =
            one_fault("kind = \"drop_response\"\nstart_s = 0\nduration_s = 100").await;
        assert_eq!(r, Err(CallFault::TimedOut));
        assert_eq!(effects, 1);
        assert_eq!(took_us, TIMEOUT_US);
        assert_eq!(chaos.summary(None).injected_total, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_call_is_never_delivered_twice() {
        let clock = Clock::start();
        let (_chaos, layer) = setup(
            "kind = \"duplicate\"\nstart_s = 0\nduration_s = 100\nlatency = { fixed_ms = 50 }\n\n[[fault]]\ntarget = \"gateway->tokens\"\nkind = \"error\"\nstart_s = 0\nduration_s = 100",
            1,
            clock,
            Some(TIMEOUT),
        );
        let effect = Arc::new(AtomicU64::new(0));
        let r = layer.call(callee(&effect)).await;
        assert_eq!(r, Err(CallFault::Failed(None)));
        clock.sleep(Duration::from_secs(10)).await;
        assert_eq!(
            effect.load(Ordering::SeqCst),
            0,
            "`Failed` means the callee did nothing, copies included"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn duplicate_runs_a_copy_later() {
        let clock = Clock::start();
        let (_chaos, layer) = setup(
            "kind = \"duplicate\"\nstart_s = 0\nduration_s = 100\nlatency = { fixed_ms = 50 }",
            1,
            clock,
            Some(TIMEOUT),
        );
        let effect = Arc::new(AtomicU64::new(0));
        let t0 = clock.now_us();
        let r = layer.call(callee(&effect)).await;
        assert_eq!(r, Ok(7));
        assert_eq!(clock.now_us() - t0, 0, "the original is not delayed");
        assert_eq!(effect.load(Ordering::SeqCst), 1, "the copy comes later");
        clock.sleep(Duration::from_millis(40)).await;
        assert_eq!(effect.load(Ordering::SeqCst), 1, "not yet at 40 ms");
        clock.sleep(Duration::from_millis(20)).await;
        assert_eq!(effect.load(Ordering::SeqCst), 2, "the copy ran by 60 ms");
        clock.sleep(Duration::from_secs(10)).await;
        assert_eq!(effect.load(Ordering::SeqCst), 2, "exactly one copy");
    }

    #[tokio::test(start_paused = true)]
    async fn probability_is_the_share_of_calls_hit_and_every_hit_is_counted() {
        let clock = Clock::start();
        let (chaos, layer) = setup(
            "kind = \"error\"\nstart_s = 0\nduration_s = 100\nprobability = 0.5",
            1,
            clock,
            Some(TIMEOUT),
        );
        let effect = Arc::new(AtomicU64::new(0));
        let mut failures = 0u64;
        for _ in 0..1000 {
            match layer.call(callee(&effect)).await {
                Ok(7) => {}
                Err(CallFault::Failed(None)) => failures += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((400..=600).contains(&failures), "{failures} of 1000 failed");
        assert_eq!(effect.load(Ordering::SeqCst), 1000 - failures);
        let summary = chaos.summary(None);
        assert_eq!(summary.injected_total, failures);
        assert_eq!(summary.faults[0].injected, failures);
    }

    /// Which of `n` calls failed, under `seed` with probability 0.3.
    async fn pattern(seed: u64, n: usize) -> Vec<bool> {
        let clock = Clock::start();
        let (_chaos, layer) = setup(
            "kind = \"error\"\nstart_s = 0\nduration_s = 100\nprobability = 0.3",
            seed,
            clock,
            Some(TIMEOUT),
        );
        let effect = Arc::new(AtomicU64::new(0));
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(layer.call(callee(&effect)).await.is_err());
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_seed_hits_the_same_calls() {
        let a = pattern(1, 200).await;
        let b = pattern(1, 200).await;
        let c = pattern(2, 200).await;
        assert!(a.iter().any(|f| *f) && a.iter().any(|f| !*f));
        assert_eq!(a, b, "same seed, same faults");
        assert_ne!(a, c, "another seed, other faults");
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_timeout_a_hang_never_answers() {
        let clock = Clock::start();
        let (_chaos, layer) = setup(
            "kind = \"outage\"\nmode = \"hang\"\nstart_s = 0\nduration_s = 100",
            1,
            clock,
            None,
        );
        let effect = Arc::new(AtomicU64::new(0));
        let r = tokio::time::timeout(Duration::from_secs(3600), layer.call(callee(&effect))).await;
        assert!(r.is_err(), "a hang answered: {r:?}");
        assert_eq!(effect.load(Ordering::SeqCst), 0);
        // The same for a lost answer: the callee acts, nobody hears back.
        // (A new clock: an hour has passed and the first window is over.)
        let clock = Clock::start();
        let (_chaos, layer) = setup(
            "kind = \"drop_response\"\nstart_s = 0\nduration_s = 100",
            1,
            clock,
            None,
        );
        let r = tokio::time::timeout(Duration::from_secs(3600), layer.call(callee(&effect))).await;
        assert!(r.is_err(), "a lost answer arrived: {r:?}");
        assert_eq!(effect.load(Ordering::SeqCst), 1);
    }
}
