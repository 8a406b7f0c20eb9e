//! Per-thread metrics, recorded without shared contention.
//!
//! Every worker and every submitter slot owns one [`Recorder`]; nothing in it
//! is shared, so recording a task is a clock read plus two histogram
//! increments in memory only that thread writes. Reports copy the recorders
//! out through the workers' mailboxes and merge the copies.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest value the histograms track, in nanoseconds (one hour). Larger
/// values are clamped to it.
const HIGHEST_NS: u64 = 3_600_000_000_000;
/// Significant decimal digits kept by the histograms.
const SIGFIG: u8 = 3;

/// A fresh latency histogram (nanoseconds, 3 significant digits).
pub(crate) fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy hdrhistogram's rules
    // (low >= 1, high >= 2 * low, sigfig <= 5), so this cannot fail.
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG).expect("valid histogram bounds")
}

/// How task run time and queue wait are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum TaskTiming {
    /// Only counts, no clock reads.
    Off,
    /// Two clock reads per leaf chunk (a run of consecutive tasks on one
    /// thread, about `tasks / (threads * splits_per_thread)` long): each task
    /// is recorded with its chunk's mean run time, and with the queue wait
    /// of its chunk (submission to the chunk's start). Costs a few ns per
    /// task; the per-task tail inside a chunk is averaged away. A batch run
    /// inline times its chunk from the submission (no queue wait) and ends
    /// with it: two clock reads for the whole batch.
    #[default]
    PerChunk,
    /// One clock read per task: exact per-task run time and queue wait.
    /// Costs one clock read and two histogram increments per task (about
    /// 100 ns on a VM whose clock read is ~35 ns).
    PerTask,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The metrics one thread records.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    /// How tasks are timed.
    pub(crate) timing: TaskTiming,
    /// Task run time, ns.
    pub(crate) run_time: Histogram<u64>,
    /// Queue wait (batch submission to task start), ns.
    pub(crate) queue_wait: Histogram<u64>,
    /// End-to-end batch latency, ns (submitters only).
    pub(crate) batch_latency: Histogram<u64>,
    /// Tasks run.
    pub(crate) tasks: u64,
    /// Chunks taken from another thread's queue.
    pub(crate) steals: u64,
    /// Sweeps over the other queues that found nothing.
    pub(crate) failed_steals: u64,
    /// Times the thread parked.
    pub(crate) parks: u64,
    /// Times it was woken from parking and then found work or mail (the
    /// rest of `parks` are wake-ups that found the work already taken).
    pub(crate) wakeups: u64,
    /// Batches submitted (submitters only).
    pub(crate) batches: u64,
    /// A batch run inline: its submission, taken as its chunk's start
    /// (see [`Recorder::begin_inline`]).
    inline_start: Option<Instant>,
    /// The end of the last chunk or task timed, taken as an inline batch's
    /// end.
    last_end: Option<Instant>,
}

impl Recorder {
    pub(crate) fn new(timing: TaskTiming) -> Self {
        Recorder {
            timing,
            run_time: new_histogram(),
            queue_wait: new_histogram(),
            batch_latency: new_histogram(),
            tasks: 0,
            steals: 0,
            failed_steals: 0,
            parks: 0,
            wakeups: 0,
            batches: 0,
            inline_start: None,
            last_end: None,
        }
    }

    /// The submitter runs a batch's only chunk itself, right away: the
    /// chunk starts when the batch was submitted (its queue wait is zero:
    /// the few instructions between submission and the chunk's first task
    /// count as run time), and its end (taken by [`Recorder::chunk_done`]
    /// or [`Recorder::task_done`]) ends the batch ([`Recorder::take_end`]).
    /// Two clock reads fewer for every small launch.
    #[inline]
    pub(crate) fn begin_inline(&mut self, submitted: Instant) {
        self.inline_start = Some(submitted);
        self.last_end = None;
    }

    /// A chunk's start: the inline batch's submission, or now.
    #[inline]
    pub(crate) fn chunk_start(&mut self) -> Instant {
        self.inline_start.take().unwrap_or_else(Instant::now)
    }

    /// The end of the inline batch's chunk, if it was timed (not with
    /// [`TaskTiming::Off`], nor after a panic).
    #[inline]
    pub(crate) fn take_end(&mut self) -> Option<Instant> {
        self.inline_start = None;
        self.last_end.take()
    }

    /// Records a run of `ran` tasks that started at `start` (a chunk timed
    /// as a whole).
    #[inline]
    pub(crate) fn chunk_done(&mut self, start: Instant, ran: u64, submitted: Instant) {
        self.tasks += ran;
        let end = Instant::now();
        self.last_end = Some(end);
        if let Some(mean) = nanos(end.saturating_duration_since(start)).checked_div(ran) {
            self.run_time.saturating_record_n(mean, ran);
            self.queue_wait
                .saturating_record_n(nanos(start.saturating_duration_since(submitted)), ran);
        }
    }

    /// Records one finished task. `clock` holds the task's start and is
    /// advanced to its end, which is the next task's start.
    #[inline]
    pub(crate) fn task_done(&mut self, clock: &mut Instant, submitted: Instant) {
        self.tasks += 1;
        let end = Instant::now();
        self.run_time.saturating_record(nanos(end - *clock));
        self.queue_wait
            .saturating_record(nanos(clock.saturating_duration_since(submitted)));
        *clock = end;
        self.last_end = Some(end);
    }

    pub(crate) fn batch_done(&mut self, latency: Duration) {
        self.batches += 1;
        self.batch_latency.saturating_record(nanos(latency));
    }

    pub(crate) fn reset(&mut self) {
        self.run_time.reset();
        self.queue_wait.reset();
        self.batch_latency.reset();
        self.tasks = 0;
        self.steals = 0;
        self.failed_steals = 0;
        self.parks = 0;
        self.wakeups = 0;
        self.batches = 0;
    }

    /// Adds `other` into `self`.
    pub(crate) fn merge(&mut self, other: &Recorder) {
        // Same bounds everywhere, so `add` cannot fail.
        let _ = self.run_time.add(&other.run_time);
        let _ = self.queue_wait.add(&other.queue_wait);
        let _ = self.batch_latency.add(&other.batch_latency);
        self.tasks += other.tasks;
        self.steals += other.steals;
        self.failed_steals += other.failed_steals;
        self.parks += other.parks;
        self.wakeups += other.wakeups;
        self.batches += other.batches;
    }
}
