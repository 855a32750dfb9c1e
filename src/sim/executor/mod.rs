//! Sim mode's engine: a single-threaded executor with virtual time.
//!
//! Why not tokio's paused runtime, which sim mode used first: every hop of a
//! payment is a sleep, and tokio pays for machinery a simulation does not
//! need — atomic task states and reference counts, a sharded list of owned
//! tasks, a timer wheel built for wall-clock drivers, a budget per poll. Its
//! floor (`cargo bench --bench tokio_floor`) was under 100,000 payments per
//! wall-second before any payment work. Here a task is a slot in a vector,
//! a waker is the slot's number (no allocation, no reference count), and
//! timers sit in a calendar of millisecond buckets (`timer.rs`). What a wake
//! will touch next is fetched ahead (`prefetch.rs`).
//!
//! Determinism: ready tasks run first in, first out; timers fire in deadline
//! order, ties in the order they were set. Nothing reads the wall clock.
//!
//! The executor is entered with [`block_on`]; inside it, [`spawn`],
//! [`sleep_until_us`] and [`now_us`] use it ([`crate::sim::Clock`] and
//! [`crate::sim::task`] pick it or tokio, so the stack's code serves both). Wakers are plain
//! integers: a wake from another thread (none happens in a sim run) is
//! ignored rather than routed, and a run whose tasks all wait on nothing is
//! reported as [`Stalled`] instead of hanging.

mod boxed;
mod join;
mod prefetch;
mod timer;
mod trail;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

pub use boxed::{boxed, Boxed};
pub use join::JoinHandle;
pub use timer::{sleep_until_us, Elapsed, Sleep};

use timer::Timers;

type Task = Pin<Box<dyn Future<Output = ()>>>;

/// One task's place: its future (out of the slot while it is being polled),
/// a generation that makes stale wakers harmless, and whether it is queued.
#[repr(align(64))]
struct Slot {
    future: Option<Task>,
    generation: u32,
    queued: bool,
    /// The boxed futures ([`Boxed`]) still pending after the task's last
    /// poll that returned `Pending`, in the order that poll entered them
    /// (outermost first; boxes side by side under a join look nested), each
    /// packed by [`trail::pack`]; 0 past the end. The next poll most likely
    /// passes the same boxes, so they are asked for before it.
    trail: [usize; trail::LEN],
}

impl Slot {
    /// Asks for the start of the task's future, which its next poll reads
    /// first (see `prefetch.rs`).
    fn ask_for_future(&self) {
        if let Some(future) = self.future.as_ref() {
            prefetch::value::<dyn Future<Output = ()>>(&**future);
        }
    }
}

/// The executor's state, reachable from this thread while [`block_on`] runs.
struct Core {
    now_us: Cell<u64>,
    ready: RefCell<VecDeque<u64>>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    timers: RefCell<Timers>,
    /// Timers' places in the order of those due at the same instant, handed
    /// out in the order they were set (or, for a timeout that put off
    /// setting its timer, in the order it would have been).
    seq: Cell<u64>,
    /// Whether the future given to [`block_on`] is queued.
    main_woken: Cell<bool>,
    /// Tasks spawned and not yet finished.
    live: Cell<usize>,
    stats: Cell<EngineStats>,
    /// The wakers of the timers due at one instant, reused.
    due: RefCell<Vec<Waker>>,
    /// The task being polled (its number, as its waker carries it).
    polling: Cell<u64>,
    /// See [`earliest_wake`]: the earliest deadline among the timers found
    /// pending, with the polled task's own waker, in the current scope.
    wake_by: Cell<u64>,
    /// Timers dropped before they fired or handed to another waker, ever:
    /// a scope that sees this move cannot trust `wake_by` (the timer it
    /// noted may no longer wake this task).
    timers_lost: Cell<u64>,
    /// The boxed futures the current poll has descended through.
    trail: trail::Trail,
    /// What [`hint_next_sleep`] named for the next sleep polled.
    hint: Cell<Hint>,
}

/// What the engine did: the cost of a run in the units the engine pays in
/// (perf.json `engine`; divide by the payments for a cost per payment).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    pub tasks_spawned: u64,
    /// Tasks polled (each wake that found its task alive).
    pub polls: u64,
    pub timers_set: u64,
    /// Timers that fired (the rest were dropped first: timeouts that
    /// lost their race, sleeps cut short by a shutdown).
    pub timers_fired: u64,
    /// The most tasks alive at once.
    pub peak_tasks: u64,
}

