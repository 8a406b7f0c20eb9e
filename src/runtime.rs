//! `Runtime`: the library's front door. It owns the buffer table, a kernel
//! cache and the worker pool, and runs launches on an engine.
//!
//! # Locking
//!
//! The buffer table sits behind one lock. A launch takes it **once**, resolves
//! and checks its arguments into `Arc<Buffer>`s, and releases it before any
//! lane runs: workers then reach the buffers without any lock, per block or
//! per instruction (see [`crate::memory`] for why that is sound). The pool
//! sits behind its own lock only so that it can be rebuilt; a launch clones
//! the `Arc` of the current pool and runs on it even if the pool is replaced
//! meanwhile.
//!
//! # Example
//!
//! ```
//! use lanes::{Arg, Dim3, LaunchOptions, Runtime};
//!
//! let rt = Runtime::builder().threads(2).build().unwrap();
//! let program = rt
//!     .compile(
//!         "double.lasm",
//!         ".kernel double\n.param x buf\n.param n u32\n\
//!          mov.u32 r0, %gid\n setp.ge.u32 p0, r0, n\n @p0 exit\n\
//!          shl.u64 r1, r0, 2\n ld.global.f32 r2, [x + r1]\n\
//!          add.f32 r2, r2, r2\n st.global.f32 [x + r1], r2\n",
//!     )
//!     .unwrap();
//! let kernel = program.kernel("double").unwrap();
//! let x = rt.alloc_from(&[1.5f32, 2.0, -3.0].map(f32::to_le_bytes).concat()).unwrap();
//! rt.launch(kernel, Dim3::x(1), Dim3::x(32), &[Arg::Buffer(x), Arg::from(3u32)], LaunchOptions::default())
//!     .unwrap();
//! let out: Vec<f32> = rt.read(x).unwrap().chunks(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
//! assert_eq!(out, [3.0, 4.0, -6.0]);
//! ```

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lanes_scheduler::{BatchError, BatchStats, Placement, Pool, Report};
use parking_lot::{Mutex, RwLock};

use crate::asm::Diagnostics;
use crate::engine::block::BlockLaunch;
use crate::engine::jit::{self, JitLaunch, Start};
use crate::engine::{LaunchSpec, StopFlag, WorkerState, reference, with_deadline};
use crate::kernel::{Kernel, Program, compile};
use crate::launch::{Arg, DEFAULT_MAX_STEPS, Dim3, LaunchError, bind_args, check_shape};
use crate::memory::{BufferId, BufferTable, MemoryError};

/// Which engine runs a launch.
///
/// All three give the same results (bit for bit where the language defines
/// them); they differ in speed. The default is [`Engine::Jit`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The lane-block interpreter on the worker pool.
    Pool,
    /// The reference interpreter (single thread, one lane at a time).
    Reference,
    /// Compiled machine code (Cranelift) on the worker pool: each kernel is
    /// compiled once per block shape, on its first launch, and the code is
    /// kept with the kernel. Launches the JIT cannot take run on
    /// [`Engine::Pool`] (see [`LaunchStats::engine`]).
    #[default]
    Jit,
}

impl Engine {
    /// Every engine, the oracle first.
    pub const ALL: [Engine; 3] = [Engine::Reference, Engine::Pool, Engine::Jit];

    /// The engine's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Pool => "pool",
            Engine::Reference => "reference",
            Engine::Jit => "jit",
        }
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Engine, String> {
        match s {
            "pool" => Ok(Engine::Pool),
            "reference" => Ok(Engine::Reference),
            "jit" => Ok(Engine::Jit),
            other => Err(format!(
                "unknown engine `{other}` (expected jit, pool or reference)"
            )),
        }
    }
}

