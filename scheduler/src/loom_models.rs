//! Loom models of the park/wake protocol (`sleep`) and of the batch
//! completion latch (`latch`). Compiled only with `--cfg loom`:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p lanes-scheduler --release --lib loom_models
//! ```
//!
//! The worker loop is modelled without its spin phase (spinning only delays
//! the same decision) and with the deques replaced by flags published with
//! `Release` and checked with `Acquire`, which is what crossbeam's queues
//! give. A lost wake-up shows up as a deadlock (the worker blocked forever),
//! which loom reports.

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::thread;

use crate::latch::CountLatch;
use crate::sleep::WorkerSleep;

/// The worker's idle loop: look, take a ticket, look again, park. Returns
/// once `done()` holds.
fn worker_idle_until(sleep: &WorkerSleep, done: impl Fn() -> bool) {
    loop {
        if done() {
            return;
        }
        let ticket = sleep.ticket();
        if done() {
            return;
        }
        sleep.sleep(ticket);
    }
}

#[test]
fn sleep_no_lost_wakeup() {
    loom::model(|| {
        let sleep = Arc::new(WorkerSleep::new());
        let work = Arc::new(AtomicBool::new(false));
        let submitter = {
            let (sleep, work) = (Arc::clone(&sleep), Arc::clone(&work));
            thread::spawn(move || {
                work.store(true, Ordering::Release);
                sleep.wake();
            })
        };
        worker_idle_until(&sleep, || work.load(Ordering::Acquire));
        submitter.join().unwrap();
    });
}

#[test]
fn sleep_two_wakers() {
    // Three threads with mutexes and condvars: bound the preemptions (the
    // usual loom practice) so the model finishes in seconds; bugs of this
    // protocol need at most two.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let sleep = Arc::new(WorkerSleep::new());
        let work = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
        let submitters: Vec<_> = (0..2)
            .map(|i| {
                let (sleep, work) = (Arc::clone(&sleep), Arc::clone(&work));
                thread::spawn(move || {
                    work[i].store(true, Ordering::Release);
                    sleep.wake();
                })
            })
            .collect();
        worker_idle_until(&sleep, || {
            work[0].load(Ordering::Acquire) && work[1].load(Ordering::Acquire)
        });
        for s in submitters {
            s.join().unwrap();
        }
    });
}

#[test]
fn sleep_two_rounds() {
    // Two rounds from one submitter: the worker parks (or not), wakes, and
    // parks again; it must not miss round two.
    loom::model(|| {
        let sleep = Arc::new(WorkerSleep::new());
        let published = Arc::new(AtomicUsize::new(0));
        let consumed = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (sleep, published, consumed) = (
                Arc::clone(&sleep),
                Arc::clone(&published),
                Arc::clone(&consumed),
            );
            thread::spawn(move || {
                published.store(1, Ordering::Release);
                sleep.wake();
                // Round two only after the worker took round one.
                while consumed.load(Ordering::Acquire) < 1 {
                    thread::yield_now();
                }
                published.store(2, Ordering::Release);
                sleep.wake();
            })
        };
        for round in 1..=2 {
            worker_idle_until(&sleep, || published.load(Ordering::Acquire) >= round);
            consumed.store(round, Ordering::Release);
        }
        submitter.join().unwrap();
    });
}

#[test]
fn latch_two_completers() {
    // The waiter must see every completer's writes, and no completer may
    // touch the latch after the waiter's `wait` returned (it then frees it).
    loom::model(|| {
        let latch = Arc::new(CountLatch::new(2));
        let results = Arc::new([UnsafeCell::new(0usize), UnsafeCell::new(0usize)]);
        let completers: Vec<_> = (0..2)
            .map(|i| {
                let (latch, results) = (Arc::clone(&latch), Arc::clone(&results));
                thread::spawn(move || {
                    // SAFETY (model): each completer writes only its own
                    // cell, before counting down; loom checks the ordering.
                    results[i].with_mut(|p| unsafe { *p = i + 1 });
                    latch.count_down(1);
                })
            })
            .collect();
        latch.wait(std::time::Duration::ZERO);
        latch.free();
        for (i, cell) in results.iter().enumerate() {
            // SAFETY (model): read after the latch released; loom reports a
            // race if the write is not ordered before this read.
            assert_eq!(cell.with(|p| unsafe { *p }), i + 1);
        }
        for c in completers {
            c.join().unwrap();
        }
    });
}

#[test]
fn latch_single_completer_many_units() {
    loom::model(|| {
        let latch = Arc::new(CountLatch::new(5));
        let completer = {
            let latch = Arc::clone(&latch);
            thread::spawn(move || {
                latch.count_down(2);
                latch.count_down(3);
            })
        };
        latch.wait(std::time::Duration::ZERO);
        latch.free();
        assert!(latch.probe());
        completer.join().unwrap();
    });
}

#[test]
fn latch_waiter_completes_itself() {
    // The submitter that helps may be the one that reaches zero: then it
    // must not block.
    loom::model(|| {
        let latch = Arc::new(CountLatch::new(2));
        let other = {
            let latch = Arc::clone(&latch);
            thread::spawn(move || latch.count_down(1))
        };
        latch.count_down(1);
        latch.wait(std::time::Duration::ZERO);
        latch.free();
        other.join().unwrap();
    });
}
