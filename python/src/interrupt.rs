//! Ctrl-C cancels a launch made from Python's main thread.
//!
//! While a launch runs, the GIL is released and the launching thread is
//! busy running blocks, so Python's own SIGINT handler can only note the
//! signal; its `KeyboardInterrupt` would come after the launch. So the
//! first time a launch is made from the main thread, a SIGINT handler of
//! ours takes the place of Python's C handler and chains to it: on a
//! signal it calls Python's handler first (which notes the signal as
//! always), then sets the stop flag of the launch the main thread has in
//! flight ([`lanes::Runtime::launch_with_stop`]). The launch stops within a
//! pass over a kernel's loop and fails with `LaunchError::Cancelled`; the
//! binding then lets Python run its handler ([`Python::check_signals`]),
//! which raises `KeyboardInterrupt`, with the `LaunchCancelled` error as
//! its cause.
//!
//! The handler is installed with Python's own `sigaction` flags and mask
//! (in particular without `SA_RESTART`, so blocking calls such as `input()`
//! are still interrupted and Ctrl-C behaves everywhere as before), and only
//! when Python's handler is in place (`signal.getsignal(SIGINT)` is a
//! Python callable): a process that ignores SIGINT, or has the default
//! action, keeps it. A handler set with `signal.signal` later replaces ours
//! (Python then sees Ctrl-C only after the launch), as it replaces any C
//! handler. Launches from other threads are not cancelled: Python delivers
//! `KeyboardInterrupt` to the main thread only.
//!
//! # The handler and the flag it sets
//!
//! The main thread runs one launch at a time, so one slot, [`IN_FLIGHT`],
//! holds the address of that launch's flag. The handler may run on any
//! thread, concurrently with the launch ending and its flag being freed, so
//! it announces itself in [`HANDLERS`] before it reads the slot, and a
//! launch that ends empties the slot, then waits until no handler is
//! running before it frees its flag. With sequentially consistent
//! operations: a handler that read the flag's address counted itself in
//! before, so the launch sees it and waits; one that counts itself in after
//! the launch looked finds the slot empty. Setting the flag is a relaxed
//! atomic store, which a signal handler may do.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use lanes::engine::StopFlag;
use pyo3::prelude::*;

/// Python's thread id of the main thread.
static MAIN_THREAD: OnceLock<u64> = OnceLock::new();

/// Whether our handler is installed.
static INSTALLED: OnceLock<bool> = OnceLock::new();

/// The stop flag of the launch the main thread has in flight, or null.
static IN_FLIGHT: AtomicPtr<StopFlag> = AtomicPtr::new(std::ptr::null_mut());

/// Handlers running now (on any thread).
static HANDLERS: AtomicUsize = AtomicUsize::new(0);

/// Notes which thread is the main thread (at import).
pub(crate) fn init(py: Python<'_>) -> PyResult<()> {
    let ident: u64 = py
        .import("threading")?
        .call_method0("main_thread")?
        .getattr("ident")?
        .extract()?;
    let _ = MAIN_THREAD.set(ident);
    Ok(())
}

fn on_main_thread() -> bool {
    // SAFETY: a plain query of the calling thread's id; no preconditions.
    let ident = unsafe { pyo3::ffi::PyThread_get_thread_ident() };
    // `c_ulong` is 32 bits on some targets.
    #[allow(clippy::useless_conversion)]
    let me = u64::from(ident);
    MAIN_THREAD.get() == Some(&me)
}

/// Installs our handler if Python's is there to chain (once).
fn installed(py: Python<'_>) -> bool {
    *INSTALLED.get_or_init(|| python_handles_sigint(py) && handler::install())
}

/// Whether Python's own SIGINT handler is installed.
fn python_handles_sigint(py: Python<'_>) -> bool {
    let check = || -> PyResult<bool> {
        let signal = py.import("signal")?;
        let sigint = signal.getattr("SIGINT")?;
        // SIG_DFL and SIG_IGN are ints, a handler not set from Python None.
        Ok(signal.call_method1("getsignal", (sigint,))?.is_callable())
    };
    check().unwrap_or(false)
}

