//! The pool: its shared registry, the worker threads, submission, shutdown.
//!
//! # Shape
//!
//! * Every worker owns its state `S`, a LIFO `crossbeam_deque::Worker` of
//!   [`Chunk`]s, a [`Recorder`] and the receiving end of its mailbox.
//! * The [`Registry`] (shared through an `Arc`) holds what others need to
//!   reach a worker: its *inbox* (an `Injector` that submitters push the
//!   worker's share of a batch into), the `Stealer` of its deque, its
//!   [`WorkerSleep`], and its mailbox sender.
//! * Submitting threads borrow a [`Slot`] from a small cache: a state `S` of
//!   their own (made by the factory on the submitting thread), a deque whose
//!   stealer is registered so workers can steal from a helping submitter,
//!   and a recorder.
//!
//! # A batch
//!
//! `run(n, job)` splits `0..n` into one contiguous share per participant:
//! share `i` goes to worker `i`'s inbox (so a worker sees the same part of
//! the index space batch after batch), the last share to the submitter when
//! it helps. Each participant halves its share down to the batch's grain,
//! pushing back halves onto its deque and running the front; idle workers
//! steal (other inboxes first: whole shares of workers that are not awake
//! yet, then deques, then helping submitters' deques). Batches of at most
//! `inline_tasks` tasks are run by the submitter alone, with no wake-up.
//!
//! # Shutdown
//!
//! `shutdown` closes the submission gate (a `RwLock` that submitters hold
//! for reading while they publish chunks), then stops and joins the workers.
//! A stopping worker counts down every chunk left in its deque and inbox as
//! cancelled (the batch fails with `ShutDown`); after the joins the shutting
//! thread drains the inboxes once more. Every published chunk is thus either
//! run or cancelled, so no submitter waits forever.

use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use crossbeam_deque::{Injector, Steal, Stealer, Worker};
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, RwLock};

use crate::TaskId;
use crate::batch::{BatchHeader, Chunk, TypedPart};
use crate::builder::{Config, MAX_THREADS, PoolBuilder};
use crate::error::{BatchError, BuildError, panic_message};
use crate::metrics::Recorder;
use crate::placement::PlacementPlan;
use crate::report::{Affinity, Report, WorkerAffinity};
use crate::sleep::WorkerSleep;
use crate::spin::SpinWait;
use crate::topology::{Topology, current_cpu, current_tid};

/// How many submitter slots get a deque that workers may steal from.
/// Submitters beyond this many at once still run tasks of tiny batches
/// inline, but do not take a share of larger ones.
const STEALABLE_SLOTS: usize = 8;

/// Statistics of one batch, returned by [`Pool::run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct BatchStats {
    /// Tasks in the batch.
    pub tasks: usize,
    /// Submission to completion, as the submitting thread saw it.
    pub latency: Duration,
    /// Whether the submitting thread ran the whole batch itself (it had at
    /// most `inline_tasks` tasks).
    pub inline: bool,
    /// Number of contiguous shares the batch was cut into.
    pub shares: usize,
    /// Tasks the submitting thread ran while it waited (its own batch's, or
    /// others' that it stole).
    pub submitter_tasks: u64,
    /// Parked workers this submission had to wake.
    pub woken: usize,
}

/// Control messages, sent to a worker's mailbox.
pub(crate) enum Control {
    /// Cancel what is queued and exit.
    Stop,
    /// Send a copy of the metrics.
    Snapshot(Sender<(usize, Recorder)>),
    /// Zero the metrics, then acknowledge.
    Reset(Sender<()>),
}

/// The CPUs a worker was seen on: a bitset only that worker writes.
struct CpusSeen(Box<[AtomicU64]>);

impl CpusSeen {
    fn new(max_cpu: usize) -> Self {
        CpusSeen((0..max_cpu / 64 + 1).map(|_| AtomicU64::new(0)).collect())
    }