/// Per-launch options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchOptions {
    /// The engine.
    pub engine: Engine,
    /// Per-lane step budget.
    pub max_steps: u64,
    /// Wall-clock limit of the launch (`None`: none). Past it the launch is
    /// cancelled through its stop flag, running blocks included, and fails
    /// with [`LaunchError::Timeout`], which names the blocks that had not
    /// finished; the others keep their writes.
    pub timeout: Option<Duration>,
    /// [`Engine::Jit`]: how long a launch waits for its kernel to compile
    /// (once per kernel and block shape). A kernel not compiled by then
    /// goes on compiling on a background thread while the launch's blocks
    /// start on the block engine, each pool task switching to the compiled
    /// code once it is ready (the results are the same: every engine
    /// matches the reference interpreter bit for bit). A kernel whose
    /// lanes may wait apart (barriers, divergent branches) gets the JIT's
    /// quicker one-lane code first, and the wait ends when that is ready;
    /// its gang code replaces it for the launches that start once that is
    /// compiled too. Default:
    /// [`DEFAULT_JIT_WAIT`]; `Duration::MAX` runs every block on compiled
    /// code (tests of the JIT, benchmarks).
    pub jit_wait: Duration,
}

/// Default [`LaunchOptions::jit_wait`]: the first launch of a kernel waits
/// at most this long for the JIT. With the time the waiting thread takes
/// to wake up (about 0.1 ms, 0.5 ms now and then on a busy 2-core
/// machine: a 1.8 ms wait ended after 1.9-2.4 ms) its blocks start within
/// 2 ms.
pub const DEFAULT_JIT_WAIT: Duration = Duration::from_micros(1500);

impl Default for LaunchOptions {
    fn default() -> Self {
        LaunchOptions {
            engine: Engine::default(),
            max_steps: DEFAULT_MAX_STEPS,
            timeout: None,
            jit_wait: DEFAULT_JIT_WAIT,
        }
    }
}

/// What a launch did.
#[derive(Clone, Debug)]
pub struct LaunchStats {
    /// Blocks run.
    pub blocks: u64,
    /// Lanes launched.
    pub lanes: u128,
    /// Pool tasks the grid was split into (0 for the reference engine).
    pub tasks: usize,
    /// Wall time of the launch call.
    pub elapsed: Duration,
    /// The scheduler's view of the batch (pool and JIT engines).
    pub batch: Option<BatchStats>,
    /// The engine that ran the launch: the one asked for, except that a
    /// launch the JIT cannot take runs on [`Engine::Pool`].
    pub engine: Engine,
    /// Time spent compiling the kernel (JIT), reported by the first launch
    /// that runs the compiled code (or that waited for it in vain: the
    /// kernel could not be compiled). A kernel that starts on the one-lane
    /// tier while its gang code compiles ([`LaunchOptions::jit_wait`])
    /// reports twice: each variant's, by the first launch on it.
    pub compile_time: Option<Duration>,
    /// Time spent compiling the kernel's general part (JIT): a kernel
    /// without barriers whose code has a full-gang version is compiled in
    /// two parts, a hot one (what [`LaunchStats::compile_time`] reports,
    /// all its first launches wait for) and the general one (the whole
    /// kernel: what leaves the full version, a partial gang or lanes that
    /// part, runs there; once it is compiled it runs every launch),
    /// compiled by the background compiler right after the hot part, or
    /// by the first launch that needs it. Reported once, by the first
    /// launch that ends after it is compiled.
    pub general_compile_time: Option<Duration>,
    /// Blocks of a JIT launch that ran on the block engine while the
    /// kernel was still compiling ([`LaunchOptions::jit_wait`]); 0 once it
    /// is compiled.
    pub blocks_before_jit: u64,
}