impl EngineStats {
    /// Adds another engine's figures (a run's cells): counts add, and so do
    /// the peaks, which makes the sum an upper bound on the tasks alive at
    /// once (the cells' peaks need not coincide).
    pub fn add(&mut self, other: &EngineStats) {
        self.tasks_spawned += other.tasks_spawned;
        self.polls += other.polls;
        self.timers_set += other.timers_set;
        self.timers_fired += other.timers_fired;
        self.peak_tasks += other.peak_tasks;
    }
}

/// This thread's executor's figures so far (zero outside one).
pub fn stats() -> EngineStats {
    with_core(|c| c.stats.get()).unwrap_or_default()
}

impl Core {
    fn count(&self, f: impl FnOnce(&mut EngineStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }
}

/// The waker's number for the future given to [`block_on`].
const MAIN: u64 = u64::MAX;

thread_local! {
    static CURRENT: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with this thread's executor, if one is running.
fn with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    CURRENT.with(|c| {
        let p = c.get();
        // SAFETY: CURRENT points at the Core owned by the `block_on` frame
        // on this thread, set on entry and cleared (by a guard) before that
        // frame ends; nothing else stores the pointer.
        (!p.is_null()).then(|| f(unsafe { &*p }))
    })
}

/// Whether this thread is inside [`block_on`].
pub fn active() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Up to four lines the step after a sleep will read (addresses; 0 for
/// none). Four, so a timer's slot is one line of 64 bytes.
pub type Hint = [usize; 4];
pub const NO_HINT: Hint = [0; 4];

/// Names the lines the step after the next sleep will read (table entries
/// whose places are known before the sleep), so the executor asks for them
/// with the rest of the wake's path, one wake ahead
/// (`Core::prefetch_upcoming`).
/// Call it right before awaiting the sleep: the next sleep polled takes it.
/// A hint only: any address will do, it is never read through. Nothing
/// outside the sim executor (under tokio, live mode).
pub fn hint_next_sleep(lines: Hint) {
    with_core(|c| c.hint.set(lines));
}

/// Virtual microseconds since the executor started (0 outside one).
pub fn now_us() -> u64 {
    with_core(|c| c.now_us.get()).unwrap_or(0)
}

/// The run ended with tasks still waiting and nothing left that could wake
/// them: no task ready, no timer set.
#[derive(Debug, thiserror::Error)]
#[error(
    "the simulation stalled at {at_us} us: {waiting} tasks wait on something that can never happen"
)]
pub struct Stalled {
    pub at_us: u64,
    pub waiting: usize,
}

fn pack(index: u32, generation: u32) -> u64 {
    (u64::from(generation) << 32) | u64::from(index)
}

/// A task's number split back into (slot index, generation). The main
/// future's number gives an index past every slot.
fn unpack(id: u64) -> (usize, u32) {
    (id as u32 as usize, (id >> 32) as u32)
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_raw, drop_raw);

fn raw(id: u64) -> RawWaker {
    RawWaker::new(id as usize as *const (), &VTABLE)
}