    fn insert(&self, cpu: usize) {
        if let Some(word) = self.0.get(cpu / 64) {
            word.fetch_or(1 << (cpu % 64), Ordering::Relaxed);
        }
    }

    fn to_vec(&self) -> Vec<usize> {
        let mut out = Vec::new();
        for (w, word) in self.0.iter().enumerate() {
            let bits = word.load(Ordering::Relaxed);
            for b in 0..64 {
                if bits & (1 << b) != 0 {
                    out.push(w * 64 + b);
                }
            }
        }
        out
    }
}

/// What the rest of the pool can reach of one worker.
struct WorkerHandle<S> {
    inbox: CachePadded<Injector<Chunk<S>>>,
    stealer: Stealer<Chunk<S>>,
    sleep: CachePadded<WorkerSleep>,
    mailbox: Sender<Control>,
    seen: CpusSeen,
    tid: OnceLock<Option<u64>>,
}

/// A submitting thread's borrowed context.
pub(crate) struct Slot<S> {
    state: S,
    deque: Worker<Chunk<S>>,
    stealable: bool,
    rec: Recorder,
    epoch: u64,
}

struct SlotCache<S> {
    free: Vec<Box<Slot<S>>>,
    created: usize,
}

type Factory<S> = dyn Fn(usize) -> S + Send + Sync;

/// State shared by the pool handle, the workers and the submitters.
pub(crate) struct Registry<S> {
    config: Config,
    workers: Box<[WorkerHandle<S>]>,
    helper_stealers: Box<[OnceLock<Stealer<Chunk<S>>>]>,
    helper_count: AtomicUsize,
    slots: Mutex<SlotCache<S>>,
    factory: Box<Factory<S>>,
    /// `true` while submissions are accepted.
    gate: RwLock<bool>,
    closed: AtomicBool,
    metrics_epoch: AtomicU64,
    final_metrics: Mutex<Vec<Option<Recorder>>>,
    topology: Topology,
    plan: PlacementPlan,
    thread_names: Vec<String>,
}

