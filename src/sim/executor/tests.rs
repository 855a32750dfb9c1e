use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::*;
use crate::sim::Clock;

fn timeout<F: Future>(d: Duration, f: F) -> crate::sim::clock::Timeout<F> {
    Clock::start().timeout(d, f)
}

fn log() -> Rc<RefCell<Vec<(u64, &'static str)>>> {
    Rc::new(RefCell::new(Vec::new()))
}

#[test]
fn timers_fire_in_deadline_order_and_ties_in_the_order_they_were_set() {
    let seen = log();
    let s = seen.clone();
    block_on(async move {
        for (at, name) in [(300, "c"), (100, "a"), (300, "d"), (200, "b")] {
            let s = s.clone();
            spawn_detached(async move {
                sleep_until_us(at).await;
                s.borrow_mut().push((now_us(), name));
            });
        }
        sleep_until_us(1_000).await;
    })
    .unwrap();
    assert_eq!(
        *seen.borrow(),
        vec![(100, "a"), (200, "b"), (300, "c"), (300, "d")]
    );
}

#[test]
fn time_jumps_straight_to_the_next_timer() {
    let wall = std::time::Instant::now();
    let at = block_on(async {
        Sleep::after(Duration::from_secs(86_400)).await;
        now_us()
    })
    .unwrap();
    assert_eq!(at, 86_400_000_000);
    assert!(wall.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_timeout_fires_at_its_deadline_and_a_faster_future_wins() {
    block_on(async {
        let slow = timeout(
            Duration::from_millis(5),
            Sleep::after(Duration::from_millis(9)),
        )
        .await;
        assert_eq!(slow, Err(Elapsed));
        assert_eq!(now_us(), 5_000);
        let fast = timeout(Duration::from_millis(5), async { 7 }).await;
        assert_eq!(fast, Ok(7));
        assert_eq!(now_us(), 5_000);
    })
    .unwrap();
}

#[test]
fn a_dropped_timer_wakes_nobody() {
    let polls = Rc::new(RefCell::new(0u32));
    let p = polls.clone();
    block_on(async move {
        let h = spawn(async move {
            // The 1 s timeout is dropped when the 1 ms sleep wins; the task
            // then sleeps 10 s and must be polled only when that ends.
            let _ = timeout(
                Duration::from_secs(1),
                Sleep::after(Duration::from_millis(1)),
            )
            .await;
            let mut long = sleep_until_us(10_000_000);
            std::future::poll_fn(|cx| {
                *p.borrow_mut() += 1;
                std::pin::Pin::new(&mut long).poll(cx)
            })
            .await;
        });
        h.await;
    })
    .unwrap();
    // Once when first waiting, once at 10 s: the stale 1 s entry skipped.
    assert_eq!(*polls.borrow(), 2);
}

#[test]
fn join_handles_return_outputs_and_tasks_run_in_spawn_order() {
    let seen = log();
    let s = seen.clone();
    let total = block_on(async move {
        let handles: Vec<_> = (0..4u64)
            .map(|i| {
                let s = s.clone();
                spawn(async move {
                    s.borrow_mut().push((i, "ran"));
                    yield_now().await;
                    i * 10
                })
            })
            .collect();
        let mut total = 0;
        for h in handles {
            total += h.await;
        }
        total
    })
    .unwrap();
    assert_eq!(total, 60);
    let order: Vec<u64> = seen.borrow().iter().map(|(i, _)| *i).collect();
    assert_eq!(order, vec![0, 1, 2, 3]);
}

#[test]
fn tokio_sync_primitives_work_on_it() {
    let got = block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
        let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
        let s2 = sem.clone();
        spawn_detached(async move {
            for i in 0..3 {
                let _permit = s2.acquire().await.unwrap();
                Sleep::after(Duration::from_millis(1)).await;
                tx.send(i).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        got
    })
    .unwrap();
    assert_eq!(got, vec![0, 1, 2]);
}

#[test]
fn waiting_on_nothing_is_reported_as_a_stall_not_a_hang() {
    let err = block_on(async {
        Sleep::after(Duration::from_millis(3)).await;
        let (_tx, rx) = tokio::sync::oneshot::channel::<()>();
        spawn_detached(async {
            std::future::pending::<()>().await;
        });
        let _ = rx.await;
    })
    .unwrap_err();
    assert_eq!(err.at_us, 3_000);
    assert_eq!(err.waiting, 1);
}

#[test]
fn leftover_tasks_are_dropped_when_main_returns() {
    struct Flag(Rc<RefCell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }
    let dropped = Rc::new(RefCell::new(false));
    let d = dropped.clone();
    block_on(async move {
        spawn_detached(async move {
            let _flag = Flag(d);
            Sleep::after(Duration::from_secs(3_600)).await;
        });
        yield_now().await;
    })
    .unwrap();
    assert!(*dropped.borrow());
    assert!(!active());
}

#[test]
fn stats_count_spawns_polls_and_timers() {
    let s = block_on(async {
        for _ in 0..3 {
            spawn_detached(async {
                Sleep::after(Duration::from_millis(2)).await;
            });
        }
        // A timeout that loses its race: set, never fired.
        let _ = timeout(Duration::from_secs(1), async {}).await;
        Sleep::after(Duration::from_millis(5)).await;
        stats()
    })
    .unwrap();
    assert_eq!(s.tasks_spawned, 3);
    assert_eq!(s.peak_tasks, 3);
    // Each task: polled once to set its timer, once when it fires.
    assert_eq!(s.polls, 6);
    // 3 tasks' sleeps and main's 5 ms sleep; the timeout's sleep is never
    // polled (its future was ready first), so never set.
    assert_eq!(s.timers_set, 4);
    // The tasks' sleeps and main's all fire.
    assert_eq!(s.timers_fired, 4);
    assert_eq!(stats(), EngineStats::default(), "zero outside an executor");
}

/// The prefetch ahead of a batch of wakes reads the task's slot out of the
/// waker: right for this executor's wakers, and nothing for any other (a
/// waker of another engine carries a pointer, not a slot number).
#[test]
fn a_waker_names_its_slot_only_when_it_is_this_executors() {
    assert_eq!(task_index(&waker(pack(7, 3))), Some(7));
    assert_eq!(task_index(&waker(MAIN)), Some(u32::MAX as usize));
    assert_eq!(task_index(Waker::noop()), None);
}

/// A timeout around work that sleeps sets no timer while that sleep will
/// wake the task first, and still ends at its deadline to the microsecond
/// when the work outlasts it.
#[test]
fn a_timeout_around_a_sleep_sets_a_timer_only_when_the_work_would_outlast_it() {
    let s = block_on(async {
        let fast = timeout(Duration::from_millis(5), async {
            Sleep::after(Duration::from_millis(2)).await;
            7
        })
        .await;
        assert_eq!(fast, Ok(7));
        assert_eq!(stats().timers_set, 1, "only the work's sleep");
        let slow = timeout(Duration::from_millis(5), async {
            Sleep::after(Duration::from_millis(2)).await;
            Sleep::after(Duration::from_millis(9)).await;
        })
        .await;
        assert_eq!(slow, Err(Elapsed));
        assert_eq!(now_us(), 2_000 + 5_000);
        stats()
    })
    .unwrap();
    // 1 + the two sleeps + the deadline, set once the 9 ms sleep began.
    assert_eq!(s.timers_set, 4);
}

/// A timeout that put off setting its timer fires where it would have had
/// it set it at once: before a timer due at the same instant that was set
/// after the timeout was first polled.
#[test]
fn a_put_off_timeout_keeps_its_place_among_same_instant_timers() {
    let seen = log();
    let (a, b) = (seen.clone(), seen.clone());
    block_on(async move {
        spawn_detached(async move {
            let r = timeout(Duration::from_millis(5), async {
                Sleep::after(Duration::from_millis(1)).await;
                Sleep::after(Duration::from_millis(10)).await;
            })
            .await;
            assert_eq!(r, Err(Elapsed));
            a.borrow_mut().push((now_us(), "timeout"));
        });
        spawn_detached(async move {
            sleep_until_us(5_000).await;
            b.borrow_mut().push((now_us(), "sleep"));
        });
        sleep_until_us(20_000).await;
    })
    .unwrap();
    assert_eq!(*seen.borrow(), vec![(5_000, "timeout"), (5_000, "sleep")]);
}

/// In a spawned task as in the main future, a timeout whose work's sleep
/// ends first sets no timer; one whose work's sleep ends at the deadline
/// does (and the work, polled first, still wins).
#[test]
fn a_timeout_in_a_task_leans_on_its_work_only_when_that_ends_first() {
    let s = block_on(async {
        let h = spawn(async {
            timeout(
                Duration::from_millis(5),
                Sleep::after(Duration::from_millis(2)),
            )
            .await
        });
        assert_eq!(h.await, Ok(()));
        assert_eq!(stats().timers_set, 1);
        let tie = timeout(
            Duration::from_millis(5),
            Sleep::after(Duration::from_millis(5)),
        )
        .await;
        assert_eq!(tie, Ok(()));
        stats()
    })
    .unwrap();
    assert_eq!(s.timers_set, 3);
}

/// Runs a 5 ms timeout around work that holds a 1 ms sleep, does `step` to
/// it on every poll and never finishes; asserts that the timeout ends
/// exactly at its deadline (a timeout that leaned on the sleep wrongly
/// would stall the run instead).
async fn ends_at_its_deadline(
    mut step: impl FnMut(&mut Context<'_>, &mut Option<Pin<Box<Sleep>>>),
) {
    let start = now_us();
    let mut sleep = Some(Box::pin(Sleep::after(Duration::from_millis(1))));
    let work = std::future::poll_fn(move |cx| {
        step(cx, &mut sleep);
        Poll::<()>::Pending
    });
    assert_eq!(timeout(Duration::from_millis(5), work).await, Err(Elapsed));
    assert_eq!(now_us(), start + 5_000);
}

/// A timeout cannot lean on a sleep its work dropped in the same poll, nor
/// on one that would wake somebody else: it sets its own timer, and the run
/// ends at the deadline instead of stalling.
#[test]
fn a_timeout_does_not_lean_on_a_dropped_sleep_or_another_wakers() {
    block_on(async {
        // Noted, then dropped in the same poll.
        ends_at_its_deadline(|cx, sleep| {
            if let Some(s) = sleep.as_mut() {
                assert!(s.as_mut().poll(cx).is_pending());
            }
            *sleep = None;
        })
        .await;

        // Polled with a waker that is not this executor's.
        ends_at_its_deadline(|_, sleep| {
            if let Some(s) = sleep.as_mut() {
                let _ = s.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }
        })
        .await;

        // Another task's own waker: a timer of this executor's, but it
        // wakes that task, not this one.
        let other: Rc<RefCell<Option<Waker>>> = Rc::default();
        let o = other.clone();
        spawn_detached(std::future::poll_fn(move |cx| {
            *o.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        yield_now().await;
        let theirs = other.borrow().clone().expect("the task ran");
        ends_at_its_deadline(move |_, sleep| {
            if let Some(s) = sleep.as_mut() {
                let _ = s.as_mut().poll(&mut Context::from_waker(&theirs));
            }
        })
        .await;

        // Noted with this task's waker, then handed to another in the same
        // poll: the note no longer holds.
        ends_at_its_deadline(|cx, sleep| {
            if let Some(s) = sleep.as_mut() {
                let _ = s.as_mut().poll(cx);
                let _ = s.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }
        })
        .await;
    })
    .unwrap();
}

/// A task's slot keeps the boxes its last pending poll went through,
/// outermost first, and forgets a box once it has finished.
#[test]
fn a_slot_keeps_the_trail_of_boxes_its_task_is_waiting_in() {
    block_on(async {
        spawn_detached(async {
            boxed(async {
                boxed(Sleep::after(Duration::from_millis(1))).await;
            })
            .await;
            Sleep::after(Duration::from_millis(1)).await;
        });
        let trail = || with_core(|c| c.slots.borrow()[0].trail).unwrap();
        yield_now().await;
        let inside = trail();
        assert!(inside[0] != 0 && inside[1] != 0 && inside[0] != inside[1]);
        assert_eq!(inside[2..], [0; trail::LEN - 2]);
        Sleep::after(Duration::from_micros(1_500)).await;
        assert_eq!(trail(), [0; trail::LEN], "both boxes finished");
    })
    .unwrap();
}

/// A hint goes with the next sleep polled: that sleep takes it, and the
/// next task's poll starts without one, so a hint no sleep took (a zero
/// delay sets no timer) never rides on another task's sleep.
#[test]
fn a_hint_is_taken_by_the_next_sleep_and_never_outlives_its_poll() {
    let hint = || with_core(|c| c.hint.get()).unwrap();
    block_on(async move {
        spawn_detached(async {
            hint_next_sleep([0x1000, 0x1800, 0, 0x2800]);
            Sleep::after(Duration::from_millis(5)).await;
        });
        yield_now().await;
        assert_eq!(hint(), NO_HINT, "the sleep took it");
        let seen = Rc::new(std::cell::Cell::new([usize::MAX; 4]));
        spawn_detached(async {
            hint_next_sleep([0x2000, 0, 0, 0]);
        });
        let s = seen.clone();
        spawn_detached(async move { s.set(hint()) });
        yield_now().await;
        assert_eq!(seen.get(), NO_HINT, "the next task's poll started clean");
    })
    .unwrap();
}
