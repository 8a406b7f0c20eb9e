//! What a batch is and how a piece of it runs.
//!
//! A batch is the index space `0..tasks` and a job. It lives on the
//! submitting thread's stack for the duration of [`Pool::run`]: a
//! [`BatchHeader`] (type-erased, shared by every participant) and a
//! [`TypedPart`] (the job and its error slot). Work travels through the
//! deques as [`Chunk`]s: a raw pointer to the header plus a task range.
//!
//! # The lifetime invariant (why the raw pointers are sound)
//!
//! The header's latch counts every task not yet finished. A chunk always
//! holds tasks that are not yet counted, and the submitter does not return
//! from `run` (not even by unwinding: nothing between publishing the first
//! chunk and `CountLatch::wait` returning can panic) until the latch is
//! released. So while a thread holds a chunk, the header, the typed part and
//! the job it points to are alive. A thread counts a range down only after
//! it is done reading the batch, and `count_down` is its last access.
//!
//! [`Pool::run`]: crate::Pool::run

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crossbeam_deque::Worker;

use crate::TaskId;
use crate::error::{BatchError, panic_message};
use crate::latch::CountLatch;
use crate::metrics::Recorder;

/// Runs the tasks `start..end` of a batch (monomorphised per job type).
///
/// # Safety
/// `data` must point to the live `TypedPart<E, F>` this function was
/// instantiated for, and `header` must be its batch's header.
type LeafFn<S> = unsafe fn(
    data: *const (),
    header: &BatchHeader<S>,
    state: &mut S,
    start: usize,
    end: usize,
    current: &mut usize,
    rec: &mut Recorder,
);

/// A failure that does not carry the job's error type.
#[derive(Debug)]
pub(crate) enum UntypedFailure {
    Panicked { task: TaskId, message: String },
    ShutDown,
}

/// The type-erased part of a batch, shared by every participant.
pub(crate) struct BatchHeader<S> {
    pub(crate) latch: CountLatch,
    /// Set by the first failure; also the cancellation flag.
    failed: AtomicBool,
    /// Written only by the thread that set `failed` (when not a task error).
    untyped_failure: parking_lot::Mutex<Option<UntypedFailure>>,
    /// Chunks longer than this are split before running.
    pub(crate) grain: usize,
    pub(crate) submitted: Instant,
    data: *const (),
    run_leaf: LeafFn<S>,
}

/// The typed part of a batch: the job and its error slot.
pub(crate) struct TypedPart<'a, E, F> {
    job: &'a F,
    error: parking_lot::Mutex<Option<(TaskId, E)>>,
}

impl<'a, E, F> TypedPart<'a, E, F> {
    pub(crate) fn new(job: &'a F) -> Self {
        TypedPart {
            job,
            error: parking_lot::Mutex::new(None),
        }
    }
}

impl<S> BatchHeader<S> {
    /// A header for `tasks` (> 0) tasks of the job in `typed`. The header
    /// keeps a raw pointer to `typed`: the caller keeps `typed` alive and in
    /// place until the latch is released.
    pub(crate) fn new<E, F>(
        typed: &TypedPart<'_, E, F>,
        tasks: usize,
        grain: usize,
        submitted: Instant,
    ) -> Self
    where
        F: Fn(&mut S, TaskId) -> Result<(), E> + Sync,
        E: Send,
    {
        BatchHeader {
            latch: CountLatch::new(tasks),
            failed: AtomicBool::new(false),
            untyped_failure: parking_lot::Mutex::new(None),
            grain: grain.max(1),
            submitted,
            data: (typed as *const TypedPart<'_, E, F>).cast(),
            run_leaf: run_leaf::<S, E, F>,
        }
    }

    #[inline]
    pub(crate) fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// Claims the right to record the batch's failure (first one wins) and
    /// cancels the remaining tasks.
    fn claim_failure(&self) -> bool {
        !self.failed.swap(true, Ordering::AcqRel)
    }

    fn fail_untyped(&self, failure: UntypedFailure) {
        if self.claim_failure() {
            *self.untyped_failure.lock() = Some(failure);
        }
    }

    /// The batch's outcome. Call only after the latch was released.
    pub(crate) fn outcome<E, F>(&self, typed: &TypedPart<'_, E, F>) -> Result<(), BatchError<E>> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some((task, error)) = typed.error.lock().take() {
            return Err(BatchError::Task { task, error });
        }
        match self.untyped_failure.lock().take() {
            Some(UntypedFailure::Panicked { task, message }) => {
                Err(BatchError::Panicked { task, message })
            }
            Some(UntypedFailure::ShutDown) | None => Err(BatchError::ShutDown),
        }
    }
}