/// The pool's settings; change them on a live runtime with
/// [`Runtime::reconfigure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Threads that run a launch's tasks (`None`: the CPUs this process may
    /// run on). With [`PoolConfig::submitter_helps`] the launching thread is
    /// one of them and the pool has `threads - 1` workers. At most
    /// [`lanes_scheduler::MAX_THREADS`] (1024).
    pub threads: Option<usize>,
    /// Where workers are pinned.
    pub placement: Placement,
    /// How long an idle worker spins before it parks.
    pub spin: Duration,
    /// Whether the launching thread runs tasks of its launch, as one of the
    /// `threads`, instead of waiting for the workers.
    ///
    /// On by default: a waiting launcher would spin on a core the workers
    /// need (on 2 cores, it doubled the latency of a 16384-lane launch), and
    /// it is already awake, so one share of the launch starts without a
    /// wake-up. The launching thread is not pinned, so placement and
    /// thread-count experiments turn this off (`lanes affinity` does): then
    /// `threads` pinned workers are exactly the threads that compute. With
    /// one thread and helping on, every launch runs on the launching thread.
    pub submitter_helps: bool,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            threads: None,
            placement: Placement::None,
            spin: lanes_scheduler::DEFAULT_SPIN,
            submitter_helps: true,
        }
    }
}

/// Error building or rebuilding the pool.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the worker pool: {0}")]
pub struct PoolError(#[from] lanes_scheduler::BuildError);

/// Builds a [`Runtime`].
#[derive(Clone, Debug, Default)]
pub struct RuntimeBuilder {
    pool: PoolConfig,
}

impl RuntimeBuilder {
    /// Threads that run launches (at least 1, at most
    /// [`lanes_scheduler::MAX_THREADS`], 1024; see [`PoolConfig::threads`]).
    /// More is an error of [`RuntimeBuilder::build`].
    pub fn threads(mut self, threads: usize) -> Self {
        self.pool.threads = Some(threads);
        self
    }

    /// Worker placement.
    pub fn placement(mut self, placement: Placement) -> Self {
        self.pool.placement = placement;
        self
    }

    /// Spin window before idle workers park.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.pool.spin = spin;
        self
    }

    /// Whether launching threads run tasks of their launch while they wait
    /// (see [`PoolConfig::submitter_helps`]).
    pub fn submitter_helps(mut self, helps: bool) -> Self {
        self.pool.submitter_helps = helps;
        self
    }

    /// Builds the runtime and its pool.
    pub fn build(self) -> Result<Runtime, PoolError> {
        let pool = build_pool(&self.pool)?;
        Ok(Runtime {
            buffers: Arc::new(RwLock::new(BufferTable::new())),
            cache: Mutex::new(HashMap::new()),
            pool: RwLock::new(pool),
            config: Mutex::new(self.pool),
        })
    }
}

/// The pool for `config`, and how many threads run its launches.
fn build_pool(config: &PoolConfig) -> Result<(Arc<Pool<WorkerState>>, usize), PoolError> {
    let threads = config.threads.unwrap_or_else(|| {
        let cpus = lanes_scheduler::Topology::detect().allowed().len();
        cpus.clamp(1, lanes_scheduler::MAX_THREADS)
    });
    if threads > lanes_scheduler::MAX_THREADS {
        return Err(PoolError(lanes_scheduler::BuildError::TooManyThreads {
            requested: threads,
            max: lanes_scheduler::MAX_THREADS,
        }));
    }
    // `threads` counts the launching thread when it helps.
    let (workers, helps, inline) = match (config.submitter_helps, threads) {
        // The launching thread alone runs everything; the one worker the
        // pool must have stays parked.
        (true, 0 | 1) => (1, false, usize::MAX),
        (true, t) => (t - 1, true, 1),
        (false, t) => (t, false, 1),
    };
    let b = Pool::builder()
        .threads(workers)
        .placement(config.placement.clone())
        .spin(config.spin)
        .submitter_helps(helps)
        .inline_tasks(inline)
        .thread_name("lanes-worker");
    let pool = b.build(|_| WorkerState::default())?;
    let running = if helps {
        workers + 1
    } else if inline == 1 {
        workers
    } else {
        1
    };
    Ok((Arc::new(pool), running))
}

