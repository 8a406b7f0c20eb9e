//! When idle workers park and how submitters wake them.
//!
//! See `README.md` beside this file for the protocol and the argument that
//! no wake-up is lost; the loom models `sleep_*` in `loom_models.rs` check it.

use crate::sync::{AtomicU64, Condvar, Mutex, Ordering};

/// Bit 0 of the state word: the worker is parked (or about to block) and
/// needs a token.
const SLEEPING: u64 = 1;
/// The rest counts wake events; each `wake` adds this.
const EVENT: u64 = 2;

/// A snapshot of the event counter, taken before the worker's last look for
/// work; parking succeeds only if no event happened since.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

/// The sleep state of one worker: a state word (event counter + sleeping
/// bit) that wakers update, and a token (a `bool` under a mutex, with a
/// condvar) the parked worker blocks on.
#[derive(Debug)]
pub(crate) struct WorkerSleep {
    state: AtomicU64,
    token: Mutex<bool>,
    cond: Condvar,
}

impl Default for WorkerSleep {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerSleep {
    pub(crate) fn new() -> Self {
        WorkerSleep {
            state: AtomicU64::new(0),
            token: Mutex::new(false),
            cond: Condvar::new(),
        }
    }

    /// Worker, step 1: take a ticket. The caller must then look at every
    /// source of work and mail once more, and park with [`Self::sleep`]
    /// only if it found nothing.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.state.load(Ordering::Acquire) & !SLEEPING)
    }

    /// Worker, step 2: park unless a wake event happened since `ticket`.
    /// Returns `true` if it parked (and was woken), `false` if an event got
    /// in first (the caller looks for work again).
    pub(crate) fn sleep(&self, ticket: Ticket) -> bool {
        let mut token = self.token.lock();
        // Fails if any `wake` counted an event after the ticket: its work is
        // then visible to us (its RMW released it, our failed CAS acquired).
        if self
            .state
            .compare_exchange(
                ticket.0,
                ticket.0 | SLEEPING,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        while !*token {
            self.cond.wait(&mut token);
        }
        *token = false;
        true
    }

    /// Waker: call after publishing work or mail for this worker (pushing a
    /// chunk, sending a message). Counts an event; if the worker is parked,
    /// clears its sleeping bit and hands it the token. Returns whether it
    /// woke a parked worker. One atomic read-modify-write when the worker is
    /// awake; no system call.
    pub(crate) fn wake(&self) -> bool {
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let next = (current & !SLEEPING).wrapping_add(EVENT);
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if current & SLEEPING == 0 {
            return false;
        }
        // We cleared the bit, so we alone owe the worker its token.
        let mut token = self.token.lock();
        *token = true;
        self.cond.notify_one();
        true
    }
}
