//! The checker on its own thread (the second core), fed in chunks.
//!
//! The stack calls the [`Observer`] methods on its hot path, so they only push
//! into a buffer; every [`CHUNK_RECORDS`] records the buffer goes over a
//! bounded channel to the checker thread. The send happens under the buffer's
//! lock, so chunks reach the checker in the order the records were observed —
//! the sim's event order — and the verdict is the same as a [`Checker`] fed
//! inline. The bound ([`CHANNEL_CHUNKS`]) is back-pressure: if the checker
//! falls behind, the stack waits rather than memory growing.
//!
//! Emptied chunks travel back to be reused, so steady state allocates nothing.
//!
//! If the checker thread panics, its receiver is dropped; later sends fail
//! at once (records are dropped, never blocking the stack), and
//! [`BackgroundChecker::finish`] re-raises the panic when it joins.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::domain::audit::{AuditRecord, Observer};
use crate::domain::history::HistoryEvent;

use super::{CheckConfig, Checker, Verdict};

/// Records per chunk sent to the checker thread (about 2.4 MB). Larger
/// than it needs to be for throughput alone: the checker thread shares the
/// two cores with the cells, and fewer, longer turns of it cost the cells
/// less. 4,096 used 1.3% more CPU in all on the million benchmark, 512 used
/// 3.4% more (`benches/ab.sh`, seven of seven each).
pub const CHUNK_RECORDS: usize = 16_384;
/// How many records ahead of the one it judges the checker asks for the
/// table lines a record will read ([`Checker::ask_for_audit`],
/// [`Checker::ask_for_history`]).
const ASK_AHEAD: usize = 8;
/// Chunks in flight at most (4 x 16,384 x 144 bytes = 9.4 MB).
pub const CHANNEL_CHUNKS: usize = 4;

enum Record {
    History(HistoryEvent),
    Audit(AuditRecord),
    /// Makes the checker thread panic: proves a panic surfaces in `finish`.
    #[cfg(test)]
    Panic,
}

struct Feed {
    buf: Vec<Record>,
    tx: SyncSender<Vec<Record>>,
    /// Emptied chunks coming back from the checker thread.
    spare: Receiver<Vec<Record>>,
    /// The checker thread is gone (it panicked); drop records from now on.
    disconnected: bool,
}

impl Feed {
    fn push(&mut self, rec: Record) {
        if self.disconnected {
            return;
        }
        self.buf.push(rec);
        if self.buf.len() >= CHUNK_RECORDS {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() || self.disconnected {
            return;
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK_RECORDS));
        let full = std::mem::replace(&mut self.buf, next);
        if self.tx.send(full).is_err() {
            self.disconnected = true;
        }
    }
}

/// A [`Checker`] running on its own thread, fed through [`Observer`].
pub struct BackgroundChecker {
    feed: Mutex<Feed>,
    thread: JoinHandle<Verdict>,
}

impl BackgroundChecker {
    pub fn spawn(cfg: CheckConfig) -> BackgroundChecker {
        let (tx, rx) = mpsc::sync_channel::<Vec<Record>>(CHANNEL_CHUNKS);
        let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<Record>>(CHANNEL_CHUNKS);
        let thread = std::thread::Builder::new()
            .name("paystorm-check".into())
            .spawn(move || checker_thread(cfg, rx, spare_tx))
            .expect("spawning the checker thread");
        BackgroundChecker {
            feed: Mutex::new(Feed {
                buf: Vec::with_capacity(CHUNK_RECORDS),
                tx,
                spare: spare_rx,
                disconnected: false,
            }),
            thread,
        }
    }

