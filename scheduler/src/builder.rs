//! Configuring and starting a pool.

use std::time::Duration;

use crate::Pool;
use crate::error::BuildError;
use crate::metrics::TaskTiming;
use crate::placement::Placement;

/// The pool's settings (what the builder collected).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) threads: Option<usize>,
    pub(crate) placement: Placement,
    pub(crate) spin: Duration,
    pub(crate) thread_name: String,
    pub(crate) submitter_helps: bool,
    pub(crate) inline_tasks: usize,
    pub(crate) splits_per_thread: usize,
    pub(crate) task_timing: TaskTiming,
    pub(crate) stack_size: Option<usize>,
}

/// The most worker threads a pool may have. Each thread costs a stack and
/// a start-up; far more threads than CPUs only take turns, and a typo like
/// `threads(100000)` should be an error, not minutes of thread starts.
pub const MAX_THREADS: usize = 1024;

/// Default spin window of idle workers and waiting submitters.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// Configures a [`Pool`]; made by [`Pool::builder`].
///
/// ```
/// use std::time::Duration;
/// use lanes_scheduler::{Placement, Pool};
///
/// let pool: Pool<Vec<f32>> = Pool::builder()
///     .threads(2)
///     .placement(Placement::None)
///     .spin(Duration::from_micros(20))
///     .thread_name("demo-worker")
///     .build(|worker| vec![worker as f32; 16])
///     .unwrap();
/// assert_eq!(pool.threads(), 2);
/// assert_eq!(pool.affinity().workers[1].thread_name, "demo-worker-1");
/// ```
#[derive(Debug, Clone)]
pub struct PoolBuilder {
    config: Config,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            config: Config {
                threads: None,
                placement: Placement::None,
                spin: DEFAULT_SPIN,
                thread_name: "lanes-scheduler".to_string(),
                submitter_helps: true,
                inline_tasks: 1,
                splits_per_thread: 8,
                task_timing: TaskTiming::PerChunk,
                stack_size: None,
            },
        }
    }
}

impl PoolBuilder {
    /// Number of worker threads. Default: the number of CPUs this process may
    /// run on (its affinity mask), at most [`MAX_THREADS`]. `0` and more
    /// than [`MAX_THREADS`] are build errors.
    pub fn threads(mut self, threads: usize) -> Self {
        self.config.threads = Some(threads);
        self
    }

    /// How workers are pinned to CPUs (OpenMP `proc_bind` semantics).
    /// Default: [`Placement::None`].
    pub fn placement(mut self, placement: Placement) -> Self {
        self.config.placement = placement;
        self
    }

    /// How long an idle worker (and a submitter waiting for its batch) keeps
    /// looking for work before it parks. Default: [`DEFAULT_SPIN`] (50 µs).
    /// Past it, an idle pool uses no CPU.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.config.spin = spin;
        self
    }

    /// Worker threads are named `"{name}-{index}"`. Default:
    /// `"lanes-scheduler"`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Self {
        self.config.thread_name = name.into();
        self
    }

    /// Whether the submitting thread takes a share of its batch and then
    /// steals, instead of only waiting. Default: `true` (measured: on a
    /// batch whose workers are parked, the submitter finishes much of the
    /// work before they wake; see the crate README).
    pub fn submitter_helps(mut self, helps: bool) -> Self {
        self.config.submitter_helps = helps;
        self
    }

    /// Batches of at most this many tasks are run by the submitting thread
    /// alone, on its own state, with no cross-thread wake-up. Default: 1.
    pub fn inline_tasks(mut self, tasks: usize) -> Self {
        self.config.inline_tasks = tasks;
        self
    }

    /// How finely a batch is cut: about this many leaf chunks per
    /// participant (clamped to at least 1). More means better balance under
    /// uneven task costs, fewer means less overhead per task. Default: 8.
    pub fn splits_per_thread(mut self, splits: usize) -> Self {
        self.config.splits_per_thread = splits.max(1);
        self
    }

    /// How task run time and queue wait are measured: per task (exact, one
    /// clock read per task), per leaf chunk (the default: a few ns per
    /// task, chunk means), or not at all. Task counts are kept either way.
    pub fn task_timing(mut self, timing: TaskTiming) -> Self {
        self.config.task_timing = timing;
        self
    }

    /// Stack size of worker threads. Default: the platform default.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.config.stack_size = Some(bytes);
        self
    }

    /// Starts the pool. `factory(i)` makes the state of worker `i` on that
    /// worker's own thread (after pinning, so its memory is first touched
    /// where it is used); it is kept to make states for submitting threads
    /// later, on those threads, with indices `threads()..`.
    ///
    /// Returns once every worker is running its loop.
    pub fn build<S, F>(self, factory: F) -> Result<Pool<S>, BuildError>
    where
        S: Send + 'static,
        F: Fn(usize) -> S + Send + Sync + 'static,
    {
        Pool::start(self.config, factory)
    }
}