/// Sets the flag of the main thread's launch, if there is one. Called by
/// the signal handler: only atomic operations.
fn cancel_in_flight() {
    HANDLERS.fetch_add(1, Ordering::SeqCst);
    let flag = IN_FLIGHT.load(Ordering::SeqCst);
    if !flag.is_null() {
        // SAFETY: a non-null address in `IN_FLIGHT` is the flag of a live
        // `Cancel`, which empties the slot and then waits for `HANDLERS`
        // to reach zero before the flag is freed (module docs); this
        // handler counted itself in before reading the slot.
        unsafe { (*flag).set() };
    }
    HANDLERS.fetch_sub(1, Ordering::SeqCst);
}

#[cfg(unix)]
mod handler {
    //! The SIGINT handler that chains to Python's.

    use std::sync::OnceLock;

    /// Python's action, called first by ours.
    static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

    extern "C" fn on_sigint(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        if let Some(previous) = PREVIOUS.get() {
            let action = previous.sa_sigaction;
            if action != libc::SIG_DFL && action != libc::SIG_IGN {
                if previous.sa_flags & libc::SA_SIGINFO != 0 {
                    // SAFETY: with SA_SIGINFO, `sa_sigaction` is a
                    // three-argument handler (sigaction(2)); we pass on our
                    // own arguments.
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        unsafe { std::mem::transmute(action) };
                    f(signal, info, context);
                } else {
                    // SAFETY: without SA_SIGINFO, `sa_sigaction` is a
                    // one-argument handler (`sa_handler`).
                    let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(action) };
                    f(signal);
                }
            }
        }
        super::cancel_in_flight();
    }

    /// Puts our handler in the place of the current one, with its flags
    /// and mask; false if that fails.
    pub(super) fn install() -> bool {
        // SAFETY: `sigaction` structs are plain C data, valid all zero.
        let mut previous: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: reads the current action into `previous`.
        if unsafe { libc::sigaction(libc::SIGINT, std::ptr::null(), &mut previous) } != 0 {
            return false;
        }
        if PREVIOUS.set(previous).is_err() {
            return false;
        }
        let mut ours = previous;
        ours.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
        ours.sa_flags = previous.sa_flags | libc::SA_SIGINFO;
        // SAFETY: installs a handler that only calls the previous handler
        // (async-signal-safe as installed by Python) and does atomic
        // operations.
        unsafe { libc::sigaction(libc::SIGINT, &ours, std::ptr::null_mut()) == 0 }
    }
}

#[cfg(not(unix))]
mod handler {
    /// No SIGINT handler of ours off Unix: Ctrl-C waits for the launch.
    pub(super) fn install() -> bool {
        false
    }
}

/// A launch's stop flag. Registered, for Ctrl-C to set, while it lives if
/// the launch is made from the main thread.
pub(crate) struct Cancel {
    flag: Box<StopFlag>,
    watched: bool,
}

impl Cancel {
    pub(crate) fn new(py: Python<'_>) -> Cancel {
        let flag = Box::new(StopFlag::new());
        let watched = on_main_thread() && installed(py);
        if watched {
            let ptr: *const StopFlag = &*flag;
            IN_FLIGHT.store(ptr.cast_mut(), Ordering::SeqCst);
        }
        Cancel { flag, watched }
    }

    pub(crate) fn flag(&self) -> &StopFlag {
        &self.flag
    }

    /// Whether Ctrl-C may have set the flag (so Python's handler may have a
    /// signal to handle).
    pub(crate) fn watched(&self) -> bool {
        self.watched
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.watched {
            IN_FLIGHT.store(std::ptr::null_mut(), Ordering::SeqCst);
            // A handler that read the slot before it was emptied finishes
            // in a few instructions.
            while HANDLERS.load(Ordering::SeqCst) != 0 {
                std::hint::spin_loop();
            }
        }
    }
}
