//! Virtual-time timers: a calendar of one-millisecond buckets, and a slot
//! per live timer holding its waker.
//!
//! Why not a binary heap: a run keeps a hundred thousand timers pending
//! (client timeouts, think times, hold expiries), and each pop of a heap
//! that size walks seventeen levels of cache misses; it was a fifth of the
//! engine's time. Deadlines only move forward, so a calendar does better: a
//! timer goes into the bucket of its millisecond (a push onto a vector), and
//! a bucket is sorted once, when time reaches it. Timers beyond the
//! calendar's horizon wait in a heap and move into buckets as it comes near.
//!
//! A dropped timer frees its slot at once (bumping the slot's generation);
//! its entry stays in its bucket and is skipped when reached. So a client
//! timeout that never fires wakes nobody.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::{task_of, with_core, Core};

/// Buckets in the calendar: a horizon of about 16 s at 1 ms each.
const BUCKETS: u64 = 1 << 14;
const BUCKET_US: u64 = 1_000;
/// Entries a drained bucket's vector keeps room for (see `next_bucket`).
const BUCKET_KEEP: usize = 16;

/// (deadline, sequence, slot index, slot generation): ordered by deadline,
/// ties by the order the timers were set.
type Entry = (u64, u64, u32, u32);

/// A set timer: its slot's index and the slot's generation then.
type TimerId = (u32, u32);

