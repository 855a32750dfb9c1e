//! The floor under paystorm's speed: what the engine costs for one task per
//! payment and N sleeps per task, with no payment work at all — on tokio's
//! paused-time runtime (what sim mode first ran on) and on paystorm's own
//! sim executor (`src/sim/executor`, what it runs on now). paystorm models
//! each hop (wallet, gateway, vault, network, issuer, webhook endpoint...)
//! as one sleep, so this bounds how fast a run can go.
//!
//!   cargo bench --bench engine_floor
//!
//! Prints tasks per wall-second for a few shapes: short sleeps (tens of ms)
//! and spread sleeps (up to 2 s, as with client timeouts and think time),
//! where many more tasks are alive at once.

use std::time::{Duration, Instant};

fn floor(tasks: u64, sleeps: u64, rate_per_s: u64, spread_ms: u64) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let wall = Instant::now();
    rt.block_on(async move {
        let start = tokio::time::Instant::now();
        let mut handles = Vec::with_capacity(tasks as usize);
        for i in 0..tasks {
            tokio::time::sleep_until(start + Duration::from_micros(i * 1_000_000 / rate_per_s))
                .await;
            handles.push(tokio::spawn(async move {
                for k in 0..sleeps {
                    let us = 1_000 + (i * 7_919 + k * 104_729) % (spread_ms * 1_000);
                    tokio::time::sleep(Duration::from_micros(us)).await;
                }
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    });
    tasks as f64 / wall.elapsed().as_secs_f64()
}

/// The same shape on paystorm's own sim executor (`src/sim/executor`).
fn sim_floor(tasks: u64, sleeps: u64, rate_per_s: u64, spread_ms: u64) -> f64 {
    use paystorm::sim::executor;
    let wall = Instant::now();
    executor::block_on(async move {
        let mut handles = Vec::with_capacity(tasks as usize);
        for i in 0..tasks {
            executor::sleep_until_us(i * 1_000_000 / rate_per_s).await;
            handles.push(executor::spawn(async move {
                for k in 0..sleeps {
                    let us = 1_000 + (i * 7_919 + k * 104_729) % (spread_ms * 1_000);
                    executor::Sleep::after(Duration::from_micros(us)).await;
                }
            }));
        }
        for h in handles {
            h.await;
        }
    })
    .expect("no stall");
    tasks as f64 / wall.elapsed().as_secs_f64()
}

fn main() {
    let tasks = 1_000_000;
    for (engine, run) in [
        ("tokio paused", floor as fn(u64, u64, u64, u64) -> f64),
        ("sim executor", sim_floor),
    ] {
        for (sleeps, spread_ms) in [(4, 50), (10, 50), (10, 2_000)] {
            let mut runs: Vec<f64> = (0..3)
                .map(|_| run(tasks, sleeps, 10_000, spread_ms))
                .collect();
            runs.sort_by(|a, b| a.total_cmp(b));
            println!(
                "{engine}: {tasks} tasks x {sleeps} sleeps (each 1..{spread_ms} ms) at 10,000/s: {:.0} tasks per wall-second (median of 3)",
                runs[1]
            );
        }
    }
}