/// Buffers, a kernel cache and the worker pool.
pub struct Runtime {
    /// Shared with the typed [`crate::Buffer`] handles, which free
    /// themselves from it when dropped.
    pub(crate) buffers: Arc<RwLock<BufferTable>>,
    cache: Mutex<HashMap<Arc<str>, Program>>,
    /// The pool and the number of threads that run its launches.
    pool: RwLock<(Arc<Pool<WorkerState>>, usize)>,
    config: Mutex<PoolConfig>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("buffers", &self.buffers.read().len())
            .field("pool", &*self.config.lock())
            .finish()
    }
}

/// How a launch is cut into pool tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cost {
    /// Every lane runs the same straight-line code (no backward branch):
    /// blocks cost alike, so few, big tasks (long fused units, little
    /// scheduling) balance well; a task has at least `min_lanes` lanes.
    Even { min_lanes: u64 },
    /// Loops may make lanes and blocks cost unevenly: more, smaller tasks
    /// for idle workers to steal.
    Uneven,
}

impl Cost {
    /// On the block engine: tasks of at least 8192 lanes of straight-line
    /// code.
    fn interpreted(straight_line: bool) -> Cost {
        if straight_line {
            Cost::Even { min_lanes: 8192 }
        } else {
            Cost::Uneven
        }
    }

    /// On compiled code (`tier`) of a kernel of `instrs` instructions. The
    /// gang tier runs a short straight-line kernel several times faster
    /// than the block engine, and a second thread's start and join cost
    /// more than half of a small launch: measured on 2 threads against 1
    /// (`lanes run --threads`, p50 of 20000 launches), vector_add 3.2 µs
    /// against 2.7 µs at 16k lanes, vector_div 3.7 against 3.6, saxpy 3.6
    /// against 3.3; at 32k two threads win (4.6, 5.4, 5.2 µs against 4.8,
    /// 6.5, 6.9). So such a task has at least ~128k lane-instructions:
    /// 16384 lanes of those 8-instruction kernels, never fewer lanes than
    /// on the block engine.
    fn compiled(straight_line: bool, tier: jit::Tier, instrs: usize) -> Cost {
        match Cost::interpreted(straight_line) {
            Cost::Even { min_lanes } if tier == jit::Tier::Gang => Cost::Even {
                min_lanes: ((1u64 << 17) / instrs.max(1) as u64).clamp(min_lanes, 16384),
            },
            cost => cost,
        }
    }
}

/// Blocks of `lanes` lanes per pool task.
///
/// - Even cost: tasks of at least `min_lanes` and at most 2 per thread, but
///   at most ~256k lanes, so that a thread that runs slower than the others
///   (a busy neighbour) hands its last tasks to them.
/// - Uneven: at least ~1024 lanes (one fused unit of a kernel with loops),
///   so a task's cost dwarfs its scheduling, and up to 64 tasks per thread:
///   the last tasks to finish set the launch's time, and on a shared machine
///   the threads do not even run at the same speed, so finer tasks balance
///   better (Mandelbrot over 64k pixels: 64 tasks of 4 rows instead of 32
///   of 8).
fn blocks_per_task(blocks: u64, lanes: usize, threads: usize, cost: Cost) -> u64 {
    let (min_lanes, per_thread, max_lanes): (u64, u64, u64) = match cost {
        Cost::Even { min_lanes } => (min_lanes, 2, 1 << 18),
        Cost::Uneven => (1024, 64, u64::MAX),
    };
    let lanes = lanes.max(1) as u64;
    let by_size = min_lanes.div_ceil(lanes);
    let by_balance = blocks.div_ceil(threads.max(1) as u64 * per_thread);
    let cap = (max_lanes / lanes).max(by_size);
    by_size.max(by_balance).min(cap).max(1)
}

impl Runtime {
    /// A runtime with the default pool (one worker per available CPU).
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start threads; use
    /// [`Runtime::builder`] to handle that as an error.
    pub fn new() -> Runtime {
        Runtime::builder()
            .build()
            .unwrap_or_else(|e| panic!("lanes: {e}"))
    }