unsafe fn clone_raw(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake_raw(data: *const ()) {
    let id = data as usize as u64;
    with_core(|c| c.schedule(id));
}

unsafe fn drop_raw(_: *const ()) {}

/// The slot a waker of this executor's wakes; `None` for any other waker.
/// The main future's gives `u32::MAX`, past every slot: callers bound the
/// index by the slots there are.
fn task_index(w: &Waker) -> Option<usize> {
    task_of(w).map(|id| unpack(id).0)
}

/// The task a waker of this executor's wakes, by its number; `None` for any
/// other waker (one of a combinator's own, say).
fn task_of(w: &Waker) -> Option<u64> {
    std::ptr::eq(w.vtable(), &VTABLE).then(|| w.data() as usize as u64)
}

fn waker(id: u64) -> Waker {
    // SAFETY: the vtable's functions never dereference the data pointer: it
    // is the task's number, and every function is valid for any number.
    unsafe { Waker::from_raw(raw(id)) }
}

impl Core {
    fn new() -> Core {
        Core {
            now_us: Cell::new(0),
            ready: RefCell::new(VecDeque::from([MAIN])),
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            timers: RefCell::new(Timers::default()),
            seq: Cell::new(0),
            main_woken: Cell::new(true),
            live: Cell::new(0),
            stats: Cell::new(EngineStats::default()),
            due: RefCell::new(Vec::new()),
            polling: Cell::new(MAIN),
            wake_by: Cell::new(u64::MAX),
            timers_lost: Cell::new(0),
            trail: trail::Trail::default(),
            hint: Cell::new(NO_HINT),
        }
    }

    fn next_seq(&self) -> u64 {
        self.seq.set(self.seq.get() + 1);
        self.seq.get()
    }

    fn schedule(&self, id: u64) {
        if id == MAIN {
            if !self.main_woken.replace(true) {
                self.ready.borrow_mut().push_back(MAIN);
            }
            return;
        }
        let (index, generation) = unpack(id);
        let mut slots = self.slots.borrow_mut();
        let Some(slot) = slots.get_mut(index) else {
            return;
        };
        if slot.generation == generation && !slot.queued {
            slot.queued = true;
            self.ready.borrow_mut().push_back(id);
        }
    }

    fn spawn(&self, task: Task) -> u64 {
        let index = self.free.borrow_mut().pop();
        let mut slots = self.slots.borrow_mut();
        let index = match index {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    future: None,
                    generation: 0,
                    queued: false,
                    trail: [0; trail::LEN],
                });
                (slots.len() - 1) as u32
            }
        };
        let slot = &mut slots[index as usize];
        slot.future = Some(task);
        slot.queued = true;
        let id = pack(index, slot.generation);
        self.ready.borrow_mut().push_back(id);
        self.live.set(self.live.get() + 1);
        let live = self.live.get() as u64;
        self.count(|s| {
            s.tasks_spawned += 1;
            s.peak_tasks = s.peak_tasks.max(live);
        });
        id
    }

    /// Polls one queued task. Its future leaves the slot while it runs, so
    /// the task may spawn, wake and set timers freely.
    fn run(&self, id: u64) {
        let (index, generation) = unpack(id);
        let future = {
            let mut slots = self.slots.borrow_mut();
            let slot = &mut slots[index];
            if slot.generation != generation {
                return;
            }
            slot.queued = false;
            slot.future.take()
        };
        let Some(mut future) = future else {
            return;
        };
        self.count(|s| s.polls += 1);
        self.polling.set(id);
        self.trail.clear();
        self.hint.set(NO_HINT);
        let waker = waker(id);
        match future.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => {
                let slot = &mut self.slots.borrow_mut()[index];
                slot.future = Some(future);
                slot.trail = self.trail.taken();
            }
            Poll::Ready(()) => {
                // Dropped before the slot is freed: the drop may wake or
                // spawn, and must not find its own slot reused.
                drop(future);
                let mut slots = self.slots.borrow_mut();
                let slot = &mut slots[index];
                slot.generation = slot.generation.wrapping_add(1);
                slot.queued = false;
                self.free.borrow_mut().push(index as u32);
                self.live.set(self.live.get() - 1);
            }
        }
    }

    /// Asks for the future of the task that runs after the one about to
    /// run: a poll reads its future's state first, and that memory is
    /// usually cold (the task last ran milliseconds or seconds ago).
    fn prefetch_next_future(&self) {
        let ready = self.ready.borrow();
        let Some(&next) = ready.front() else {
            return;
        };
        if let Some(slot) = self.slots.borrow().get(unpack(next).0) {
            slot.ask_for_future();
        }
    }

    /// Moves time to the earliest timer and wakes every timer due then.
    /// False when there is no timer left.
    fn advance(&self) -> bool {
        // Out of its cell while the wakers run: a wake only queues a task,
        // but nothing here should depend on that.
        let mut wakers = std::mem::take(&mut *self.due.borrow_mut());
        let due = self
            .timers
            .borrow_mut()
            .pop_due(self.now_us.get(), &mut wakers);
        let Some(at_us) = due else {
            return false;
        };
        self.now_us.set(at_us);
        self.count(|s| s.timers_fired += wakers.len() as u64);
        // Each wake checks its task's slot: ask for the slots a few wakes
        // ahead. Only an address is kept across the wakes (a wake never
        // spawns, and a prefetch of a stale address is harmless anyway).
        let (slots, live_slots) = {
            let s = self.slots.borrow();
            (s.as_ptr(), s.len())
        };
        for i in 0..wakers.len() {
            if let Some(index) = wakers
                .get(i + prefetch::SLOT_AHEAD)
                .and_then(task_index)
                .filter(|&index| index < live_slots)
            {
                prefetch::line(slots.wrapping_add(index));
            }
            wakers[i].wake_by_ref();
        }
        wakers.clear();
        *self.due.borrow_mut() = wakers;
        self.prefetch_upcoming();
        true
    }

    /// Asks for what the next instant's wakes will touch, while the tasks
    /// just woken run: for the task the next timer wakes, its future's top,
    /// the boxes on its trail and the lines around the sleep that fires;
    /// for the one after it, its slot. Usually one task is due at an
    /// instant, so the ready queue holds nothing to fetch ahead from; the
    /// calendar does. Each step mostly reads what an earlier one asked for:
    /// the timer slots (`pop_due` asks a few entries ahead, except for the
    /// first of a freshly sorted millisecond), then the task slot (asked
    /// for here, the instant before). Only the millisecond being drained is
    /// looked in, and a dropped timer's entry gives nothing to fetch.
    fn prefetch_upcoming(&self) {
        let timers = self.timers.borrow();
        let slots = self.slots.borrow();
        if let Some(slot) = timers
            .upcoming_waker(1)
            .and_then(|(w, _, _)| task_index(w))
            .and_then(|i| slots.get(i))
        {
            prefetch::line(slot);
        }
        if let Some((waker, sleeper, hint)) = timers.upcoming_waker(0) {
            prefetch::around(sleeper);
            for line in hint.into_iter().filter(|&a| a != 0) {
                prefetch::line(line as *const u8);
            }
            if let Some(slot) = task_index(waker).and_then(|i| slots.get(i)) {
                slot.ask_for_future();
                trail::prefetch(&slot.trail);
            }
        }
    }
}