    /// Sends the last partial chunk, closes the channel, waits for the checker
    /// and returns its verdict. A panic of the checker thread panics here.
    pub fn finish(self) -> Verdict {
        let mut feed = self.feed.into_inner().unwrap_or_else(|e| e.into_inner());
        feed.flush();
        drop(feed); // closes the channel: the checker thread's loop ends
        match self.thread.join() {
            Ok(verdict) => verdict,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Feed> {
        // A producer that panicked mid-push leaves the buffer consistent.
        self.feed.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn inject_panic(&self) {
        self.lock().push(Record::Panic);
    }
}

impl Observer for BackgroundChecker {
    fn audit(&self, record: AuditRecord) {
        self.lock().push(Record::Audit(record));
    }

    fn history(&self, event: HistoryEvent) {
        self.lock().push(Record::History(event));
    }
}

fn checker_thread(
    cfg: CheckConfig,
    rx: Receiver<Vec<Record>>,
    spare: SyncSender<Vec<Record>>,
) -> Verdict {
    let mut checker = Checker::new(cfg);
    for mut chunk in rx {
        for (i, rec) in chunk.iter().enumerate() {
            match chunk.get(i + ASK_AHEAD) {
                Some(Record::Audit(ahead)) => checker.ask_for_audit(ahead),
                Some(Record::History(ahead)) => checker.ask_for_history(ahead),
                _ => {}
            }
            match rec {
                Record::History(ev) => checker.observe_history(ev),
                Record::Audit(rec) => checker.observe_audit(rec),
                #[cfg(test)]
                Record::Panic => panic!("injected checker panic"),
            }
        }
        chunk.clear();
        // Full means the producer has enough spares: let this one go.
        let _ = spare.try_send(chunk);
    }
    checker.finish()
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::*;
    use crate::check::INVARIANTS;
    use crate::domain::{CaptureMode, MerchantId, Method};

    fn feed(obs: &dyn Observer, recs: &[Rec]) {
        for r in recs {
            match *r {
                Rec::H(h) => obs.history(h),
                Rec::A(a) => obs.audit(a),
            }
        }
    }

    /// Enough payments for more than four chunks of records.
    const BIG_RUN_PAYMENTS: u32 = 12_000;

    /// Many chunks' worth of records with a few bugs planted, so the
    /// comparison covers counts and examples, not just "all passed".
    fn big_buggy_run() -> Vec<Rec> {
        let mut s = rich_scenario();
        let c = s.customer(9, 100_000_000);
        for i in 0..BIG_RUN_PAYMENTS {
            let (_, p) = s.create(
                MerchantId(i % 7),
                c,
                100 + i64::from(i),
                Method::CardOnline,
                CaptureMode::Manual,
            );
            if i % 500 != 0 {
                s.capture(p, 100); // every 500th hold is left dangling
            }
            if i % 100 == 0 {
                s.settle();
            }
        }
        s.settle();
        s.finish()
    }

    #[test]
    fn gives_the_same_verdict_as_an_inline_checker() {
        let recs = big_buggy_run();
        assert!(recs.len() > 4 * CHUNK_RECORDS);
        let inline = run(&recs);
        assert_failed(
            &inline,
            &[super::super::verdict::LIFECYCLE_HOLD_RESOLVED_ONCE],
        );
        assert_eq!(
            inline.invariants[7].violations,
            u64::from(BIG_RUN_PAYMENTS / 500)
        );
        let bg = BackgroundChecker::spawn(config());
        feed(&bg, &recs);
        assert_eq!(bg.finish(), inline);
    }

    #[test]
    fn finishes_a_partial_chunk_and_an_empty_run() {
        let recs = rich_scenario().finish();
        assert!(recs.len() < CHUNK_RECORDS);
        let bg = BackgroundChecker::spawn(config());
        feed(&bg, &recs);
        assert_eq!(bg.finish(), run(&recs));
        let empty = BackgroundChecker::spawn(config()).finish();
        assert!(empty.all_passed());
        assert_eq!(empty.invariants.len(), INVARIANTS.len());
    }

    #[test]
    fn a_panic_in_the_checker_thread_surfaces_in_finish_without_hanging() {
        let recs = big_buggy_run();
        let bg = BackgroundChecker::spawn(config());
        bg.inject_panic();
        // More than the channel holds: sends must fail, not block forever.
        for _ in 0..3 {
            feed(&bg, &recs);
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bg.finish()));
        let payload = result.expect_err("finish must re-raise the checker's panic");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"injected checker panic")
        );
    }

    #[test]
    fn is_an_observer_the_stack_can_share() {
        fn shared<T: Observer + Send + Sync + 'static>() {}
        shared::<BackgroundChecker>();
        let bg = std::sync::Arc::new(BackgroundChecker::spawn(config()));
        let obs: std::sync::Arc<dyn Observer> = bg.clone();
        feed(obs.as_ref(), &rich_scenario().finish());
        drop(obs);
        let bg = std::sync::Arc::into_inner(bg).expect("sole owner");
        assert!(bg.finish().all_passed());
    }
}