impl<S> Registry<S> {
    fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Steals one chunk from anyone but `me` (a worker index; `None` for a
    /// submitter). Returns `None` after a sweep that found nothing.
    fn steal_other(&self, me: Option<usize>, rec: &mut Recorder) -> Option<Chunk<S>> {
        let n = self.threads();
        let first = me.map_or(0, |i| i + 1);
        let others = if me.is_some() { n - 1 } else { n };
        loop {
            let mut retry = false;
            // Whole shares of workers that have not started on them yet.
            for k in 0..others {
                match self.workers[(first + k) % n].inbox.steal() {
                    Steal::Success(chunk) => {
                        rec.steals += 1;
                        return Some(chunk);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            // Back halves from running workers' deques.
            for k in 0..others {
                match self.workers[(first + k) % n].stealer.steal() {
                    Steal::Success(chunk) => {
                        rec.steals += 1;
                        return Some(chunk);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            // Helping submitters' deques.
            let helpers = self.helper_count.load(Ordering::Acquire);
            for stealer in self.helper_stealers[..helpers]
                .iter()
                .filter_map(OnceLock::get)
            {
                match stealer.steal() {
                    Steal::Success(chunk) => {
                        rec.steals += 1;
                        return Some(chunk);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                rec.failed_steals += 1;
                return None;
            }
        }
    }

    /// Whether any queue holds work, or `mailbox` has mail.
    fn has_work_or_mail(&self, mailbox: &Receiver<Control>) -> bool {
        if !mailbox.is_empty() {
            return true;
        }
        let helpers = self.helper_count.load(Ordering::Acquire);
        self.workers
            .iter()
            .any(|w| !w.inbox.is_empty() || !w.stealer.is_empty())
            || self.helper_stealers[..helpers]
                .iter()
                .filter_map(OnceLock::get)
                .any(|s| !s.is_empty())
    }

    /// Takes a submitter slot from the cache, making one (on this thread)
    /// if none is free.
    fn take_slot(&self) -> Box<Slot<S>> {
        let epoch = self.metrics_epoch.load(Ordering::Acquire);
        let popped = self.slots.lock().free.pop();
        let mut slot = match popped {
            Some(slot) => slot,
            None => self.new_slot(epoch),
        };
        if slot.epoch != epoch {
            slot.rec.reset();
            slot.epoch = epoch;
        }
        slot
    }

    fn new_slot(&self, epoch: u64) -> Box<Slot<S>> {
        let index = {
            let mut cache = self.slots.lock();
            cache.created += 1;
            cache.created - 1
        };
        // Runs on the submitting thread, so the state's memory is first
        // touched where it will be used. Indices >= threads() denote
        // submitter states.
        let state = (self.factory)(self.threads() + index);
        let deque = Worker::new_lifo();
        let stealable = index < self.helper_stealers.len();
        if stealable {
            // Only this call sets this index.
            let _ = self.helper_stealers[index].set(deque.stealer());
            self.helper_count.fetch_max(index + 1, Ordering::AcqRel);
        }
        Box::new(Slot {
            state,
            deque,
            stealable,
            rec: Recorder::new(self.config.task_timing),
            epoch,
        })
    }

    fn return_slot(&self, slot: Box<Slot<S>>) {
        // Slots are only freed with the registry: a thread that completed a
        // batch may still be in the latch's final unlock, and slots are
        // cheap to keep.
        self.slots.lock().free.push(slot);
    }

    /// Runs one batch from a submitting thread holding `slot`.
    fn run_batch<E, F>(
        &self,
        slot: &mut Slot<S>,
        tasks: usize,
        job: &F,
        submitted: Instant,
    ) -> Result<BatchStats, BatchError<E>>
    where
        F: Fn(&mut S, TaskId) -> Result<(), E> + Sync,
        E: Send,
    {
        let typed = TypedPart::new(job);
        let tasks_before = slot.rec.tasks;
        let inline = tasks <= self.config.inline_tasks;
        let helps = !inline && self.config.submitter_helps && slot.stealable;
        let participants = if inline {
            1
        } else {
            self.threads() + usize::from(helps)
        };
        let shares = tasks.min(participants);
        let grain = if inline {
            tasks
        } else {
            tasks.div_ceil(participants * self.config.splits_per_thread)
        };
        let header = BatchHeader::new(&typed, tasks, grain, submitted);
        let mut woken = 0;
        if inline {
            slot.rec.begin_inline(submitted);
            Chunk::new(&header, 0, tasks).execute(&mut slot.state, &slot.deque, &mut slot.rec);
        } else {
            let share = |k: usize| (k * tasks / shares, (k + 1) * tasks / shares);
            let worker_shares = if helps { shares - 1 } else { shares };
            {
                let open = self.gate.read();
                if !*open {
                    // Nothing was published; the batch can simply go away.
                    slot.rec.batch_done(submitted.elapsed());
                    return Err(BatchError::ShutDown);
                }
                for (w, worker) in self.workers[..worker_shares].iter().enumerate() {
                    let (a, b) = share(w);
                    worker.inbox.push(Chunk::new(&header, a, b));
                }
                if helps {
                    let (a, b) = share(shares - 1);
                    slot.deque.push(Chunk::new(&header, a, b));
                }
            }
            // From here until `wait` returns nothing may unwind: workers hold
            // pointers into `header` and `typed` (see batch.rs).
            for worker in &self.workers[..worker_shares] {
                woken += usize::from(worker.sleep.wake());
            }
            if helps {
                self.help(slot, &header);
            }
        }
        header.latch.wait(self.config.spin);
        let end = if inline { slot.rec.take_end() } else { None };
        let latency = end.map_or_else(
            || submitted.elapsed(),
            |end| end.saturating_duration_since(submitted),
        );
        slot.rec.batch_done(latency);
        let stats = BatchStats {
            tasks,
            latency,
            inline,
            shares,
            submitter_tasks: slot.rec.tasks - tasks_before,
            woken,
        };
        header.outcome(&typed).map(|()| stats)
    }

    /// The submitter runs its share, then steals until its batch is done or
    /// there is nothing left to take.
    fn help(&self, slot: &mut Slot<S>, header: &BatchHeader<S>) {
        loop {
            while let Some(chunk) = slot.deque.pop() {
                chunk.execute(&mut slot.state, &slot.deque, &mut slot.rec);
            }
            if header.latch.probe() {
                return;
            }
            match self.steal_other(None, &mut slot.rec) {
                Some(chunk) => chunk.execute(&mut slot.state, &slot.deque, &mut slot.rec),
                None => return,
            }
        }
    }
}

thread_local! {
    /// On a worker thread: (address of its registry, worker index). Lets
    /// `report` and `reset_metrics` called from inside a task skip the
    /// calling worker instead of waiting for it to read its own mail.
    static CURRENT_WORKER: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
}

impl<S> Registry<S> {
    /// The index of the calling thread if it is one of this pool's workers.
    fn current_worker(&self) -> Option<usize> {
        let (registry, index) = CURRENT_WORKER.with(std::cell::Cell::get);
        (registry == self as *const Self as usize).then_some(index)
    }
}

/// One worker thread's private context.
struct WorkerThread<S> {
    index: usize,
    registry: Arc<Registry<S>>,
    local: Worker<Chunk<S>>,
    state: S,
    rec: Recorder,
    mailbox: Receiver<Control>,
    last_cpu: Option<usize>,
    /// Parked and woken, and not yet found anything to do since.
    woken: bool,
}

impl<S> WorkerThread<S> {
    fn handle(&self) -> &WorkerHandle<S> {
        &self.registry.workers[self.index]
    }

    fn main_loop(mut self) -> Recorder {
        self.note_cpu();
        loop {
            if !self.mailbox.is_empty() {
                self.count_wakeup();
            }
            if self.read_mail() {
                break;
            }
            if let Some(chunk) = self.find_work() {
                self.count_wakeup();
                self.run_chunk(chunk);
                continue;
            }
            if self.spin() {
                continue;
            }
            let registry = Arc::clone(&self.registry);
            let sleep = &registry.workers[self.index].sleep;
            let ticket = sleep.ticket();
            if registry.has_work_or_mail(&self.mailbox) {
                continue;
            }
            if sleep.sleep(ticket) {
                self.rec.parks += 1;
                self.woken = true;
                self.note_cpu();
            }
        }
        self.drain();
        self.rec
    }

    /// After a park, the first work or mail found makes the wake-up count
    /// as useful.
    fn count_wakeup(&mut self) {
        if std::mem::take(&mut self.woken) {
            self.rec.wakeups += 1;
        }
    }

    /// Handles queued control messages; returns `true` on `Stop`.
    fn read_mail(&mut self) -> bool {
        while let Ok(message) = self.mailbox.try_recv() {
            match message {
                Control::Stop => return true,
                Control::Snapshot(reply) => {
                    let _ = reply.send((self.index, self.rec.clone()));
                }
                Control::Reset(ack) => {
                    self.rec.reset();
                    let _ = ack.send(());
                }
            }
        }
        false
    }

    fn find_work(&mut self) -> Option<Chunk<S>> {
        if let Some(chunk) = self.local.pop() {
            return Some(chunk);
        }
        loop {
            match self.handle().inbox.steal() {
                Steal::Success(chunk) => return Some(chunk),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        self.registry.steal_other(Some(self.index), &mut self.rec)
    }

    fn run_chunk(&mut self, chunk: Chunk<S>) {
        self.note_cpu();
        chunk.execute(&mut self.state, &self.local, &mut self.rec);
        while let Some(chunk) = self.local.pop() {
            chunk.execute(&mut self.state, &self.local, &mut self.rec);
        }
    }

    /// Looks for work and mail for the spin window; `true` if some came.
    fn spin(&mut self) -> bool {
        let spin = self.registry.config.spin;
        let wait = SpinWait::new();
        loop {
            if !self.mailbox.is_empty() {
                return true;
            }
            if let Some(chunk) = self.find_work() {
                self.count_wakeup();
                self.run_chunk(chunk);
                return true;
            }
            if wait.over(spin) {
                return false;
            }
        }
    }

    fn note_cpu(&mut self) {
        if let Some(cpu) = current_cpu() {
            if self.last_cpu != Some(cpu) {
                self.last_cpu = Some(cpu);
                self.handle().seen.insert(cpu);
            }
        }
    }

    /// Cancels what is left in this worker's deque and inbox.
    fn drain(&mut self) {
        while let Some(chunk) = self.local.pop() {
            chunk.cancel_for_shutdown();
        }
        drain_injector(&self.handle().inbox);
    }
}

fn drain_injector<S>(inbox: &Injector<Chunk<S>>) {
    loop {
        match inbox.steal() {
            Steal::Success(chunk) => chunk.cancel_for_shutdown(),
            Steal::Retry => continue,
            Steal::Empty => break,
        }
    }
}

/// A pinned work-stealing pool whose workers own a state `S`.
///
/// Built with [`Pool::builder`]. Submit batches with [`Pool::run`] from any
/// number of threads at once (`Pool<S>` is `Send + Sync` for `S: Send`, so
/// share it with an `Arc`). Dropping the pool stops and joins its workers.
///
/// ```
/// use lanes_scheduler::{Pool, TaskId};
///
/// // Each worker owns a scratch buffer; nothing is shared while tasks run.
/// let pool: Pool<Vec<u64>> = Pool::builder()
///     .threads(2)
///     .build(|_worker| Vec::with_capacity(64))
///     .unwrap();
///
/// let input: Vec<u64> = (0..1000).collect();
/// let sums: Vec<std::sync::atomic::AtomicU64> =
///     (0..10).map(|_| Default::default()).collect();
/// // The job borrows `input` and `sums` from this stack frame.
/// let stats = pool
///     .run(10, |scratch: &mut Vec<u64>, task: TaskId| -> Result<(), String> {
///         scratch.clear();
///         scratch.extend(input[task * 100..(task + 1) * 100].iter().map(|x| x * 2));
///         let sum = scratch.iter().sum();
///         sums[task].store(sum, std::sync::atomic::Ordering::Relaxed);
///         Ok(())
///     })
///     .unwrap();
/// assert_eq!(stats.tasks, 10);
/// let total: u64 = sums.iter().map(|s| s.load(std::sync::atomic::Ordering::Relaxed)).sum();
/// assert_eq!(total, 2 * 999 * 1000 / 2);
/// ```
pub struct Pool<S> {
    registry: Arc<Registry<S>>,
    handles: Mutex<Vec<JoinHandle<Recorder>>>,
}

impl<S> std::fmt::Debug for Pool<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .field("config", &self.registry.config)
            .field("closed", &self.registry.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// What a worker thread tells `build` once it is ready (or not).
struct Ready {
    worker: usize,
    tid: Option<u64>,
    result: Result<(), BuildError>,
}

impl Pool<()> {
    /// A builder with the defaults (see [`PoolBuilder`]).
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }
}

impl<S: Send + 'static> Pool<S> {
    pub(crate) fn start<F>(config: Config, factory: F) -> Result<Pool<S>, BuildError>
    where
        F: Fn(usize) -> S + Send + Sync + 'static,
    {
        let topology = Topology::detect();
        let threads = match config.threads {
            Some(0) => return Err(BuildError::ZeroThreads),
            Some(n) if n > MAX_THREADS => {
                return Err(BuildError::TooManyThreads {
                    requested: n,
                    max: MAX_THREADS,
                });
            }
            Some(n) => n,
            None => NonZeroUsize::new(topology.allowed().len())
                .map_or(1, NonZeroUsize::get)
                .min(MAX_THREADS),
        };
        let plan = config.placement.plan(&topology, threads)?;
        let max_cpu = topology.cpus().iter().map(|c| c.id).max().unwrap_or(0);
        let mut locals = Vec::with_capacity(threads);
        let mut receivers = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            let local = Worker::new_lifo();
            let (tx, rx) = crossbeam_channel::unbounded();
            workers.push(WorkerHandle {
                inbox: CachePadded::new(Injector::new()),
                stealer: local.stealer(),
                sleep: CachePadded::new(WorkerSleep::new()),
                mailbox: tx,
                seen: CpusSeen::new(max_cpu),
                tid: OnceLock::new(),
            });
            locals.push(local);
            receivers.push(rx);
        }
        let thread_names = (0..threads)
            .map(|i| format!("{}-{i}", config.thread_name))
            .collect();
        let registry = Arc::new(Registry {
            config: config.clone(),
            workers: workers.into_boxed_slice(),
            helper_stealers: (0..STEALABLE_SLOTS).map(|_| OnceLock::new()).collect(),
            helper_count: AtomicUsize::new(0),
            slots: Mutex::new(SlotCache {
                free: Vec::new(),
                created: 0,
            }),
            factory: Box::new(factory),
            gate: RwLock::new(true),
            closed: AtomicBool::new(false),
            metrics_epoch: AtomicU64::new(0),
            final_metrics: Mutex::new(vec![None; threads]),
            topology,
            plan,
            thread_names,
        });
        let pool = Pool {
            registry: Arc::clone(&registry),
            handles: Mutex::new(Vec::with_capacity(threads)),
        };
        let (ready_tx, ready_rx) = crossbeam_channel::unbounded::<Ready>();
        for (index, (local, mailbox)) in locals.into_iter().zip(receivers).enumerate() {
            let registry = Arc::clone(&registry);
            let ready = ready_tx.clone();
            let mut builder =
                std::thread::Builder::new().name(registry.thread_names[index].clone());
            if let Some(size) = config.stack_size {
                builder = builder.stack_size(size);
            }
            let spawned =
                builder.spawn(move || worker_main(index, registry, local, mailbox, ready));
            match spawned {
                Ok(handle) => pool.handles.lock().push(handle),
                Err(e) => {
                    // `pool`'s drop stops and joins the ones already started.
                    return Err(BuildError::Spawn {
                        worker: index,
                        message: e.to_string(),
                    });
                }
            }
        }
        drop(ready_tx);
        let mut failure = None;
        for _ in 0..threads {
            match ready_rx.recv() {
                Ok(ready) => {
                    let _ = registry.workers[ready.worker].tid.set(ready.tid);
                    if let Err(e) = ready.result {
                        failure.get_or_insert(e);
                    }
                }
                Err(_) => break,
            }
        }
        match failure {
            Some(e) => Err(e), // dropping `pool` shuts the others down
            None => Ok(pool),
        }
    }
}

fn worker_main<S>(
    index: usize,
    registry: Arc<Registry<S>>,
    local: Worker<Chunk<S>>,
    mailbox: Receiver<Control>,
    ready: Sender<Ready>,
) -> Recorder {
    let timing = registry.config.task_timing;
    let tid = current_tid();
    if let Some(cpu) = registry.plan.cpus[index] {
        let pinned =
            !cfg!(miri) && core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
        if !pinned {
            let _ = ready.send(Ready {
                worker: index,
                tid,
                result: Err(BuildError::Pin { worker: index, cpu }),
            });
            return Recorder::new(timing);
        }
    }
    let state = match catch_unwind(AssertUnwindSafe(|| (registry.factory)(index))) {
        Ok(state) => state,
        Err(payload) => {
            let _ = ready.send(Ready {
                worker: index,
                tid,
                result: Err(BuildError::Factory {
                    worker: index,
                    message: panic_message(payload.as_ref()),
                }),
            });
            return Recorder::new(timing);
        }
    };
    CURRENT_WORKER.with(|c| c.set((Arc::as_ptr(&registry) as usize, index)));
    let mut worker = WorkerThread {
        index,
        registry,
        local,
        state,
        rec: Recorder::new(timing),
        mailbox,
        last_cpu: None,
        woken: false,
    };
    // Record where the worker starts before the pool is handed out, so its
    // affinity report is never empty, even if it has run no task yet.
    worker.note_cpu();
    let _ = ready.send(Ready {
        worker: index,
        tid,
        result: Ok(()),
    });
    drop(ready);
    worker.main_loop()
}

impl<S> Pool<S> {
    /// Runs tasks `0..tasks` of `job` and returns when every task has run
    /// or the batch failed.
    ///
    /// `job(state, task)` is called once per task, on some worker's state
    /// (or on the submitting thread's own state when it helps). It may
    /// borrow from the caller's stack: the call does not return while any
    /// thread can still reach it.
    ///
    /// A task that returns `Err` or panics fails the batch with that error;
    /// tasks not yet started are cancelled (skipped), the pool keeps
    /// working. A batch of at most `inline_tasks` tasks (see
    /// [`PoolBuilder::inline_tasks`]) runs on the calling thread with no
    /// cross-thread wake-up.
    ///
    /// ```
    /// use lanes_scheduler::{BatchError, Pool};
    ///
    /// let pool = Pool::builder().threads(2).build(|_| ()).unwrap();
    /// let err = pool
    ///     .run(100, |_, task| if task == 42 { Err("bad input") } else { Ok(()) })
    ///     .unwrap_err();
    /// assert_eq!(err, BatchError::Task { task: 42, error: "bad input" });
    /// // The pool still works.
    /// assert_eq!(pool.run(100, |_, _| Ok::<(), ()>(())).unwrap().tasks, 100);
    /// ```
    pub fn run<E, F>(&self, tasks: usize, job: F) -> Result<BatchStats, BatchError<E>>
    where
        F: Fn(&mut S, TaskId) -> Result<(), E> + Sync,
        E: Send,
    {
        let submitted = Instant::now();
        let registry = &*self.registry;
        if registry.closed.load(Ordering::Acquire) {
            return Err(BatchError::ShutDown);
        }
        if tasks == 0 {
            return Ok(BatchStats {
                tasks: 0,
                latency: submitted.elapsed(),
                inline: true,
                shares: 0,
                submitter_tasks: 0,
                woken: 0,
            });
        }
        let mut slot = registry.take_slot();
        // It records the batch's latency in the slot's metrics.
        let outcome = registry.run_batch(&mut slot, tasks, &job, submitted);
        registry.return_slot(slot);
        outcome
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.registry.threads()
    }

    /// The topology the pool was placed on.
    pub fn topology(&self) -> &Topology {
        &self.registry.topology
    }

    /// Where each worker was bound, and where it has been seen running, in
    /// the spirit of OpenMP's `OMP_DISPLAY_AFFINITY` (its `Display` prints
    /// one line per worker).
    pub fn affinity(&self) -> Affinity {
        let registry = &*self.registry;
        let workers = registry
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let pinned = registry.plan.cpus[i];
                WorkerAffinity {
                    worker: i,
                    thread_name: registry.thread_names[i].clone(),
                    tid: w.tid.get().copied().flatten(),
                    pinned: pinned.is_some(),
                    bound_to: pinned
                        .map_or_else(|| registry.topology.allowed().to_vec(), |c| vec![c]),
                    seen_on: w.seen.to_vec(),
                }
            })
            .collect();
        Affinity {
            placement: registry.config.placement.clone(),
            wrapped: registry.plan.wrapped,
            places: registry.plan.places.len(),
            workers,
        }
    }

    /// A snapshot of the metrics: each worker copies its own through its
    /// mailbox (waking it if parked), and the submitters' metrics are taken
    /// from the slot cache. Submitters in the middle of a batch at this
    /// moment are left out of the snapshot, and so is the calling worker
    /// when this is called from inside a task. (Tasks on several workers
    /// asking at the same moment would wait for each other: ask from
    /// outside the pool.)
    pub fn report(&self) -> Report {
        let registry = &*self.registry;
        let threads = registry.threads();
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut pending = 0;
        let me = registry.current_worker();
        for (i, worker) in registry.workers.iter().enumerate() {
            if me == Some(i) {
                continue;
            }
            if worker.mailbox.send(Control::Snapshot(tx.clone())).is_ok() {
                worker.sleep.wake();
                pending += 1;
            }
        }
        drop(tx);
        let mut recorders: Vec<Option<Recorder>> = vec![None; threads];
        for _ in 0..pending {
            match rx.recv() {
                Ok((i, rec)) => recorders[i] = Some(rec),
                // Every worker that could answer has; the rest stopped.
                Err(_) => break,
            }
        }
        let finals = registry.final_metrics.lock();
        let recorders: Vec<Recorder> = recorders
            .into_iter()
            .zip(finals.iter())
            .map(|(live, last)| {
                live.or_else(|| last.clone())
                    .unwrap_or_else(|| Recorder::new(registry.config.task_timing))
            })
            .collect();
        drop(finals);
        let epoch = registry.metrics_epoch.load(Ordering::Acquire);
        let mut submitters = Recorder::new(registry.config.task_timing);
        for slot in registry.slots.lock().free.iter() {
            if slot.epoch == epoch {
                submitters.merge(&slot.rec);
            }
        }
        Report::new(recorders, submitters, self.affinity())
    }

    /// Zeroes every metric: the workers' (through their mailboxes; returns
    /// once each has done it) and the submitters'. Called from inside a
    /// task, the calling worker's metrics are left as they are.
    pub fn reset_metrics(&self) {
        let registry = &*self.registry;
        registry.metrics_epoch.fetch_add(1, Ordering::AcqRel);
        let (tx, rx) = crossbeam_channel::unbounded();
        let me = registry.current_worker();
        for (i, worker) in registry.workers.iter().enumerate() {
            if me == Some(i) {
                continue;
            }
            if worker.mailbox.send(Control::Reset(tx.clone())).is_ok() {
                worker.sleep.wake();
            }
        }
        drop(tx);
        // Ends when every worker acknowledged or dropped its mailbox.
        while rx.recv().is_ok() {}
        for last in registry.final_metrics.lock().iter_mut().flatten() {
            last.reset();
        }
        for slot in registry.slots.lock().free.iter_mut() {
            slot.rec.reset();
        }
    }

    /// Whether the pool was shut down.
    pub fn is_shut_down(&self) -> bool {
        self.registry.closed.load(Ordering::Acquire)
    }

    /// Stops and joins every worker. Batches in flight fail with
    /// [`BatchError::ShutDown`] (their tasks not yet started are cancelled),
    /// later calls to [`Pool::run`] return it at once. Idempotent; also
    /// done by `drop`. Called from inside a task, it cannot join the
    /// calling worker, which exits when its task returns.
    pub fn shutdown(&self) {
        let registry = &*self.registry;
        {
            let mut open = registry.gate.write();
            *open = false;
            registry.closed.store(true, Ordering::Release);
        }
        let handles = std::mem::take(&mut *self.handles.lock());
        for worker in registry.workers.iter() {
            let _ = worker.mailbox.send(Control::Stop);
            worker.sleep.wake();
        }
        let me = std::thread::current().id();
        for (i, handle) in handles.into_iter().enumerate() {
            if handle.thread().id() == me {
                continue;
            }
            if let Ok(rec) = handle.join() {
                registry.final_metrics.lock()[i] = Some(rec);
            }
        }
        for worker in registry.workers.iter() {
            drain_injector(&worker.inbox);
        }
    }
}

impl<S> Drop for Pool<S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}
