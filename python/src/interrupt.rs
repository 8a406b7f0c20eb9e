//! Ctrl-C cancels a launch made from Python's main thread.
//!
//! While a launch runs, the GIL is released and the launching thread is
//! busy running blocks, so Python's own SIGINT handler can only note the
//! signal; its `KeyboardInterrupt` would come after the launch. So, once,
//! the first time a launch is made from the main thread, a watcher thread
//! subscribes to SIGINT through `signal-hook`, which keeps Python's handler
//! and calls it first (chaining). On a signal the watcher sets the stop
//! flag of every launch the main thread has in flight
//! ([`lanes::Runtime::launch_with_stop`]); the launch stops within a pass
//! over a kernel's loop and fails with `LaunchError::Cancelled`; the
//! binding then lets Python run its handler ([`Python::check_signals`]),
//! which raises `KeyboardInterrupt`, with the `LaunchCancelled` error as
//! its cause.
//!
//! The watcher is installed only when Python's handler is in place
//! (`signal.getsignal(SIGINT)` is a Python callable), so a process that
//! ignores SIGINT, or has the default action, keeps it. A handler set
//! with `signal.signal` after the first launch replaces ours (Python then
//! sees Ctrl-C only after the launch), as it would any C handler.
//! Launches from other threads are not cancelled: Python delivers
//! `KeyboardInterrupt` to the main thread only.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use lanes::engine::StopFlag;
use pyo3::prelude::*;

/// Python's thread id of the main thread.
static MAIN_THREAD: OnceLock<u64> = OnceLock::new();

/// Whether the watcher runs.
static WATCHING: OnceLock<bool> = OnceLock::new();

/// The stop flags of the launches the main thread has in flight.
static IN_FLIGHT: Mutex<Vec<Arc<StopFlag>>> = Mutex::new(Vec::new());

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

/// Starts the watcher if Python's SIGINT handler is there to chain.
fn watch(py: Python<'_>) -> bool {
    *WATCHING.get_or_init(|| start_watcher(py).unwrap_or(false))
}

#[cfg(unix)]
fn start_watcher(py: Python<'_>) -> PyResult<bool> {
    use signal_hook::consts::SIGINT;

    let signal = py.import("signal")?;
    let handler = signal.call_method1("getsignal", (SIGINT,))?;
    // SIG_DFL and SIG_IGN are ints, an unknown (C) handler is None.
    if !handler.is_callable() {
        return Ok(false);
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT]) else {
        return Ok(false);
    };
    let started = std::thread::Builder::new()
        .name("lanes-sigint".to_string())
        .spawn(move || {
            for _ in signals.forever() {
                let in_flight = IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner);
                for flag in in_flight.iter() {
                    flag.set();
                }
            }
        });
    Ok(started.is_ok())
}

#[cfg(not(unix))]
fn start_watcher(_py: Python<'_>) -> PyResult<bool> {
    Ok(false)
}

/// A launch's stop flag, set by Ctrl-C while the launch runs if it was
/// made from the main thread.
pub(crate) struct Cancel {
    flag: Arc<StopFlag>,
    watched: bool,
}

impl Cancel {
    pub(crate) fn new(py: Python<'_>) -> Cancel {
        let flag = Arc::new(StopFlag::new());
        let watched = on_main_thread() && watch(py);
        if watched {
            IN_FLIGHT
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(flag.clone());
        }
        Cancel { flag, watched }
    }

    pub(crate) fn flag(&self) -> &StopFlag {
        &self.flag
    }

    /// Whether Ctrl-C may have set the flag (so Python's handler has a
    /// signal to handle).
    pub(crate) fn watched(&self) -> bool {
        self.watched
    }
}

impl Drop for Cancel {
    fn drop(&mut self) {
        if self.watched {
            IN_FLIGHT
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|f| !Arc::ptr_eq(f, &self.flag));
        }
    }
}