pub(super) struct Timers {
    buckets: Vec<Vec<Entry>>,
    /// Entries for buckets ahead of the cursor, not yet in them: a push
    /// onto a bucket far ahead missed the cache twice (its vector's header,
    /// then its tail), one after the other. Here they go onto one hot
    /// tail and are filed in a batch when the cursor next moves, each
    /// bucket asked for a few entries ahead, so those misses overlap
    /// (`file_incoming`).
    incoming: Vec<Entry>,
    /// Entries in `buckets` and `incoming`.
    bucketed: usize,
    /// The bucket time has reached (in ms); every entry before it has fired.
    cursor_ms: u64,
    /// The cursor's bucket, sorted with the earliest entry last.
    current: Vec<Entry>,
    /// Entries beyond the horizon.
    far: BinaryHeap<Reverse<Entry>>,
    slots: Vec<TimerSlot>,
    free: Vec<u32>,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            buckets: (0..BUCKETS).map(|_| Vec::new()).collect(),
            incoming: Vec::new(),
            bucketed: 0,
            cursor_ms: 0,
            current: Vec::new(),
            far: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

/// One line: the look-ahead reads it a wake ahead.
#[repr(align(64))]
struct TimerSlot {
    waker: Option<Waker>,
    /// Where the sleep that set it was when last polled: inside the state
    /// of the future that resumes when it fires, which is worth asking for
    /// ahead (`Core::prefetch_upcoming`). Only ever prefetched, never read
    /// through (a sleep that moved leaves a useless hint, nothing worse).
    sleeper: usize,
    /// Lines the poll after the wake will read, named by the code that
    /// slept ([`super::hint_next_sleep`]; 0 for none): table entries the
    /// step after the sleep looks up, asked for with the sleeper's lines.
    hint: super::Hint,
    generation: u32,
}

const _: () = assert!(std::mem::size_of::<TimerSlot>() == 64);

impl Timers {
    /// Sets a timer that fires at `at_us` after the timers due then with a
    /// lower `seq` (see `Core::next_seq`) and before those with a higher.
    fn set(
        &mut self,
        at_us: u64,
        seq: u64,
        waker: Waker,
        sleeper: usize,
        hint: super::Hint,
    ) -> TimerId {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(TimerSlot {
                    waker: None,
                    sleeper: 0,
                    hint: super::NO_HINT,
                    generation: 0,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.waker = Some(waker);
        slot.sleeper = sleeper;
        slot.hint = hint;
        let generation = slot.generation;
        self.insert((at_us, seq, index, generation));
        (index, generation)
    }

    fn insert(&mut self, e: Entry) {
        let ms = e.0 / BUCKET_US;
        if ms <= self.cursor_ms {
            // Due within the bucket being drained (a deadline is never in
            // the past): keep `current` sorted, earliest last.
            let at = self.current.partition_point(|x| x > &e);
            self.current.insert(at, e);
        } else if ms < self.cursor_ms + BUCKETS {
            self.incoming.push(e);
            self.bucketed += 1;
        } else {
            self.far.push(Reverse(e));
        }
    }

    /// Asks for the slot of `current[i]` ahead of its check (one line: a
    /// slot is 64 bytes, aligned).
    fn ask_for_slot(&self, i: usize) {
        if let Some(&(_, _, index, _)) = self.current.get(i) {
            super::prefetch::line(self.slots.as_ptr().wrapping_add(index as usize));
        }
    }

    /// The waker of the live timer `k` entries after the next one due in
    /// the bucket being drained (0: the next), for asking ahead for what its
    /// wake will touch. Reads the entry's slot: ask for it first.
    pub(super) fn upcoming_waker(&self, k: usize) -> Option<(&Waker, usize, super::Hint)> {
        let i = self.current.len().checked_sub(1 + k)?;
        let (_, _, index, generation) = self.current[i];
        let slot = self
            .slots
            .get(index as usize)
            .filter(|s| s.generation == generation)?;
        Some((slot.waker.as_ref()?, slot.sleeper, slot.hint))
    }

    fn live(&mut self, (index, generation): TimerId) -> Option<&mut TimerSlot> {
        self.slots
            .get_mut(index as usize)
            .filter(|s| s.generation == generation)
    }

    /// Frees a timer's slot; true if it had not fired yet.
    fn release(&mut self, id: TimerId) -> bool {
        if let Some(slot) = self.live(id) {
            let unfired = slot.waker.take().is_some();
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(id.0);
            return unfired;
        }
        false
    }

    /// Puts the entries of `incoming` into their buckets, in the order they
    /// came (a bucket is sorted when the cursor reaches it anyway), asking
    /// for each bucket's header eight entries ahead and for its tail four
    /// ahead, by when the header is there to say where the tail is.
    fn file_incoming(&mut self) {
        const HEADER_AHEAD: usize = 8;
        const TAIL_AHEAD: usize = 4;
        let bucket_of = |e: &Entry| ((e.0 / BUCKET_US) % BUCKETS) as usize;
        let incoming = std::mem::take(&mut self.incoming);
        for (i, e) in incoming.iter().enumerate() {
            if let Some(ahead) = incoming.get(i + HEADER_AHEAD) {
                super::prefetch::line(&self.buckets[bucket_of(ahead)]);
            }
            if let Some(ahead) = incoming.get(i + TAIL_AHEAD) {
                let bucket = &self.buckets[bucket_of(ahead)];
                super::prefetch::line(bucket.as_ptr().wrapping_add(bucket.len()));
            }
            self.buckets[bucket_of(e)].push(*e);
        }
        self.incoming = incoming;
        self.incoming.clear();
    }

    /// Moves the cursor to the next bucket holding entries and sorts it into
    /// `current`. False when no entry is left anywhere.
    fn next_bucket(&mut self) -> bool {
        // Entries are filed before the cursor moves: each is for a bucket
        // past the cursor as it stood when the entry came.
        self.file_incoming();
        let mut empty_steps = 0;
        loop {
            if self.bucketed == 0 {
                match self.far.peek() {
                    Some(Reverse(e)) => self.cursor_ms = self.cursor_ms.max(e.0 / BUCKET_US),
                    None => return false,
                }
            } else {
                self.cursor_ms += 1;
                // A lap of empty buckets while entries are counted: an entry
                // was counted and never filed. Fail rather than spin.
                empty_steps += 1;
                assert!(empty_steps <= BUCKETS, "timers counted in no bucket");
            }
            while let Some(Reverse(e)) = self.far.peek() {
                if e.0 / BUCKET_US >= self.cursor_ms + BUCKETS {
                    break;
                }
                let Reverse(e) = self.far.pop().expect("peeked");
                self.buckets[((e.0 / BUCKET_US) % BUCKETS) as usize].push(e);
                self.bucketed += 1;
            }
            let bucket = &mut self.buckets[(self.cursor_ms % BUCKETS) as usize];
            if !bucket.is_empty() {
                self.bucketed -= bucket.len();
                // `current` is empty: swapping keeps both vectors' capacity.
                std::mem::swap(&mut self.current, bucket);
                // But not all of it. A bucket's vector would keep the most
                // entries it ever held, and every bucket in turn holds the
                // busiest millisecond's timers: 16,384 buckets of that
                // (at Singles' Day's peak, about 1 GB a cell) for timers
                // that are mostly due within a second. A bucket regrows
                // once per lap of the calendar (16 s).
                bucket.shrink_to(BUCKET_KEEP);
                self.current.sort_unstable_by(|a, b| b.cmp(a));
                return true;
            }
        }
    }

    /// The earliest live deadline (never before `now_us`), with the wakers
    /// of every live timer due then pushed onto `wakers` in the order they
    /// were set (a vector the caller reuses: no allocation per instant).
    pub(super) fn pop_due(&mut self, now_us: u64, wakers: &mut Vec<Waker>) -> Option<u64> {
        let mut due: Option<u64> = None;
        loop {
            let Some(&(at_us, _, index, generation)) = self.current.last() else {
                if due.is_some() || !self.next_bucket() {
                    return due;
                }
                continue;
            };
            if due.is_some_and(|when| at_us > when) {
                return due;
            }
            // The slot checked below is usually cold: ask for the one a few
            // entries on (`current` is drained from its end).
            if let Some(i) = self
                .current
                .len()
                .checked_sub(1 + super::prefetch::SLOT_AHEAD)
            {
                self.ask_for_slot(i);
            }
            self.current.pop();
            let Some(waker) = self.live((index, generation)).and_then(|s| s.waker.take()) else {
                continue;
            };
            due.get_or_insert(at_us.max(now_us));
            wakers.push(waker);
        }
    }
}

/// A future that completes at a virtual instant.
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    at_us: u64,
    armed: Armed,
}

#[derive(Clone, Copy)]
enum Armed {
    No,
    /// No timer yet, but its place among timers due at the same instant,
    /// taken when it was first polled: a timeout that put off setting its
    /// timer (`Sleep::poll_unless_woken_by`) fires, once it sets it, exactly
    /// where it would have had it been set then.
    Reserved(u64),
    Set(TimerId),
}

/// Sleeps until `at_us` virtual microseconds after the executor started.
pub fn sleep_until_us(at_us: u64) -> Sleep {
    Sleep {
        at_us,
        armed: Armed::No,
    }
}

impl Sleep {
    /// Sleeps for `d` from now.
    pub fn after(d: Duration) -> Sleep {
        sleep_until_us(super::now_us().saturating_add(d.as_micros() as u64))
    }
}

impl Sleep {
    /// Polls like [`Future::poll`], except that while `wake_by` (from
    /// [`super::earliest_wake`]) is before its deadline it sets no timer:
    /// the task will be woken before then anyway, and polls this again. It
    /// takes its place among same-instant timers now, as setting the timer
    /// would have. A timer already set is kept. (`wake_by` is never before
    /// now: only a sleep still pending notes it.)
    pub(crate) fn poll_unless_woken_by(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        wake_by: Option<u64>,
    ) -> Poll<()> {
        if !matches!(self.armed, Armed::Set(..)) && wake_by.is_some_and(|t| t < self.at_us) {
            if matches!(self.armed, Armed::No) {
                let seq =
                    with_core(Core::next_seq).expect("a sim sleep polled outside the sim executor");
                self.armed = Armed::Reserved(seq);
            }
            return Poll::Pending;
        }
        self.poll(cx)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let at_us = self.at_us;
        let armed = self.armed;
        let sleeper = std::ptr::from_ref::<Sleep>(&self) as usize;
        let (done, armed) = with_core(|core| {
            // A hint is for the sleep polled next, this one, whatever it does.
            let hint = core.hint.take();
            let mut timers = core.timers.borrow_mut();
            if core.now_us.get() >= at_us {
                if let Armed::Set(id) = armed {
                    timers.release(id);
                }
                return (true, Armed::No);
            }
            // This task will be woken by `at_us` (see `earliest_wake`).
            if task_of(cx.waker()) == Some(core.polling.get()) {
                core.wake_by.set(core.wake_by.get().min(at_us));
            }
            let live = match armed {
                Armed::Set(id) => timers.live(id),
                _ => None,
            };
            match live {
                Some(slot) => {
                    // Polled again before firing: keep the waker current. A
                    // wake promised to the old waker no longer holds.
                    match &slot.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        old => {
                            if old.is_some() {
                                core.timers_lost.set(core.timers_lost.get() + 1);
                            }
                            slot.waker = Some(cx.waker().clone());
                        }
                    }
                    slot.sleeper = sleeper;
                    if hint != super::NO_HINT {
                        slot.hint = hint;
                    }
                    (false, armed)
                }
                None => {
                    let seq = match armed {
                        Armed::Reserved(seq) => seq,
                        _ => core.next_seq(),
                    };
                    core.count(|s| s.timers_set += 1);
                    (
                        false,
                        Armed::Set(timers.set(at_us, seq, cx.waker().clone(), sleeper, hint)),
                    )
                }
            }
        })
        .expect("a sim sleep polled outside the sim executor");
        self.armed = armed;
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Armed::Set(id) = self.armed {
            with_core(|core| {
                if core.timers.borrow_mut().release(id) {
                    core.timers_lost.set(core.timers_lost.get() + 1);
                }
            });
        }
    }
}

/// The deadline passed before the future finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

#[cfg(test)]
mod tests {
    use super::*;

