//! Slots: a counting semaphore, first come first served, whose uncontended
//! take and release are one atomic operation each.
//!
//! Why not tokio's `Semaphore` alone: every modelled hop of every payment
//! takes a slot (a component's capacity, a network's links, a bulkhead),
//! and tokio's release always locks the waiter list, even when nobody
//! waits: a lock, an add and an unlock, 2.3% of a run's CPU. Here the free
//! count and the number of waiters share one word, so a release that finds
//! nobody waiting is one compare-and-swap, and a take that finds a slot
//! free is another.
//!
//! Waiting is still tokio's: a caller that finds no slot free counts itself
//! as a waiter and queues on a tokio semaphore holding no permits of its
//! own. A release that finds a waiter counted hands its slot through that
//! queue instead of freeing it, so the first in the queue gets it, and a
//! late caller never jumps the queue (a slot is free only when nobody
//! waits). The invariant: the waiters counted in the word plus the permits
//! handed into the queue (on their way included) equal the callers
//! waiting. A waiter that gives up (a bulkhead's timeout) keeps it true,
//! see [`Slots::withdraw`].

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// One waiter, in the high half of the word; the low half counts free slots.
const WAITER: u64 = 1 << 32;
const FREE: u64 = WAITER - 1;

pub struct Slots {
    /// Free slots (low 32 bits) and waiters not yet handed one (high 32).
    state: AtomicU64,
    /// Where waiters queue. It starts with no permits: each it ever holds
    /// is a slot a release handed to a waiter.
    queue: tokio::sync::Semaphore,
}

/// A slot, given back when dropped.
#[must_use = "a slot is given back as soon as it is dropped"]
pub struct Slot<'a> {
    slots: &'a Slots,
}

/// [`Slot`], for a holder that outlives the borrow (a spawned task).
#[must_use = "a slot is given back as soon as it is dropped"]
pub struct OwnedSlot {
    slots: Arc<Slots>,
}

impl Slots {
    /// `n` slots (at least one, at most 2^32 - 1).
    pub fn new(n: usize) -> Slots {
        Slots {
            state: AtomicU64::new((n.max(1) as u64).min(FREE)),
            queue: tokio::sync::Semaphore::new(0),
        }
    }

    /// Slots free now.
    pub fn free(&self) -> usize {
        (self.state.load(Ordering::Acquire) & FREE) as usize
    }

    /// A slot if one is free now.
    pub fn try_take(&self) -> Option<Slot<'_>> {
        let mut s = self.state.load(Ordering::Relaxed);
        while s & FREE > 0 {
            match (self.state).compare_exchange_weak(s, s - 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(Slot { slots: self }),
                Err(now) => s = now,
            }
        }
        None
    }

    /// A slot: at once if one is free, else in turn.
    pub async fn take(&self) -> Slot<'_> {
        if !self.take_or_queue() {
            self.wait_in_queue().await;
        }
        Slot { slots: self }
    }

    /// [`Slots::take`], for a slot that outlives the borrow.
    pub async fn take_owned(self: Arc<Self>) -> OwnedSlot {
        if !self.take_or_queue() {
            self.wait_in_queue().await;
        }
        OwnedSlot { slots: self }
    }

    /// Takes a free slot (true), or counts the caller as a waiter (false),
    /// in one step: a release in between cannot be missed.
    fn take_or_queue(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let next = if s & FREE > 0 { s - 1 } else { s + WAITER };
            match (self.state).compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return s & FREE > 0,
                Err(now) => s = now,
            }
        }
    }

    /// Waits, counted as a waiter, for the slot a release hands over.
    fn wait_in_queue(&self) -> Queued<'_> {
        Queued {
            slots: self,
            acquire: Some(Box::pin(self.queue.acquire())),
        }
    }

    /// Gives a slot back: to the first waiter if any is counted, else free.
    fn release(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let next = if s >= WAITER { s - WAITER } else { s + 1 };
            match (self.state).compare_exchange_weak(s, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => s = now,
            }
        }
        if s >= WAITER {
            self.queue.add_permits(1);
        }
    }

    /// A waiter gives up before its slot came. If it is still counted, it
    /// uncounts itself. If not, every waiter counted so far was handed a
    /// slot through the queue, this one's included (or one on its way from
    /// a release on another thread): it takes one back out of the queue and
    /// releases it, so the slot goes to the next waiter or becomes free.
    fn withdraw(&self) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s >= WAITER {
                match (self.state).compare_exchange_weak(
                    s,
                    s - WAITER,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => s = now,
                }
                continue;
            }
            if let Ok(handed) = self.queue.try_acquire() {
                handed.forget();
                self.release();
                return;
            }
            // A release on another thread uncounted this waiter and has
            // not yet added its permit: it is a few instructions away. On
            // one thread this never happens: a release has no await between
            // its compare-and-swap and its `add_permits` (keep it so), and
            // this waiter's own queue future, dropped first, gave back any
            // permit already assigned to it.
            std::thread::yield_now();
            s = self.state.load(Ordering::Relaxed);
        }
    }
}

type Acquire<'a> = Pin<
    Box<
        dyn Future<Output = Result<tokio::sync::SemaphorePermit<'a>, tokio::sync::AcquireError>>
            + Send
            + 'a,
    >,
>;