/// Runs tasks `start..end`, stopping early if the batch fails.
///
/// # Safety
/// See [`LeafFn`].
unsafe fn run_leaf<S, E, F>(
    data: *const (),
    header: &BatchHeader<S>,
    state: &mut S,
    start: usize,
    end: usize,
    current: &mut usize,
    rec: &mut Recorder,
) where
    F: Fn(&mut S, TaskId) -> Result<(), E> + Sync,
    E: Send,
{
    // SAFETY: the caller guarantees `data` is the live `TypedPart<E, F>` of
    // this header (it was stored by `BatchHeader::new::<E, F>`, and the
    // batch is alive while the caller holds uncounted tasks of it).
    let typed = unsafe { &*data.cast::<TypedPart<'_, E, F>>() };
    let mut clock = rec.start_clock();
    for task in start..end {
        if header.is_failed() {
            return;
        }
        *current = task;
        let result = (typed.job)(state, task);
        rec.task_done(&mut clock, header.submitted);
        if let Err(error) = result {
            if header.claim_failure() {
                *typed.error.lock() = Some((task, error));
            }
            return;
        }
    }
}

/// A contiguous range of a batch's tasks, as it travels through the deques.
pub(crate) struct Chunk<S> {
    batch: NonNull<BatchHeader<S>>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

// SAFETY: a chunk is a pointer to a batch header that is shared across
// threads by design: the header is only read through `&` (its mutable parts
// are atomics and mutexes), the job it points to is `Sync`, and errors are
// `Send`, as `BatchHeader::new`'s bounds require. The batch outlives the
// chunk by the lifetime invariant in the module docs.
unsafe impl<S> Send for Chunk<S> {}

impl<S> Chunk<S> {
    pub(crate) fn new(batch: &BatchHeader<S>, start: usize, end: usize) -> Self {
        Chunk {
            batch: NonNull::from(batch),
            start,
            end,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    /// Counts the chunk's tasks as finished without running them, failing
    /// the batch with `ShutDown` (pool shutdown).
    pub(crate) fn cancel_for_shutdown(self) {
        // SAFETY: the chunk holds uncounted tasks, so its batch is alive
        // (module invariant).
        let batch = unsafe { self.batch.as_ref() };
        batch.fail_untyped(UntypedFailure::ShutDown);
        batch.latch.count_down(self.len());
    }

    /// Runs the chunk on `state`. Ranges longer than the batch's grain are
    /// halved first, the back halves pushed onto `local` where thieves can
    /// take them; the front is run at once. Panics in the job are caught and
    /// fail the batch.
    pub(crate) fn execute(self, state: &mut S, local: &Worker<Chunk<S>>, rec: &mut Recorder) {
        // SAFETY: the chunk holds uncounted tasks, so its batch is alive
        // until we count them down below (module invariant).
        let batch = unsafe { self.batch.as_ref() };
        let start = self.start;
        let mut end = self.end;
        if !batch.is_failed() {
            while end - start > batch.grain {
                let mid = start + (end - start) / 2;
                local.push(Chunk {
                    batch: self.batch,
                    start: mid,
                    end,
                });
                end = mid;
            }
            let mut current = start;
            let ran = catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: `data` and `run_leaf` were stored together by
                // `BatchHeader::new`, and the batch is alive (see above).
                unsafe { (batch.run_leaf)(batch.data, batch, state, start, end, &mut current, rec) }
            }));
            if let Err(payload) = ran {
                let message = panic_message(payload.as_ref());
                batch.fail_untyped(UntypedFailure::Panicked {
                    task: current,
                    message,
                });
                // A payload whose destructor panics must not skip the
                // count-down below (the submitter would wait forever).
                if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(payload))) {
                    std::mem::forget(again);
                }
            }
        }
        // Last access to the batch.
        batch.latch.count_down(end - start);
    }
}
