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
use crate::metrics::{Recorder, TaskTiming};

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
    let fail = |task: TaskId, error: E| {
        if header.claim_failure() {
            *typed.error.lock() = Some((task, error));
        }
    };
    match rec.timing {
        TaskTiming::PerTask => {
            let mut clock = rec.chunk_start();
            for task in start..end {
                if header.is_failed() {
                    return;
                }
                *current = task;
                let result = (typed.job)(state, task);
                rec.task_done(&mut clock, header.submitted);
                if let Err(error) = result {
                    return fail(task, error);
                }
            }
        }
        timing => {
            let clock = (timing == TaskTiming::PerChunk).then(|| rec.chunk_start());
            let mut ran = 0;
            let mut failed = None;
            for task in start..end {
                if header.is_failed() {
                    break;
                }
                *current = task;
                let result = (typed.job)(state, task);
                ran += 1;
                if let Err(error) = result {
                    failed = Some((task, error));
                    break;
                }
            }
            match clock {
                Some(clock) => rec.chunk_done(clock, ran, header.submitted),
                None => rec.tasks += ran,
            }
            if let Some((task, error)) = failed {
                fail(task, error);
            }
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

/// Small tests of the unsafe paths (raw batch pointers in chunks, the typed
/// leaf function), sized to run under Miri:
/// `MIRIFLAGS="-Zmiri-tree-borrows -Zmiri-ignore-leaks" cargo +nightly miri test -p lanes-scheduler --lib batch`.
#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    use crossbeam_deque::Worker;

    use super::{BatchHeader, Chunk, TypedPart};
    use crate::error::BatchError;
    use crate::metrics::{Recorder, TaskTiming};
    use crate::{Pool, TaskId};

    fn counters(n: usize) -> Vec<AtomicU8> {
        (0..n).map(|_| AtomicU8::new(0)).collect()
    }

    #[test]
    fn a_chunk_splits_runs_and_counts_down_on_one_thread() {
        let counts = counters(10);
        let job = |state: &mut usize, task: TaskId| -> Result<(), ()> {
            *state += 1;
            counts[task].fetch_add(1, Ordering::Relaxed);
            Ok(())
        };
        let typed = TypedPart::new(&job);
        let header = BatchHeader::new(&typed, 10, 3, Instant::now());
        let local = Worker::new_lifo();
        let mut state = 0usize;
        let mut rec = Recorder::new(TaskTiming::PerTask);
        Chunk::new(&header, 0, 10).execute(&mut state, &local, &mut rec);
        // Back halves were pushed; run them as a worker would.
        while let Some(chunk) = local.pop() {
            chunk.execute(&mut state, &local, &mut rec);
        }
        header.latch.wait(Duration::ZERO);
        assert_eq!(header.outcome(&typed), Ok(()));
        assert_eq!(state, 10);
        assert_eq!(rec.tasks, 10);
        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
    }

    #[test]
    fn a_panic_in_a_leaf_is_caught_and_recorded() {
        let job = |_: &mut (), task: TaskId| -> Result<(), ()> {
            assert_ne!(task, 2, "task two");
            Ok(())
        };
        let typed = TypedPart::new(&job);
        let header = BatchHeader::new(&typed, 4, 4, Instant::now());
        let local = Worker::new_lifo();
        Chunk::new(&header, 0, 4).execute(
            &mut (),
            &local,
            &mut Recorder::new(TaskTiming::PerChunk),
        );
        header.latch.wait(Duration::ZERO);
        match header.outcome(&typed) {
            Err(BatchError::Panicked { task: 2, message }) => assert!(message.contains("task two")),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn small_pool(helps: bool) -> Pool<usize> {
        Pool::builder()
            .threads(2)
            .spin(Duration::ZERO)
            .submitter_helps(helps)
            .splits_per_thread(2)
            .build(|w| w)
            .unwrap()
    }

    #[test]
    fn batches_across_threads_run_each_task_once() {
        for helps in [true, false] {
            let pool = small_pool(helps);
            for n in [2, 5, 17] {
                let counts = counters(n);
                pool.run(n, |_, t| {
                    counts[t].fetch_add(1, Ordering::Relaxed);
                    Ok::<(), ()>(())
                })
                .unwrap();
                assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
            }
        }
    }

    #[test]
    fn errors_and_panics_across_threads() {
        let pool = small_pool(true);
        let err = pool
            .run(9, |_, t| if t == 7 { Err(t) } else { Ok(()) })
            .unwrap_err();
        assert_eq!(err, BatchError::Task { task: 7, error: 7 });
        let err = pool
            .run(9, |_, t| {
                if t == 1 {
                    panic!("one");
                }
                Ok::<(), ()>(())
            })
            .unwrap_err();
        assert_eq!(
            err,
            BatchError::Panicked {
                task: 1,
                message: "one".into()
            }
        );
    }

    #[test]
    fn shutdown_while_a_batch_is_in_flight() {
        let pool = Arc::new(small_pool(true));
        let started = Arc::new(AtomicUsize::new(0));
        let submitter = {
            let (pool, started) = (Arc::clone(&pool), Arc::clone(&started));
            std::thread::spawn(move || {
                loop {
                    let r = pool.run(6, |_, _| {
                        started.fetch_add(1, Ordering::Relaxed);
                        Ok::<(), ()>(())
                    });
                    if r == Err(BatchError::ShutDown) {
                        return;
                    }
                    r.unwrap();
                }
            })
        };
        while started.load(Ordering::Relaxed) < 6 {
            std::thread::yield_now();
        }
        pool.shutdown();
        submitter.join().unwrap();
    }
}
