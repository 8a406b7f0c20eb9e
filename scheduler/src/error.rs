//! Errors of building a pool and of running a batch.

use crate::TaskId;

/// Why [`PoolBuilder::build`](crate::PoolBuilder::build) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `threads(0)` was asked for; a pool needs at least one worker.
    #[error("a pool needs at least one worker thread (threads(0) was given)")]
    ZeroThreads,
    /// More threads were asked for than [`MAX_THREADS`](crate::MAX_THREADS).
    #[error("a pool has at most {max} worker threads ({requested} were asked for)")]
    TooManyThreads {
        /// The count asked for.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// `Placement::Cpus` named no CPU at all.
    #[error("Placement::Cpus needs at least one CPU")]
    EmptyCpuList,
    /// `Placement::Cpus` named a CPU this machine does not have.
    #[error("CPU {cpu} does not exist on this machine (CPUs: {available:?})")]
    UnknownCpu {
        /// The CPU that was asked for.
        cpu: usize,
        /// The CPUs the OS reports.
        available: Vec<usize>,
    },
    /// A worker could not be pinned to its CPU (for example, a CPU outside
    /// this process's affinity mask).
    #[error(
        "worker {worker} could not be pinned to CPU {cpu} (is it in this process's affinity mask?)"
    )]
    Pin {
        /// The worker index.
        worker: usize,
        /// The CPU it should have run on.
        cpu: usize,
    },
    /// The OS refused to start a worker thread.
    #[error("could not spawn worker thread {worker}: {message}")]
    Spawn {
        /// The worker index.
        worker: usize,
        /// The OS error.
        message: String,
    },
    /// The state factory panicked on a worker thread.
    #[error("the state factory panicked on worker {worker}: {message}")]
    Factory {
        /// The worker index.
        worker: usize,
        /// The panic message.
        message: String,
    },
}

/// Why a batch did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError<E> {
    /// A task returned an error. The batch's remaining tasks were cancelled.
    /// When several tasks fail, the first failure recorded wins.
    #[error("task {task} failed: {error}")]
    Task {
        /// The failing task.
        task: TaskId,
        /// Its error.
        error: E,
    },
    /// A task panicked. The batch's remaining tasks were cancelled; the
    /// pool keeps working.
    #[error("task {task} panicked: {message}")]
    Panicked {
        /// The panicking task.
        task: TaskId,
        /// The panic message (`&str` or `String` payloads; otherwise a note
        /// that the payload was of another type).
        message: String,
    },
    /// The pool was shut down before or while the batch ran; the tasks that
    /// had not started were cancelled.
    #[error("the pool was shut down")]
    ShutDown,
}

/// Turns a panic payload into a message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic payload of a type other than &str or String".to_string()
    }
}