    /// A builder for a runtime with custom pool settings.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Rebuilds the pool with new settings. Buffers and the kernel cache
    /// stay; launches in flight finish on the old pool.
    pub fn reconfigure(&self, config: PoolConfig) -> Result<(), PoolError> {
        let pool = build_pool(&config)?;
        *self.pool.write() = pool;
        *self.config.lock() = config;
        Ok(())
    }

    /// The current pool settings.
    pub fn pool_config(&self) -> PoolConfig {
        self.config.lock().clone()
    }

    /// Threads that run launches: the workers, plus the launching thread
    /// when it helps (see [`PoolConfig::threads`]).
    pub fn threads(&self) -> usize {
        self.pool.read().1
    }

    /// The scheduler's per-worker metrics since the last reset.
    pub fn report(&self) -> Report {
        self.pool.read().0.report()
    }

    /// Clears the scheduler's metrics.
    pub fn reset_metrics(&self) {
        self.pool.read().0.reset_metrics()
    }

    /// Compiles LASM source; `file` names it in error messages. The same
    /// source compiled twice gives the same `Arc<Kernel>`s.
    pub fn compile(&self, file: &str, source: &str) -> Result<Program, Diagnostics> {
        if let Some(p) = self.cache.lock().get(source) {
            return Ok(p.clone());
        }
        let program = compile(file, source)?;
        let mut cache = self.cache.lock();
        Ok(cache.entry(Arc::from(source)).or_insert(program).clone())
    }

    /// A zeroed buffer of `len` bytes.
    pub fn alloc(&self, len: usize) -> Result<BufferId, MemoryError> {
        self.buffers.write().create(len)
    }

    /// A buffer holding a copy of `bytes`.
    pub fn alloc_from(&self, bytes: &[u8]) -> Result<BufferId, MemoryError> {
        self.buffers.write().create_from(bytes)
    }

    /// Writes `bytes` at `offset` of buffer `id`.
    pub fn write(&self, id: BufferId, offset: usize, bytes: &[u8]) -> Result<(), MemoryError> {
        self.buffers.read().write(id, offset, bytes)
    }

    /// Reads all bytes of buffer `id`.
    pub fn read(&self, id: BufferId) -> Result<Vec<u8>, MemoryError> {
        self.buffers.read().read(id)
    }

    /// Length in bytes of buffer `id`.
    pub fn len_of(&self, id: BufferId) -> Result<usize, MemoryError> {
        Ok(self.buffers.read().get(id)?.len())
    }

    /// Number of live buffers.
    pub fn buffer_count(&self) -> usize {
        self.buffers.read().len()
    }

    /// Frees buffer `id`.
    pub fn free(&self, id: BufferId) -> Result<(), MemoryError> {
        self.buffers.write().free(id)
    }

    /// Runs `kernel` over `grid` blocks of `block` lanes with `args`.
    ///
    /// A fault cancels the rest of the launch and is returned; blocks that
    /// already ran keep their writes, and the runtime stays usable.
    pub fn launch(
        &self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        options: LaunchOptions,
    ) -> Result<LaunchStats, LaunchError> {
        self.launch_with_stop(kernel, grid, block, args, options, &StopFlag::new())
    }

