//! When idle workers park and how submitters wake them.
//!
//! See `README.md` beside this file for the protocol and the argument that
//! no wake-up is lost; the loom models `sleep_*` in `loom_models.rs` check it.

use crate::sync::{AtomicU32, Condvar, Mutex, Ordering, fence};

const AWAKE: u32 = 0;
const SLEEPY: u32 = 1;

/// The sleep state of one worker: a state word that wakers read, and a
/// token parker (a `bool` under a mutex) the worker blocks on.
#[derive(Debug)]
pub(crate) struct WorkerSleep {
    state: AtomicU32,
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
            state: AtomicU32::new(AWAKE),
            token: Mutex::new(false),
            cond: Condvar::new(),
        }
    }

    /// Worker, step 1 of going to sleep: announce it. The caller must then
    /// look at every source of work and mail once more, and either call
    /// [`WorkerSleep::cancel`] (something showed up) or
    /// [`WorkerSleep::sleep`].
    pub(crate) fn announce(&self) {
        self.state.store(SLEEPY, Ordering::SeqCst);
        // Orders the store above before the worker's re-check of the queues
        // (loads), pairing with the fence in `wake`.
        fence(Ordering::SeqCst);
    }

    /// Worker: the re-check found something; stay awake. A waker that saw
    /// `SLEEPY` in the meantime leaves a token, so the next `sleep` returns
    /// at once (a spurious wake-up, never a lost one).
    pub(crate) fn cancel(&self) {
        self.state.store(AWAKE, Ordering::SeqCst);
    }

    /// Worker, step 2: block until a waker hands over a token.
    pub(crate) fn sleep(&self) {
        let mut token = self.token.lock();
        while !*token {
            self.cond.wait(&mut token);
        }
        *token = false;
        drop(token);
        // A waker has already stored AWAKE; this covers a stale token.
        self.state.store(AWAKE, Ordering::SeqCst);
    }

    /// Waker: call after publishing work or mail for this worker (pushing a
    /// chunk, sending a message). Wakes the worker if it announced sleep;
    /// returns whether it did. Costs one fence and one load when the worker
    /// is awake.
    pub(crate) fn wake(&self) -> bool {
        // Orders the publication before the load of `state`, pairing with
        // the fence in `announce`: either the worker's re-check sees the
        // work, or this load sees SLEEPY.
        fence(Ordering::SeqCst);
        if self.state.load(Ordering::SeqCst) == AWAKE {
            return false;
        }
        // Of several concurrent wakers only the one that moves SLEEPY to
        // AWAKE hands over the token.
        if self.state.swap(AWAKE, Ordering::SeqCst) == AWAKE {
            return false;
        }
        let mut token = self.token.lock();
        *token = true;
        self.cond.notify_one();
        true
    }
}
