//! The synchronisation primitives the protocols are built from, behind one
//! door: std atomics and parking_lot normally, loom's models under
//! `--cfg loom`, so the same latch and sleep code runs in both.
//!
//! Only the protocol modules (`latch`, `sleep`) go through this shim; the rest
//! of the crate uses std and crossbeam directly.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// A mutex with parking_lot's shape (`lock()` returns the guard directly).
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

#[cfg(not(loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(parking_lot::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard(self.0.lock())
    }
}

/// The guard of [`Mutex`].
#[cfg(not(loom))]
pub(crate) struct MutexGuard<'a, T>(parking_lot::MutexGuard<'a, T>);

/// A condition variable that waits on a [`MutexGuard`] in place.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct Condvar(parking_lot::Condvar);

#[cfg(not(loom))]
impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(parking_lot::Condvar::new())
    }

    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        self.0.wait(&mut guard.0);
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }
}

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        // loom's mutex never poisons inside a model that does not panic.
        MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
    }
}

#[cfg(loom)]
pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Condvar(loom::sync::Condvar);

#[cfg(loom)]
impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(loom::sync::Condvar::new())
    }

    pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let inner = guard.0.take().expect("guard is present outside wait");
        guard.0 = Some(self.0.wait(inner).unwrap_or_else(|e| e.into_inner()));
    }

    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }
}

impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;

    #[cfg(not(loom))]
    fn deref(&self) -> &T {
        &self.0
    }

    #[cfg(loom)]
    fn deref(&self) -> &T {
        self.0.as_ref().expect("guard is present outside wait")
    }
}

impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    #[cfg(not(loom))]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }

    #[cfg(loom)]
    fn deref_mut(&mut self) -> &mut T {
        self.0.as_mut().expect("guard is present outside wait")
    }
}

/// A probe that lets the loom models check "nobody touches this object after
/// its owner was told it may free it": the owner calls [`Liveness::free`]
/// after its wait returns, every other party calls [`Liveness::touch`]
/// wherever it still reads the object. Loom reports a data race if a touch is
/// not ordered before the free. Outside loom it is empty and costs nothing.
#[derive(Debug, Default)]
pub(crate) struct Liveness {
    #[cfg(loom)]
    cell: loom::cell::UnsafeCell<()>,
}

impl Liveness {
    #[inline]
    pub(crate) fn touch(&self) {
        #[cfg(loom)]
        self.cell.with(|_| ());
    }

    #[cfg(loom)]
    pub(crate) fn free(&self) {
        self.cell.with_mut(|_| ());
    }
}