    /// The look-ahead reads each upcoming timer's hint from its slot.
    #[test]
    fn a_timer_carries_its_hint_to_the_look_ahead() {
        let mut t = Timers::default();
        for (at_us, hint) in [
            (2_100, super::super::NO_HINT),
            (2_200, [0x1000, 0, 0, 0]),
            (2_300, [0x2000, 0x3000, 0x4000, 0x5000]),
        ] {
            t.set(at_us, at_us, Waker::noop().clone(), 0, hint);
        }
        let mut wakers = Vec::new();
        assert_eq!(t.pop_due(0, &mut wakers), Some(2_100));
        let hint = |t: &Timers, k| t.upcoming_waker(k).map(|(_, _, hint)| hint);
        assert_eq!(hint(&t, 0), Some([0x1000, 0, 0, 0]));
        assert_eq!(hint(&t, 1), Some([0x2000, 0x3000, 0x4000, 0x5000]));
        assert_eq!(hint(&t, 2), None);
    }

    /// A drained bucket gives its room back: after bursts of timers in a
    /// few milliseconds, the buckets keep no more than their keep each,
    /// however many entries passed through them (the vector that carried
    /// a burst stays as `current`, one for the whole calendar).
    #[test]
    fn drained_buckets_give_their_room_back() {
        let mut t = Timers::default();
        for ms in 1..=3u64 {
            for i in 0..10_000 {
                let seq = ms * 100_000 + i;
                t.set(
                    ms * BUCKET_US + i % BUCKET_US,
                    seq,
                    Waker::noop().clone(),
                    0,
                    super::super::NO_HINT,
                );
            }
        }
        let (mut wakers, mut fired) = (Vec::new(), 0);
        while t.pop_due(0, &mut wakers).is_some() {
            fired += wakers.len();
            wakers.clear();
        }
        assert_eq!(fired, 30_000);
        let room: usize = t.buckets.iter().map(Vec::capacity).sum();
        assert!(
            room <= 3 * BUCKET_KEEP,
            "buckets keep room for {room} entries"
        );
    }
}