/// A waiter in the queue. Boxed (only a caller that found no slot free
/// pays for it) so that giving up can drop the queue's future before
/// withdrawing: a slot the queue had handed to this waiter is back in the
/// queue by then, where `withdraw` takes it.
struct Queued<'a> {
    slots: &'a Slots,
    /// `None` once served.
    acquire: Option<Acquire<'a>>,
}

impl Future for Queued<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(acquire) = self.acquire.as_mut() else {
            return Poll::Ready(());
        };
        match acquire.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(handed) => {
                // Its permit is the slot itself, kept by the `Slot` now.
                handed.expect("the queue is never closed").forget();
                self.acquire = None;
                Poll::Ready(())
            }
        }
    }
}

/// Gives up a wait that ends before its slot came (a timeout, a cancelled
/// request).
impl Drop for Queued<'_> {
    fn drop(&mut self) {
        if let Some(acquire) = self.acquire.take() {
            drop(acquire);
            self.slots.withdraw();
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.slots.release();
    }
}

impl Drop for OwnedSlot {
    fn drop(&mut self) {
        self.slots.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::executor::{block_on, spawn, yield_now};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::task::Waker;

    /// A free slot is taken at once; when none is free, waiters are served
    /// in the order they came, and a late caller does not jump them.
    #[test]
    fn slots_come_at_once_or_in_turn() {
        let order = Rc::new(RefCell::new(Vec::new()));
        let done = block_on(async {
            let s = Arc::new(Slots::new(1));
            let first = s.take().await;
            assert_eq!(s.free(), 0);
            let mut waiters = Vec::new();
            for n in 0..3 {
                let (s, order) = (s.clone(), order.clone());
                waiters.push(spawn(async move {
                    let _slot = s.take_owned().await;
                    order.borrow_mut().push(n);
                    yield_now().await;
                }));
            }
            yield_now().await;
            drop(first);
            // Handed to waiter 0, not to this late caller.
            assert!(s.try_take().is_none());
            for w in waiters {
                w.await;
            }
            assert_eq!(s.free(), 1, "the last waiter gave its slot back");
            assert!(s.try_take().is_some());
        });
        assert!(done.is_ok());
        assert_eq!(*order.borrow(), vec![0, 1, 2]);
    }

    /// A waiter that gives up while still counted leaves no trace: the
    /// next release frees its slot.
    #[test]
    fn a_waiter_that_gives_up_uncounts_itself() {
        let s = Slots::new(1);
        let held = s.try_take().expect("free");
        let done = block_on(async {
            let gave_up = crate::sim::Clock::start()
                .timeout(std::time::Duration::from_millis(5), s.take())
                .await;
            assert!(gave_up.is_err(), "no slot came within the wait");
        });
        assert!(done.is_ok());
        drop(held);
        assert_eq!(s.free(), 1);
    }

    /// A waiter that gives up after a release handed it the slot passes it
    /// on: to the next waiter, or back to free. Without the second branch
    /// of `withdraw`, the slot would be lost for good.
    #[test]
    fn a_slot_handed_to_a_waiter_that_gave_up_is_passed_on() {
        let s = Slots::new(1);
        let done = block_on(async {
            let held = s.try_take().expect("free");
            let mut a = Box::pin(s.take());
            let mut b = Box::pin(s.take());
            let noop = &mut Context::from_waker(Waker::noop());
            assert!(a.as_mut().poll(noop).is_pending());
            assert!(b.as_mut().poll(noop).is_pending());
            drop(held); // handed to a
            drop(a); // a gives up: b gets it
            let b_slot = b.await;
            assert_eq!(s.free(), 0);
            drop(b_slot);
            assert_eq!(s.free(), 1);
            let held = s.try_take().expect("free again");
            let mut c = Box::pin(s.take());
            assert!(c.as_mut().poll(noop).is_pending());
            drop(held); // handed to c
            drop(c); // nobody else waits: free
        });
        assert!(done.is_ok());
        assert_eq!(s.free(), 1);
    }

    /// Many threads taking, holding, giving up and releasing at once never
    /// hold more slots than there are, and every slot comes back.
    #[test]
    fn threads_never_exceed_the_slots_and_lose_none() {
        const SLOTS: usize = 3;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_time()
            .build()
            .expect("a runtime");
        let s = Arc::new(Slots::new(SLOTS));
        let held = Arc::new(AtomicU64::new(0));
        let most = Arc::new(AtomicU64::new(0));
        rt.block_on(async {
            let mut tasks = Vec::new();
            for t in 0..16u64 {
                let (s, held, most) = (s.clone(), held.clone(), most.clone());
                tasks.push(tokio::spawn(async move {
                    for i in 0..2_000u64 {
                        // Every third try gives up at once if not served.
                        let slot = if (t + i) % 3 == 0 {
                            match tokio::time::timeout(std::time::Duration::ZERO, s.take()).await {
                                Ok(slot) => slot,
                                Err(_) => continue,
                            }
                        } else {
                            s.take().await
                        };
                        let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        held.fetch_sub(1, Ordering::SeqCst);
                        drop(slot);
                    }
                }));
            }
            for t in tasks {
                t.await.expect("no task panicked");
            }
        });
        assert!(most.load(Ordering::SeqCst) <= SLOTS as u64);
        assert_eq!(s.free(), SLOTS, "every slot came back");
        assert_eq!(s.state.load(Ordering::SeqCst) >> 32, 0, "no waiter left");
    }
}