/// Clears CURRENT when `block_on` ends, however it ends.
struct Entered;

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(std::ptr::null()));
    }
}

/// Runs `main` to completion on a fresh executor on this thread, with
/// virtual time starting at 0, and then drops every task still alive
/// (background loops that were never stopped).
///
/// Panics if called inside another `block_on` on the same thread.
pub fn block_on<F: Future>(main: F) -> Result<F::Output, Stalled> {
    let core = Core::new();
    CURRENT.with(|c| {
        assert!(c.get().is_null(), "sim executor entered twice");
        c.set(&core);
    });
    let entered = Entered;
    let mut main = pin!(main);
    let main_waker = waker(MAIN);
    let result = loop {
        let next = core.ready.borrow_mut().pop_front();
        match next {
            Some(MAIN) => {
                core.main_woken.set(false);
                core.polling.set(MAIN);
                core.hint.set(NO_HINT);
                if let Poll::Ready(out) = main.as_mut().poll(&mut Context::from_waker(&main_waker))
                {
                    break Ok(out);
                }
            }
            Some(id) => {
                core.prefetch_next_future();
                core.run(id);
            }
            None => {
                if !core.advance() {
                    break Err(Stalled {
                        at_us: core.now_us.get(),
                        waiting: core.live.get(),
                    });
                }
            }
        }
    };
    // Drop the leftover tasks while CURRENT still points here: their drops
    // cancel timers and may wake each other.
    let leftover: Vec<Task> = core
        .slots
        .borrow_mut()
        .iter_mut()
        .filter_map(|s| {
            s.generation = s.generation.wrapping_add(1);
            s.future.take()
        })
        .collect();
    drop(leftover);
    drop(entered);
    result
}

/// Starts `future` as a task on this thread's executor.
///
/// Panics outside [`block_on`]: callers that may run under tokio too go
/// through [`crate::sim::rt::spawn`].
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (handle, task) = join::wrap(future);
    with_core(|c| c.spawn(Box::pin(task))).expect("sim::executor::spawn outside block_on");
    handle
}

/// Spawns `future` and forgets it: no join state, one allocation.
pub fn spawn_detached<F>(future: F)
where
    F: Future<Output = ()> + 'static,
{
    with_core(|c| c.spawn(Box::pin(future))).expect("sim::executor::spawn outside block_on");
}

/// Runs `poll` (one poll of a future inside the task being polled) and
/// says by when, at the latest, a timer will wake the task: the earliest
/// deadline among the sim sleeps that returned `Pending` during it with the
/// task's own waker, provided no timer was dropped unfired or given another
/// waker meanwhile (it might have been one of them). `None` when there is
/// no such sleep, or outside the sim executor.
///
/// It holds as long as the polled future owns those sleeps and keeps them
/// in this task: one that handed a pending sleep to another task, which
/// nothing in the stack does, would void it.
///
/// Why: a timeout around work that itself sleeps (a call whose latency is
/// a sleep) need not set its own timer while that work will wake the task
/// before the deadline; it checks the deadline at that wake instead. About
/// a quarter of a payment's timers were such timeouts, set and then
/// dropped unfired.
pub(crate) fn earliest_wake<R>(poll: impl FnOnce() -> R) -> (R, Option<u64>) {
    let Some((outer, lost)) = with_core(|c| (c.wake_by.replace(u64::MAX), c.timers_lost.get()))
    else {
        return (poll(), None);
    };
    let out = poll();
    let wake_by = with_core(|c| {
        let inner = c.wake_by.get();
        // What the inner poll noted holds for the enclosing scope too.
        c.wake_by.set(outer.min(inner));
        (inner != u64::MAX && c.timers_lost.get() == lost).then_some(inner)
    })
    .flatten();
    (out, wake_by)
}

/// Lets every other ready task run before this one continues.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests;