    /// [`Runtime::launch`] with a stop flag of the caller's: another thread
    /// may [`StopFlag::set`] it to cancel the launch, running blocks
    /// included (a signal handler's thread, a user interface), which then
    /// fails with [`LaunchError::Cancelled`] naming the blocks that had not
    /// finished; the others keep their writes. Use a new flag for each
    /// launch (a set flag cancels the launch at once).
    ///
    /// ```
    /// use lanes::{Dim3, LaunchError, LaunchOptions, Runtime, engine::StopFlag};
    ///
    /// let rt = Runtime::builder().threads(1).build()?;
    /// let p = rt.compile("spin.lasm", ".kernel spin\nloop:\n bra loop\n")?;
    /// let stop = StopFlag::new();
    /// let canceller = std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         std::thread::sleep(std::time::Duration::from_millis(20));
    ///         stop.set();
    ///     });
    ///     rt.launch_with_stop(&p.kernels[0], Dim3::x(1), Dim3::x(1), &[], LaunchOptions::default(), &stop)
    /// });
    /// assert!(matches!(canceller, Err(LaunchError::Cancelled { unfinished: 1, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn launch_with_stop(
        &self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        options: LaunchOptions,
        stop: &StopFlag,
    ) -> Result<LaunchStats, LaunchError> {
        self.launch_blocks(kernel, grid, block, args, options, stop, None)
    }

    /// [`Runtime::launch_with_stop`] over the linear blocks `blocks` of the
    /// grid only (`None`: all of them); the others do not run. This is how
    /// [`crate::cluster`] gives each process its share of a launch. A range
    /// that reaches past the grid is an error; an empty one runs nothing.
    #[allow(clippy::too_many_arguments)]
    pub fn launch_blocks(
        &self,
        kernel: &Arc<Kernel>,
        grid: Dim3,
        block: Dim3,
        args: &[Arg],
        options: LaunchOptions,
        stop: &StopFlag,
        blocks: Option<Range<u64>>,
    ) -> Result<LaunchStats, LaunchError> {
        let start = Instant::now();
        check_shape(grid, block)?;
        let all = grid.count() as u64;
        let range = blocks.unwrap_or(0..all);
        if range.start > range.end || range.end > all {
            return Err(LaunchError::Shape(format!(
                "block range {}..{} is not inside grid {grid} ({all} blocks)",
                range.start, range.end
            )));
        }
        let bound = {
            let table = self.buffers.read();
            bind_args(kernel, args, |id| table.get(id).cloned())?
        };
        let spec = LaunchSpec {
            kernel,
            grid,
            block,
            args: &bound,
            max_steps: options.max_steps,
            stop,
        };
        let blocks = range.end - range.start;
        let stats = with_deadline(stop, options.timeout, || {
            self.run_on_engine(&spec, kernel, options, start, range)
        })
        .map_err(|e| {
            LaunchError::Engine(format!("cannot start the launch's deadline watchdog: {e}"))
        })??;
        let unfinished = stop.unfinished();
        // The flag was set by the deadline, or else by the caller.
        let past_deadline = options.timeout.is_some_and(|t| start.elapsed() >= t);
        if unfinished.blocks > 0 && !past_deadline {
            return Err(LaunchError::Cancelled {
                kernel: kernel.name.clone(),
                grid,
                blocks,
                unfinished: unfinished.blocks,
                ranges: unfinished.ranges,
            });
        }
        if unfinished.blocks > 0 {
            return Err(LaunchError::Timeout {
                kernel: kernel.name.clone(),
                timeout: options.timeout.unwrap_or_default(),
                grid,
                blocks,
                unfinished: unfinished.blocks,
                ranges: unfinished.ranges,
            });
        }
        Ok(stats)
    }

    /// Runs a checked launch on `engine`.
    fn run_on_engine(
        &self,
        spec: &LaunchSpec<'_>,
        kernel: &Arc<Kernel>,
        options: LaunchOptions,
        start: Instant,
        range: Range<u64>,
    ) -> Result<LaunchStats, LaunchError> {
        let block = spec.block;
        let blocks = range.end - range.start;
        let lanes = blocks as u128 * block.count();
        let stats = |tasks, batch, engine, compile_time| LaunchStats {
            blocks,
            lanes,
            tasks,
            elapsed: start.elapsed(),
            batch,
            engine,
            compile_time,
            general_compile_time: None,
            blocks_before_jit: 0,
        };
        match options.engine {
            Engine::Reference => {
                reference::run_blocks(spec, range).map_err(LaunchError::Fault)?;
                Ok(stats(0, None, Engine::Reference, None))
            }
            Engine::Jit => match JitLaunch::start(spec, kernel, options.jit_wait) {
                Ok(Start::Compiling(warmup)) => {
                    let block = BlockLaunch::new(spec);
                    let before = AtomicU64::new(0);
                    let cost = Cost::interpreted(block.straight_line());
                    let (tasks, batch) =
                        self.run_tasks(spec, range, cost, |state, range| match warmup.launch() {
                            Some(launch) => state.jit.run_blocks(launch, range),
                            None => {
                                before.fetch_add(range.end - range.start, Ordering::Relaxed);
                                state
                                    .block
                                    .run_blocks(&block, range)
                                    .map_err(LaunchError::Fault)
                            }
                        })?;
                    if warmup.cannot_compile() {
                        // Every block ran on the block engine, as when the
                        // JIT says so at once (`Warmup::launch` logged why).
                        return Ok(stats(tasks, Some(batch), Engine::Pool, None));
                    }
                    let compile_time = warmup.ran().and_then(|l| l.compile_time());
                    Ok(LaunchStats {
                        blocks_before_jit: before.into_inner(),
                        general_compile_time: warmup.ran().and_then(|l| l.general_compile_report()),
                        ..stats(tasks, Some(batch), Engine::Jit, compile_time)
                    })
                }
                Ok(Start::Ready(launch)) => {
                    let cost = Cost::compiled(
                        launch.straight_line(),
                        launch.tier(),
                        spec.kernel.instrs.len(),
                    );
                    let (tasks, batch) = self.run_tasks(spec, range, cost, |state, range| {
                        state.jit.run_blocks(&launch, range)
                    })?;
                    Ok(LaunchStats {
                        general_compile_time: launch.general_compile_report(),
                        ..stats(tasks, Some(batch), Engine::Jit, launch.compile_time())
                    })
                }
                Err(why) => {
                    why.log_once(&spec.kernel.name);
                    let (tasks, batch) = self.run_block_engine(spec, range)?;
                    Ok(stats(tasks, Some(batch), Engine::Pool, None))
                }
            },
            Engine::Pool => {
                let (tasks, batch) = self.run_block_engine(spec, range)?;
                Ok(stats(tasks, Some(batch), Engine::Pool, None))
            }
        }
    }

    /// Runs a launch on the block engine on the pool.
    fn run_block_engine(
        &self,
        spec: &LaunchSpec<'_>,
        range: Range<u64>,
    ) -> Result<(usize, BatchStats), LaunchError> {
        let launch = BlockLaunch::new(spec);
        let cost = Cost::interpreted(launch.straight_line());
        self.run_tasks(spec, range, cost, |state, range| {
            state
                .block
                .run_blocks(&launch, range)
                .map_err(LaunchError::Fault)
        })
    }

    /// Cuts the grid into pool tasks and runs `run(state, blocks)` on each.
    /// A fault in any task sets the launch's stop flag, which stops the
    /// running blocks of every task.
    fn run_tasks(
        &self,
        spec: &LaunchSpec<'_>,
        range: Range<u64>,
        cost: Cost,
        run: impl Fn(&mut WorkerState, Range<u64>) -> Result<(), LaunchError> + Sync,
    ) -> Result<(usize, BatchStats), LaunchError> {
        let (pool, threads) = self.pool.read().clone();
        let blocks = range.end - range.start;
        let per_task = blocks_per_task(blocks, spec.lanes_per_block(), threads, cost);
        let tasks = usize::try_from(blocks.div_ceil(per_task)).map_err(|_| {
            LaunchError::Shape(format!(
                "grid {} has too many blocks to schedule",
                spec.grid
            ))
        })?;
        let batch = pool
            .run(tasks, |state: &mut WorkerState, task| {
                let first = range.start + task as u64 * per_task;
                run(state, first..(first + per_task).min(range.end))
            })
            .map_err(|e| match e {
                BatchError::Task { error, .. } => error,
                BatchError::Panicked { message, .. } => {
                    LaunchError::Engine(format!("internal error: a worker panicked: {message}"))
                }
                BatchError::ShutDown => {
                    LaunchError::Engine("the worker pool was shut down".to_string())
                }
            })?;
        Ok((tasks, batch))
    }
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_sizes_cover_the_grid() {
        for (blocks, lanes, threads) in [
            (1, 1, 1),
            (64, 256, 2),
            (1 << 22, 1024, 2),
            (3, 1, 5),
            (1000, 32, 16),
        ] {
            for cost in [Cost::Even { min_lanes: 8192 }, Cost::Uneven] {
                let per = blocks_per_task(blocks, lanes, threads, cost);
                assert!(per >= 1);
                assert!(blocks.div_ceil(per) * per >= blocks);
            }
        }
        // Uneven: tiny blocks are grouped into tasks of at least 1024 lanes,
        // big grids cut into 64 tasks per thread.
        assert_eq!(blocks_per_task(64, 32, 2, Cost::Uneven), 32);
        assert_eq!(blocks_per_task(64, 256, 2, Cost::Uneven), 4);
        assert_eq!(
            blocks_per_task(1 << 20, 256, 2, Cost::Uneven),
            (1 << 20) / 128
        );
        // Even: at least 8192 lanes, at most 2 tasks per thread, at most
        // 256k lanes per task.
        let even = Cost::interpreted(true);
        assert_eq!(blocks_per_task(64, 256, 2, even), 32);
        assert_eq!(blocks_per_task(1 << 12, 256, 2, even), 1 << 10);
        assert_eq!(blocks_per_task(1 << 16, 256, 2, even), 1 << 10);
        // A block bigger than the cap is still one task.
        assert_eq!(blocks_per_task(4, 1 << 20, 2, even), 1);
    }

    #[test]
    fn compiled_short_kernels_get_bigger_tasks() {
        use jit::Tier;
        // An 8-instruction kernel on the gang tier: 16384 lanes per task,
        // so a 16k launch is one task (run by the launching thread).
        let short = Cost::compiled(true, Tier::Gang, 8);
        assert_eq!(short, Cost::Even { min_lanes: 16384 });
        assert_eq!(blocks_per_task(64, 256, 2, short), 64);
        assert_eq!(blocks_per_task(128, 256, 2, short), 64);
        // Longer kernels: fewer lanes, never fewer than the block engine's.
        assert_eq!(
            Cost::compiled(true, Tier::Gang, 12),
            Cost::Even { min_lanes: 10922 }
        );
        assert_eq!(
            Cost::compiled(true, Tier::Gang, 64),
            Cost::interpreted(true)
        );
        // One lane at a time, or loops: as on the block engine.
        assert_eq!(Cost::compiled(true, Tier::Lane, 8), Cost::interpreted(true));
        assert_eq!(Cost::compiled(false, Tier::Gang, 8), Cost::Uneven);
    }

    #[test]
    fn same_source_gives_same_kernel() {
        let rt = Runtime::builder().threads(1).build().unwrap();
        let src = ".kernel k\n    exit\n";
        let a = rt.compile("a.lasm", src).unwrap();
        let b = rt.compile("b.lasm", src).unwrap();
        assert!(Arc::ptr_eq(a.kernel("k").unwrap(), b.kernel("k").unwrap()));
    }

    #[test]
    fn reconfigure_keeps_buffers() {
        let rt = Runtime::builder().threads(1).build().unwrap();
        let id = rt.alloc_from(&[1, 2, 3]).unwrap();
        rt.reconfigure(PoolConfig {
            threads: Some(3),
            ..PoolConfig::default()
        })
        .unwrap();
        assert_eq!(rt.threads(), 3);
        assert_eq!(rt.read(id).unwrap(), vec![1, 2, 3]);
    }
}
