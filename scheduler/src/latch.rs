//! The batch completion latch.
//!
//! A [`CountLatch`] counts the tasks of one batch that have not yet finished
//! (run, failed or cancelled). Participants count down once per *leaf chunk*,
//! not once per task, so a batch of thousands of tasks costs a few dozen
//! atomic operations here. The party whose count-down reaches zero is the
//! *completer*; the submitting thread is the *waiter*.
//!
//! The latch lives on the waiter's stack and is freed the moment `wait`
//! returns, so the protocol must guarantee that the completer does not touch
//! the latch after the waiter may return. The `state` word has four values:
//!
//! ```text
//! PENDING --completer swap--> DONE                     (waiter was spinning)
//! PENDING --waiter CAS (under lock)--> SLEEPING
//! SLEEPING --completer swap--> DONE --completer (under lock)--> NOTIFIED
//! ```
//!
//! * Waiter spinning: it returns when it loads `DONE` (Acquire). The
//!   completer's last access to the latch was the `swap` that stored `DONE`.
//! * Waiter sleeping: it moved `PENDING -> SLEEPING` while holding the lock
//!   and waits on the condvar until it sees `NOTIFIED`, which the completer
//!   stores while holding the lock. So the waiter returns only after it has
//!   re-acquired the lock, that is after the completer released it: the
//!   unlock is the completer's last access. A completer that saw `SLEEPING`
//!   takes the lock, and the waiter holds the lock from its CAS until the
//!   condvar releases it, so the notification cannot be lost.
//!
//! The loom model `latch_*` in `loom_models.rs` checks both paths, including
//! the "no access after free" property through [`Liveness`].

use std::time::Duration;

use crate::sync::{AtomicU32, AtomicUsize, Condvar, Liveness, Mutex, Ordering};

const PENDING: u32 = 0;
const SLEEPING: u32 = 1;
const DONE: u32 = 2;
const NOTIFIED: u32 = 3;

/// Counts outstanding tasks; wakes the waiter when the count reaches zero.
#[derive(Debug)]
pub(crate) struct CountLatch {
    remaining: AtomicUsize,
    state: AtomicU32,
    lock: Mutex<()>,
    cond: Condvar,
    liveness: Liveness,
}

impl CountLatch {
    /// A latch waiting for `count` units (`count` > 0).
    pub(crate) fn new(count: usize) -> Self {
        debug_assert!(count > 0);
        CountLatch {
            remaining: AtomicUsize::new(count),
            state: AtomicU32::new(PENDING),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            liveness: Liveness::default(),
        }
    }

    /// Counts `n` units as finished. Everything the caller wrote before is
    /// visible to the waiter once `wait` returns. After this call the caller
    /// must not touch the latch (or the batch that holds it) again.
    #[inline]
    pub(crate) fn count_down(&self, n: usize) {
        self.liveness.touch();
        let before = self.remaining.fetch_sub(n, Ordering::AcqRel);
        debug_assert!(before >= n, "latch counted down below zero");
        if before == n {
            self.set_done();
        }
    }

    fn set_done(&self) {
        self.liveness.touch();
        if self.state.swap(DONE, Ordering::AcqRel) == SLEEPING {
            let _guard = self.lock.lock();
            self.liveness.touch();
            self.state.store(NOTIFIED, Ordering::Release);
            self.cond.notify_one();
            // Dropping the guard is the last access: the waiter re-checks
            // `state` only under the lock.
        }
    }

    /// Whether the count has reached zero (a hint; `wait` is the real join).
    #[inline]
    pub(crate) fn probe(&self) -> bool {
        self.state.load(Ordering::Acquire) != PENDING
    }

    /// Waits until the count reaches zero: spins for about `spin`, then
    /// sleeps. On return no other thread will touch the latch again.
    pub(crate) fn wait(&self, spin: Duration) {
        if self.spin(spin) {
            return;
        }
        let mut guard = self.lock.lock();
        if self
            .state
            .compare_exchange(PENDING, SLEEPING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // DONE while we were taking the lock: the completer saw PENDING
            // and touches nothing after its swap.
            return;
        }
        while self.state.load(Ordering::Acquire) != NOTIFIED {
            self.cond.wait(&mut guard);
        }
    }

    #[cfg(not(loom))]
    fn spin(&self, spin: Duration) -> bool {
        // Done already (the submitter ran the last task): no clock read.
        if self.state.load(Ordering::Acquire) == DONE {
            return true;
        }
        let wait = crate::spin::SpinWait::new();
        loop {
            if self.state.load(Ordering::Acquire) == DONE {
                return true;
            }
            if wait.over(spin) {
                return false;
            }
        }
    }

    #[cfg(loom)]
    fn spin(&self, _spin: Duration) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// For the loom models: the owner declares the latch freed.
    #[cfg(loom)]
    pub(crate) fn free(&self) {
        self.liveness.free();
    }
}
