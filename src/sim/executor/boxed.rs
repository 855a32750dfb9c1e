//! A future kept on the heap, whose place the sim executor remembers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{trail, with_core};

/// `Box::pin(future)`, which in a sim run also tells the executor where it
/// is each time a poll passes through it (see `trail.rs`): the next wake of
/// the task asks for it ahead. Under tokio (live mode) it is only a box.
#[must_use = "futures do nothing unless awaited"]
pub struct Boxed<F>(Pin<Box<F>>);

/// Boxes `future` (see [`Boxed`]).
pub fn boxed<F: Future>(future: F) -> Boxed<F> {
    Boxed(Box::pin(future))
}

impl<F: Future> Future for Boxed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.0.as_mut();
        let packed = trail::pack(
            std::ptr::from_ref::<F>(&*inner) as usize,
            std::mem::size_of::<F>(),
        );
        let depth = with_core(|c| c.trail.enter(packed));
        let out = inner.poll(cx);
        if out.is_ready() {
            if let Some(depth) = depth {
                with_core(|c| c.trail.leave(depth));
            }
        }
        out
    }
}
