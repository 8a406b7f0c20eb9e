//! The JIT engine: kernels compiled to machine code with Cranelift.
//!
//! A kernel is compiled once per block shape (and whether it must count
//! steps), on its first launch, and the code is kept beside the kernel
//! (`cache`). A compiled kernel runs a range of blocks per call, each lane
//! from barrier to barrier in machine registers (`codegen`); the Rust side
//! (`frame`) gives it the launch and takes back its faults.
//!
//! A launch need not wait for the compilation ([`JitLaunch::start`]):
//! past its wait the kernel goes on compiling on the background compiler
//! thread (one per process, `cache::compiler`, fed in launch order, one-lane
//! variants first), and the launch's pool tasks run their blocks on the
//! block engine until the code is ready, then on it ([`Warmup`]). A kernel
//! whose lanes may wait apart and that the gang tier takes gets its
//! one-lane code first (several times quicker to compile there), which runs
//! the launches until the gang code is ready (`KernelCache::start`).
//! Blocks are independent (what
//! one lane may see of another block's writes is the same on every engine,
//! docs/LANGUAGE.md section 4), so mixing engines between tasks changes no
//! result. Concurrent first launches of one variant compile it once: the
//! others wait for it (`cache::Build`).
//!
//! Files, as wasmtime splits its Cranelift glue: `rename` (one register
//! per web, so a reused register is analysed one value at a time; the JIT
//! compiles and runs the renamed kernel), `analysis` (basic
//! blocks, register forms, liveness, what crosses a barrier), `shape`
//! (uniform, affine or varying across a gang; value ranges), `blockwide`
//! (the bounds checks and exits an element-wise kernel tests once per
//! block instead of once per gang), `codegen`
//! (the function's shape and control flow in `mod.rs`, one file per
//! instruction family: `alu.rs`, `memory.rs`, operands in `values.rs`),
//! `cache` (compiled variants, freed with their kernel), `frame` (the
//! runtime glue: buffers, faults, helpers, the exact path near the step
//! limit).
//!
//! # Fallback
//!
//! When the JIT cannot run a launch (Cranelift does not support the CPU, the
//! OS refuses executable memory, the kernel is longer than
//! [`MAX_INSTRUCTIONS`], or compilation fails) [`JitLaunch::new`] says why,
//! and the runtime runs the launch on the block engine instead: never an
//! error. The reason is kept with the kernel, so it is found (and logged)
//! once.
//!
//! # Generated code and memory
//!
//! The soundness scheme of [`crate::memory`] holds with one addition.
//! Generated code reaches a global buffer through the address of its words
//! and does plain loads and stores of 1, 2, 4 or 8 bytes, each at an
//! address the code has checked to be inside the buffer and aligned to its
//! size; the gang tier also moves four 4-byte (or two pairs of 8-byte)
//! consecutive elements with one 16-byte access, after checking the whole
//! run. On the targets Cranelift supports (x86-64, aarch64) an aligned
//! access of up to 8 bytes is single-copy atomic, and an aligned element
//! never crosses a cache line, so each element of a vector access is
//! written or read as a unit too: these accesses behave as the relaxed
//! atomic accesses of the interpreters do: a racing store of the same size
//! leaves one of the stored values, never a mix of bytes, and a narrow
//! store never disturbs its neighbours (docs/LANGUAGE.md section 4). The Rust compiler never sees these
//! accesses (they are machine code behind a function pointer), so they
//! cannot be data races in the Rust sense; Rust code touches the same words
//! only atomically, or with plain reads while a buffer is frozen, and a
//! launch on the JIT registers every buffer it may write as a writer
//! (`BufferAccess`), so it never writes a frozen buffer. Atomics are the
//! machine's read-modify-write instructions on the element itself (4 or
//! 8 bytes, checked inside the memory and aligned; Cranelift's
//! `atomic_rmw` and `atomic_cas`, sequentially consistent): `lock xadd`
//! and `xchg` on x86-64, compare-and-swap loops for integer `min`/`max`,
//! for `cas`, and for float `add`/`min`/`max`, whose new value follows the
//! language's NaN and signed-zero rules as `add`/`min`/`max` do. The
//! interpreters' atomics are compare-and-swap loops on the 8-byte word
//! that holds the element (`update_at`), and both may update one word at
//! once (the blocks of a launch that switches to compiled code while it
//! runs, the interpreted hand-overs): each is a single-copy atomic
//! read-modify-write of its own bytes, and a compare-and-swap of the word
//! fails and retries when any of its bytes changed, so neither loses the
//! other's update.
//! Shared memory belongs to the worker running the block, as for the other
//! engines. A launch's writes are visible to the host when it returns,
//! through the scheduler's synchronization.
//!
//! Cranelift may merge plain loads of the same address when nothing it can
//! see stores in between (no store, no call): a lane polling a word with
//! plain loads may never see another block's store (docs/LANGUAGE.md
//! section 4 tells users to poll with `atom`). The launch's stop flag is
//! read with an atomic load for that reason, so a loop that stores nothing
//! still sees it.

pub(crate) mod analysis;
mod blockwide;
mod cache;
mod codegen;
mod frame;
mod loops;
mod rename;
mod shape;

use std::ops::Range;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use cache::{Build, Compiled, KernelCache, Key, Made, Started};
pub use cache::{MAX_INSTRUCTIONS, Tier};
use frame::{BufferRef, Frame, Host, status};

use crate::engine::{BufferAccess, LaunchSpec};
use crate::kernel::{Kernel, NUM_REGS};
use crate::launch::{Fault, LaunchError};
use crate::memory::SharedMemory;

/// One launch on the JIT, shared by the workers that run its blocks.
pub struct JitLaunch<'a> {
    /// The launch with the kernel the JIT runs (registers renamed).
    spec: LaunchSpec<'a>,
    /// Borrowed from the kernel's cache (no reference count per launch).
    compiled: &'a Compiled,
    buffers: BufferRefs,
    loops: bool,
    compiled_now: bool,
    /// Hand-overs always run on the interpreter
    /// ([`JitLaunch::interpreting_handovers`]).
    interpret_handovers: bool,
    /// Steps run on the interpreter for handed-over gangs
    /// (`frame::general`).
    interpreted: AtomicU64,
    _access: BufferAccess<'a>,
}

/// The launch's buffers as generated code sees them (inline for up to
/// eight: no heap allocation per launch). Frames point into it while
/// the launch is borrowed, so it does not move under them.
struct BufferRefs(smallvec::SmallVec<[BufferRef; 8]>);

// SAFETY: the pointers are the base addresses of the launch's buffers,
// which `LaunchSpec::args` keeps alive for the launch; every thread may
// access buffer words (they are atomics: see the module docs), and the
// vector itself is only read after it is built.
unsafe impl Send for BufferRefs {}
// SAFETY: as above.
unsafe impl Sync for BufferRefs {}

impl std::fmt::Debug for JitLaunch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitLaunch")
            .field("kernel", &self.spec.kernel.name)
            .field("compile_time", &self.compiled.compile_time)
            .finish()
    }
}

/// Why a launch does not run on the JIT (it runs on the block engine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    /// What ruled the JIT out.
    pub reason: Arc<str>,
    /// This launch found out first (later launches of the kernel with the
    /// same shape get the same answer without trying again): log it once.
    pub first: bool,
}

impl Unavailable {
    /// Says on standard error, for the launch that found out first, that
    /// kernel `kernel` runs on the pool engine, and why.
    pub fn log_once(&self, kernel: &str) {
        if self.first {
            eprintln!(
                "lanes: kernel `{kernel}` runs on the pool engine: the JIT cannot compile it ({})",
                self.reason
            );
        }
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl<'a> JitLaunch<'a> {
    /// Prepares a launch: compiles the kernel for this block shape on its
    /// first launch (or finds the code), and registers the buffers it
    /// writes (see [`BufferAccess`]).
    pub fn new(spec: &'a LaunchSpec<'a>) -> Result<JitLaunch<'a>, Unavailable> {
        JitLaunch::with_tier(spec, env_tier())
    }

    /// [`JitLaunch::new`] on tier `tier` where the kernel allows it (the
    /// one-lane tier allows every kernel; `None` picks the better tier).
    /// For tests and experiments: the differential suites run both.
    pub fn with_tier(
        spec: &'a LaunchSpec<'a>,
        tier: Option<Tier>,
    ) -> Result<JitLaunch<'a>, Unavailable> {
        let (cache, key) = cache_and_key(spec, tier)?;
        let (made, first) = cache.variant(spec.kernel, key);
        JitLaunch::from_made(spec, cache, made, first)
    }

    /// [`JitLaunch::new`] without waiting more than `wait` for the
    /// compilation: a kernel not compiled by then goes on compiling on the
    /// background compiler thread, and the launch starts its blocks on the
    /// block engine, each of its pool tasks switching to the compiled code
    /// once it is ready ([`Warmup::launch`]); the wait ends as soon as the
    /// one-lane code of a kernel that starts on it is ready. `kernel` is
    /// `spec`'s kernel (kept alive by the compiler thread while it works).
    pub fn start(
        spec: &'a LaunchSpec<'a>,
        kernel: &Arc<Kernel>,
        wait: Duration,
    ) -> Result<Start<'a>, Unavailable> {
        debug_assert!(std::ptr::eq(spec.kernel, &**kernel));
        if wait == Duration::MAX {
            // Compiled on this thread; the compiler thread makes only the
            // general part, if the code has one, for later launches.
            let launch = JitLaunch::new(spec)?;
            if launch.compiled.general_code().is_none()
                && let Ok((cache, key)) = cache_and_key(spec, env_tier())
            {
                cache.queue_general(kernel, key);
            }
            return Ok(Start::Ready(launch));
        }
        // The wait counts from here: the kernel's analysis (on its first
        // launch) is part of it. The clock is read only when the code may
        // not be ready.
        let begun = (!KernelCache::of(kernel).analysed()).then(Instant::now);
        let (cache, key) = cache_and_key(spec, env_tier())?;
        let deadline = || begun.unwrap_or_else(Instant::now).checked_add(wait);
        match cache.start(kernel, key, deadline) {
            Started::Ready(made, first) => {
                JitLaunch::from_made(spec, cache, made, first).map(Start::Ready)
            }
            Started::Compiling(build, quick) => Ok(Start::Compiling(Warmup {
                spec,
                cache,
                build,
                quick,
                launch: OnceLock::new(),
            })),
        }
    }

    /// The launch on a compiled variant (`made`), or why there is none.
    fn from_made(
        spec: &'a LaunchSpec<'a>,
        cache: &'a KernelCache,
        made: &'a Made,
        first: bool,
    ) -> Result<JitLaunch<'a>, Unavailable> {
        let compiled = made.as_deref().map_err(|reason| Unavailable {
            reason: reason.clone(),
            first,
        })?;
        // A general part that could not be compiled (a bug of lanes: it is
        // the whole kernel, made by the translation that made the hot
        // part): the launches that needed it ran their handed-over gangs on
        // the interpreter (`frame::general`); later ones run on the block
        // engine.
        if let Some(general) = &compiled.general
            && let Some(Err(reason)) = general.get()
        {
            return Err(Unavailable {
                reason: Arc::from(format!("its general part could not be compiled: {reason}")),
                first: general.first_report(),
            });
        }
        let buffers = BufferRefs(
            spec.args
                .buffers
                .iter()
                .map(|b| BufferRef {
                    ptr: b.base_ptr(),
                    len: b.len() as u64,
                })
                .collect(),
        );
        Ok(JitLaunch {
            spec: LaunchSpec {
                kernel: cache.kernel(spec.kernel),
                ..*spec
            },
            compiled,
            buffers,
            loops: cache.analysis(spec.kernel).loops,
            compiled_now: first,
            interpret_handovers: false,
            interpreted: AtomicU64::new(0),
            _access: BufferAccess::acquire(spec, false),
        })
    }

    /// For tests and experiments: the launch runs the hot part of a kernel
    /// compiled in two (see `codegen::gang::Part`) even once its general
    /// part is compiled, and every gang it hands over runs to its end on
    /// the reference interpreter, as it does while the general part is
    /// compiling in the background. Without effect on other code.
    pub fn interpreting_handovers(mut self) -> Self {
        self.interpret_handovers = true;
        self
    }

    /// The launch's spec.
    pub fn spec(&self) -> &LaunchSpec<'a> {
        &self.spec
    }

    /// The kernel has no backward branch: blocks cost about the same.
    pub fn straight_line(&self) -> bool {
        !self.loops
    }

    /// How the compiled code runs lanes.
    pub fn tier(&self) -> Tier {
        self.compiled.tier
    }

    /// The compile time, when this launch compiled the code (`None` when
    /// it was compiled before).
    pub fn compile_time(&self) -> Option<Duration> {
        self.compiled_now.then_some(self.compiled.compile_time)
    }

    /// The compile time of the code's general part, for the first launch
    /// that asks after it was compiled (by this launch, by another, or by
    /// the background compiler); `None` for the others, and without a
    /// general part. Compiles nothing: see [`LaunchStats::general_compile_time`].
    ///
    /// [`LaunchStats::general_compile_time`]: crate::LaunchStats::general_compile_time
    pub fn general_compile_report(&self) -> Option<Duration> {
        let general = self.compiled.general.as_ref()?;
        match general.get()? {
            Ok(g) if general.first_report() => Some(g.compile_time),
            _ => None,
        }
    }

    /// The compile time of the code's general part, compiled now if it is
    /// not yet (or waited for, if the background compiler is at it), when
    /// the code has one: a barrier-free gang-tier kernel with a full version is
    /// compiled in two parts, the hot one first (what
    /// [`JitLaunch::compile_time`] reports) and the general one, which
    /// runs what leaves the full version (a partial gang, a block that
    /// fails its checks, lanes that part), when first needed or on the
    /// background compiler after the hot one. `None` without a general
    /// part, or when it cannot be compiled.
    pub fn general_compile_time(&self) -> Option<Duration> {
        let general = self.compiled.general.as_ref()?;
        match general.get_or_compile(self.spec.kernel) {
            Ok(g) => Some(g.compile_time),
            Err(_) => None,
        }
    }
}

/// Whether a first launch of `spec`'s kernel that does not wait for the
/// JIT ([`JitLaunch::start`]) runs one-lane code while the gang code
/// compiles: the JIT's choice is the gang tier and the kernel's lanes may
/// wait apart (barriers, divergent branches). Its first code is then the
/// one-lane variant; for reports (`examples/jit_compile_times.rs`).
pub fn starts_on_one_lane(spec: &LaunchSpec<'_>) -> bool {
    cache_and_key(spec, env_tier()).is_ok_and(|(cache, key)| cache.has_quick(spec.kernel, key))
}

/// The tier asked for in `LANES_JIT_TIER=lane|gang` (docs/DEVELOPMENT.md),
/// read once per process (every launch asks: `getenv` took 0.5% of a
/// 16k-element launch).
fn env_tier() -> Option<Tier> {
    static TIER: std::sync::OnceLock<Option<Tier>> = std::sync::OnceLock::new();
    *TIER.get_or_init(|| match std::env::var("LANES_JIT_TIER").as_deref() {
        Ok("lane") => Some(Tier::Lane),
        Ok("gang") => Some(Tier::Gang),
        _ => None,
    })
}

/// The JIT's cache of `spec`'s kernel and the key of the variant the
/// launch needs, after checking that the arguments fit the kernel.
fn cache_and_key<'a>(
    spec: &LaunchSpec<'a>,
    tier: Option<Tier>,
) -> Result<(&'a KernelCache, Key), Unavailable> {
    let kernel = spec.kernel;
    if spec.args.buffers.len() != kernel.buffer_slots
        || spec.args.scalars.len() != kernel.scalar_slots
    {
        return Err(Unavailable {
            reason: Arc::from(format!(
                "the launch binds {} buffers and {} scalars, the kernel declares {} and {}",
                spec.args.buffers.len(),
                spec.args.scalars.len(),
                kernel.buffer_slots,
                kernel.scalar_slots
            )),
            first: true,
        });
    }
    let cache = KernelCache::of(kernel);
    if kernel.instrs.len() > MAX_INSTRUCTIONS {
        // Refused before the kernel is analysed (at once: no launch waits).
        return Err(Unavailable {
            reason: Arc::from(format!(
                "{} instructions (the JIT compiles at most {MAX_INSTRUCTIONS})",
                kernel.instrs.len()
            )),
            first: cache.first_refusal(),
        });
    }
    let an = cache.analysis(kernel);
    let key = Key {
        block: spec.block,
        count_steps: codegen::counts_steps(an, spec.max_steps),
        gid32: shape::gid_fits_u32(spec.grid, spec.block),
        tier,
    };
    Ok((cache, key))
}

/// A launch on the JIT: ready to run, or still waiting for its code.
#[derive(Debug)]
pub enum Start<'a> {
    /// The code is ready.
    Ready(JitLaunch<'a>),
    /// The kernel is compiling on the background compiler thread.
    Compiling(Warmup<'a>),
}

/// A launch whose kernel was still compiling when it started: its pool
/// tasks run on the block engine until the code is ready, then on the
/// JIT ([`Warmup::launch`]).
pub struct Warmup<'a> {
    spec: &'a LaunchSpec<'a>,
    cache: &'a KernelCache,
    build: &'a Build,
    /// The one-lane variant, compiling too, that may be ready first.
    quick: Option<&'a Build>,
    /// Made once code is ready (`None`: it could not be compiled); the
    /// launch stays on the code it found first.
    launch: OnceLock<Option<JitLaunch<'a>>>,
}

impl std::fmt::Debug for Warmup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warmup")
            .field("kernel", &self.spec.kernel.name)
            .field("ready", &self.build.get().is_some())
            .finish()
    }
}

impl<'a> Warmup<'a> {
    /// The launch on compiled code, once it is ready; `None` while the
    /// kernel compiles, and for good if it cannot be compiled (the first
    /// launch to learn that logs why, as [`JitLaunch::new`]'s callers do).
    pub fn launch(&self) -> Option<&JitLaunch<'a>> {
        let (build, made) = match (self.build.get(), self.quick) {
            (Some(made), _) => (self.build, made),
            (None, Some(q)) => match q.get() {
                Some(made @ Ok(_)) => (q, made),
                _ => return None,
            },
            (None, None) => return None,
        };
        self.launch
            .get_or_init(|| {
                let first = build.first_report();
                match JitLaunch::from_made(self.spec, self.cache, made, first) {
                    Ok(l) => Some(l),
                    Err(why) => {
                        why.log_once(&self.spec.kernel.name);
                        None
                    }
                }
            })
            .as_ref()
    }

    /// The kernel was found not compilable while the launch ran.
    pub fn cannot_compile(&self) -> bool {
        matches!(self.launch.get(), Some(None))
            || self.ran().is_none() && matches!(self.build.get(), Some(Err(_)))
    }

    /// The launch on compiled code, if a task of this launch ran on it.
    pub fn ran(&self) -> Option<&JitLaunch<'a>> {
        self.launch.get()?.as_ref()
    }
}

/// A worker's reusable state for running compiled kernels.
#[derive(Debug)]
pub struct JitState {
    shared: SharedMemory,
    spill: Vec<u64>,
    lane_state: Vec<u32>,
    steps: Vec<u64>,
    /// A gang's register files and predicates for the exact path.
    regs: Box<[u64; GANG_REGS]>,
}

/// Words of the exact path's register area: four lanes' registers, then
/// their predicates, then their steps.
const GANG_REGS: usize = frame::GANG * (NUM_REGS + 2);

impl Default for JitState {
    fn default() -> JitState {
        JitState {
            shared: SharedMemory::default(),
            spill: Vec::new(),
            lane_state: Vec::new(),
            steps: Vec::new(),
            regs: Box::new([0; GANG_REGS]),
        }
    }
}

impl JitState {
    /// Fresh state; buffers grow to fit the first launch.
    pub fn new() -> JitState {
        JitState::default()
    }

    /// Runs blocks `blocks` (linear indices) of `launch`. Returns early,
    /// without an error, once the launch's stop flag is set (the code
    /// checks it before each block and at every backward branch), recording
    /// the blocks it did not finish; sets the flag when a lane faults, so a
    /// fault stops the other workers' blocks too.
    pub fn run_blocks(
        &mut self,
        launch: &JitLaunch<'_>,
        blocks: Range<u64>,
    ) -> Result<(), LaunchError> {
        let spec = &launch.spec;
        let stop = spec.stop;
        if blocks.is_empty() {
            return Ok(());
        }
        if stop.is_set() {
            stop.record_unfinished(blocks);
            return Ok(());
        }
        let lanes = spec.lanes_per_block();
        self.shared.reset(spec.kernel.shared_bytes as usize);
        self.spill.resize(launch.compiled.spill_words, 0);
        self.lane_state.resize(lanes, 0);
        self.steps.resize(lanes, 0);
        let mut host = Host {
            spec,
            shared: &self.shared,
            fault: None,
            internal: None,
            compiled: launch.compiled,
            interpret_all: launch.interpret_handovers,
            interpreted: &launch.interpreted,
        };
        let mut frame = Frame {
            first_block: blocks.start,
            end_block: blocks.end,
            grid: [spec.grid.x, spec.grid.y, spec.grid.z].map(u64::from),
            // Budgets beyond i64::MAX are unreachable; the bound keeps
            // `steps + block length` from overflowing.
            max_steps: spec.max_steps.min(i64::MAX as u64),
            stop: stop.as_ptr(),
            buffers: launch.buffers.0.as_ptr(),
            scalars: spec.args.scalars.as_ptr(),
            shared: self.shared.base_ptr(),
            spill: self.spill.as_mut_ptr(),
            lane_state: self.lane_state.as_mut_ptr(),
            steps: self.steps.as_mut_ptr(),
            regs: self.regs.as_mut_ptr(),
            host: (&mut host as *mut Host<'_>).cast(),
            fault_code: 0,
            fault_pc: 0,
            fault_lane: 0,
            fault_block: 0,
            fault_value: 0,
            stopped_block: blocks.end,
        };
        // SAFETY: `entry` was compiled for this kernel and block shape
        // (`JitLaunch::new` looked it up by both) and takes a frame whose
        // pointers it trusts: the buffer table has one entry per buffer
        // slot and the scalars one per scalar slot (checked in
        // `JitLaunch::new`), each buffer's pointer and length describe its
        // words; shared memory holds the kernel's shared bytes; the spill
        // area has the words the code asked for and the lane states and
        // steps one entry per lane (resized above); `regs` holds
        // `GANG_REGS` words; `stop` points to the launch's live stop flag;
        // `host` outlives the call. Generated code checks every kernel
        // access against these lengths before making it.
        //
        // A general part (`Compiled::general_code`) was compiled for the
        // same kernel, block shape and frame layout; entered at `START` it
        // reads no hand-over state (the null pointer).
        let st = unsafe {
            match launch.compiled.general_code() {
                Some(g) if !launch.interpret_handovers => {
                    (g.entry)(&mut frame, std::ptr::null_mut(), frame::START)
                }
                _ => (launch.compiled.entry)(&mut frame),
            }
        };
        let result = match st {
            status::DONE => Ok(()),
            status::STOPPED => {
                stop.record_unfinished(frame.stopped_block.max(blocks.start)..blocks.end);
                Ok(())
            }
            status::FAULT => Err(frame.fault(&mut host)),
            status::BAD_HANDOVER => {
                host.internal = Some("the general part has no such hand-over".to_string());
                Ok(())
            }
            other => {
                host.internal = Some(format!("generated code returned status {other}"));
                Ok(())
            }
        };
        if let Some(message) = host.internal {
            stop.set();
            return Err(LaunchError::Engine(format!(
                "internal error in the JIT running kernel `{}`: {message}",
                spec.kernel.name
            )));
        }
        result.map_err(|f: Box<Fault>| {
            stop.set();
            LaunchError::Fault(f)
        })
    }
}

/// Runs a whole launch on the calling thread.
pub fn run(spec: &LaunchSpec<'_>) -> Result<(), LaunchError> {
    run_on_tier(spec, None)
}

/// Runs a whole launch on the calling thread on tier `tier` where the
/// kernel allows it (see [`JitLaunch::with_tier`]); returns the tier that
/// ran.
pub fn run_on_tier(spec: &LaunchSpec<'_>, tier: Option<Tier>) -> Result<(), LaunchError> {
    let launch =
        JitLaunch::with_tier(spec, tier).map_err(|e| LaunchError::Engine(e.to_string()))?;
    JitState::new().run_blocks(&launch, 0..spec.block_count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::reference;
    use crate::launch::{BoundArgs, Dim3, Fault};
    use crate::memory::Buffer;

    /// The buffers after `src` on the reference engine, the gang tier and
    /// the one-lane tier.
    fn three(
        src: &str,
        grid: Dim3,
        block: Dim3,
        bufs: &[Vec<u8>],
        scalars: &[u64],
    ) -> [Vec<Vec<u8>>; 3] {
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        [0, 1, 2].map(|e| {
            let buffers: Vec<_> = bufs
                .iter()
                .map(|b| Arc::new(Buffer::from_bytes(b).unwrap()))
                .collect();
            let args = BoundArgs {
                buffers: buffers.clone(),
                scalars: scalars.to_vec(),
            };
            let stop = crate::engine::StopFlag::new();
            let spec = LaunchSpec {
                kernel: k,
                grid,
                block,
                args: &args,
                max_steps: 1 << 20,
                stop: &stop,
            };
            match e {
                0 => reference::run(&spec).map_err(LaunchError::Fault).unwrap(),
                1 => run_on_tier(&spec, Some(Tier::Gang)).unwrap(),
                _ => run_on_tier(&spec, Some(Tier::Lane)).unwrap(),
            }
            buffers.iter().map(|b| b.to_bytes()).collect()
        })
    }

    /// The outcome of `src` (one kernel, one output buffer `x` of 64
    /// bytes) with budget `max_steps` on the reference engine (`None`) or
    /// on a JIT tier: the fault, or the output.
    fn outcome(
        k: &crate::kernel::Kernel,
        block: Dim3,
        max_steps: u64,
        tier: Option<Option<Tier>>,
    ) -> Result<Vec<u8>, Box<Fault>> {
        let x = Arc::new(Buffer::zeroed(8 * block.count() as usize).unwrap());
        let args = BoundArgs {
            buffers: vec![x.clone()],
            scalars: vec![],
        };
        let stop = crate::engine::StopFlag::new();
        let spec = LaunchSpec {
            kernel: k,
            grid: Dim3::x(2),
            block,
            args: &args,
            max_steps,
            stop: &stop,
        };
        let r = match tier {
            None => reference::run(&spec).map_err(LaunchError::Fault),
            Some(t) => run_on_tier(&spec, t),
        };
        match r {
            Ok(()) => Ok(x.to_bytes()),
            Err(LaunchError::Fault(f)) => Err(f),
            Err(e) => panic!("{e}"),
        }
    }

    /// Inputs of a float function: special values, `sweep`'s range
    /// densely, and bit patterns strided over every exponent; `n` of them.
    fn function_inputs<T: Copy>(
        n: usize,
        special: &[T],
        sweep: (f64, f64),
        from_f64: fn(f64) -> T,
        from_step: fn(u64) -> T,
    ) -> Vec<T> {
        let mut v = special.to_vec();
        let dense = (n - v.len()) / 2;
        v.extend(
            (0..dense).map(|i| from_f64(sweep.0 + (sweep.1 - sweep.0) * i as f64 / dense as f64)),
        );
        let rest = n - v.len();
        v.extend((0..rest as u64).map(from_step));
        v
    }

    #[test]
    fn own_functions_give_the_interpreters_bits_on_both_tiers_varying_and_uniform() {
        // The functions lanes computes by its own algorithm
        // (`exec::functions`), their f32 and f64 sweeps, and each one's
        // overflow and underflow edges.
        let (h32, h64) = (
            std::f32::consts::FRAC_1_SQRT_2,
            std::f64::consts::FRAC_1_SQRT_2,
        );
        let log32 = [
            h32,
            f32::from_bits(h32.to_bits() - 1),
            1e-45,
            1.5e-39,
            f32::MIN_POSITIVE,
            -1e-30,
        ];
        let log64 = [
            h64,
            f64::from_bits(h64.to_bits() + 1),
            5e-324,
            1e-310,
            -1e-300,
        ];
        let cases: [Case<'_>; 3] = [
            Case {
                op: "exp",
                sweep32: (-110.0, 92.0),
                edges32: &[
                    88.72283,
                    88.72284,
                    -87.33655,
                    -103.27893,
                    -103.972_08,
                    -104.0,
                    89.0,
                ],
                sweep64: (-750.0, 712.0),
                edges64: &[
                    709.782_712_893_384,
                    709.79,
                    -708.4,
                    -745.133_219_101_941_1,
                    -745.2,
                    -746.0,
                    710.0,
                ],
            },
            Case {
                op: "exp2",
                sweep32: (-155.0, 131.0),
                edges32: &[
                    -149.0, -149.5, -150.0, -151.0, 127.999_99, 128.0, 129.0, 3.0,
                ],
                sweep64: (-1080.0, 1030.0),
                edges64: &[
                    -1074.0, -1074.5, -1075.0, -1076.0, 1023.999, 1024.0, 1025.0, 3.0,
                ],
            },
            Case {
                op: "tanh",
                sweep32: (-12.0, 12.0),
                edges32: &[
                    0.625,
                    -0.625,
                    0.624_999_94,
                    2.441_406e-4,
                    2.441_405_8e-4,
                    44.4,
                    -9.1,
                ],
                sweep64: (-25.0, 25.0),
                edges64: &[
                    0.625,
                    -0.625,
                    0.624_999_999_999_999_9,
                    7.450_580_596_923_828e-9,
                    -7.45e-9,
                    19.1,
                    -22.0,
                ],
            },
        ];
        // The logarithms share their reduction, and so their edges.
        let logs = ["log", "log2"].map(|op| Case {
            op,
            sweep32: (0.0, 4.0),
            edges32: &log32,
            sweep64: (0.0, 4.0),
            edges64: &log64,
        });
        // sin and cos: lanes' own up to the bound, libm's past it (lanes
        // on either side in one gang), near multiples of pi / 2.
        let b32 = crate::exec::functions::trig_bound(false) as f32;
        let b64 = crate::exec::functions::trig_bound(true);
        let trig32 = [
            b32,
            f32::from_bits(b32.to_bits() + 1),
            -b32,
            std::f32::consts::PI,
            std::f32::consts::FRAC_PI_2,
            31415.926,
            2.4e-4,
            1e10,
        ];
        let trig64 = [
            b64,
            f64::from_bits(b64.to_bits() + 1),
            -b64,
            std::f64::consts::PI,
            std::f64::consts::FRAC_PI_2,
            314159.2653589793,
            1.4e-8,
            1e20,
        ];
        let trigs = ["sin", "cos"].map(|op| Case {
            op,
            sweep32: (-40000.0, 40000.0),
            edges32: &trig32,
            sweep64: (-1.2e6, 1.2e6),
            edges64: &trig64,
        });
        for case in cases.iter().chain(&logs).chain(&trigs) {
            on_both_tiers(case);
        }
    }

    /// A float function and its test inputs: sweeps of f32 and f64 values
    /// and edges of each.
    struct Case<'a> {
        op: &'a str,
        sweep32: (f64, f64),
        edges32: &'a [f32],
        sweep64: (f64, f64),
        edges64: &'a [f64],
    }

    /// `op.f32` and `op.f64` over 16384 lanes in blocks of 4: each lane's
    /// own input (a vector on the gang tier), and each block's four inputs
    /// as uniform values; both tiers against the reference engine, bit for
    /// bit.
    fn on_both_tiers(case: &Case<'_>) {
        let Case {
            op,
            sweep32,
            edges32,
            sweep64,
            edges64,
        } = *case;
        const N: usize = 16384;
        let f = f32::from_bits;
        let mut special32 = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            f32::MIN_POSITIVE,
            f(1),
            f(0x8000_0001),
            f(0x7F80_0001),
            f(0xFFC0_0003),
            f(0x7FC0_0000),
        ];
        special32.extend_from_slice(edges32);
        let x32 = function_inputs(
            N,
            &special32,
            sweep32,
            |x| x as f32,
            |i| f32::from_bits((i as u32).wrapping_mul(0x0004_0F0F)),
        );
        let d = f64::from_bits;
        let mut special64 = vec![
            0.0,
            -0.0,
            1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            d(1),
            d(0x8000_0000_0000_0001),
            d(0x7FF0_0000_0000_0001),
            d(0xFFF8_0000_0000_0003),
        ];
        special64.extend_from_slice(edges64);
        let x64 = function_inputs(
            N,
            &special64,
            sweep64,
            |x| x,
            |i| f64::from_bits(i.wrapping_mul(0x0003_FFF0_F0F0_F0F1)),
        );
        let mut src = String::from(
            ".kernel e\n.param x32 buf\n.param o32 buf\n.param x64 buf\n.param o64 buf\n\
             mov.u64 r0, %gid\n shl.u64 r1, r0, 2\n shl.u64 r2, r0, 3\n\
             mov.u64 r4, %ctaid.x\n shl.u64 r5, r4, 4\n shl.u64 r6, r4, 5\n",
        );
        src += &format!(
            " ld.global.f32 r3, [x32 + r1]\n {op}.f32 r3, r3\n st.global.f32 [o32 + r1], r3\n\
             ld.global.f64 r3, [x64 + r2]\n {op}.f64 r3, r3\n st.global.f64 [o64 + r2], r3\n"
        );
        for k in 0..4 {
            src += &format!(
                " ld.global.f32 r7, [x32 + r5 + {a}]\n {op}.f32 r7, r7\n\
                 st.global.f32 [o32 + r5 + {b}], r7\n\
                 ld.global.f64 r7, [x64 + r6 + {c}]\n {op}.f64 r7, r7\n\
                 st.global.f64 [o64 + r6 + {e}], r7\n",
                a = 4 * k,
                b = 4 * N + 4 * k,
                c = 8 * k,
                e = 8 * N + 8 * k,
            );
        }
        let b32: Vec<u8> = x32.iter().flat_map(|x| x.to_le_bytes()).collect();
        let b64: Vec<u8> = x64.iter().flat_map(|x| x.to_le_bytes()).collect();
        let bufs = [b32, vec![0; 8 * N], b64, vec![0; 16 * N]];
        let [want, gang, lane] = three(&src, Dim3::x(N as u32 / 4), Dim3::x(4), &bufs, &[]);
        // The reference engine's own results (`exec::functions`, tested
        // for accuracy there): a lane and its block's uniform copy agree.
        let o32 = &want[1];
        assert_eq!(
            o32[..4 * N],
            o32[4 * N..],
            "{op}.f32: varying against uniform"
        );
        let o64 = &want[3];
        assert_eq!(
            o64[..8 * N],
            o64[8 * N..],
            "{op}.f64: varying against uniform"
        );
        for (tier, got) in [("gang", gang), ("lane", lane)] {
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                let at = w.iter().zip(g).position(|(a, b)| a != b);
                assert!(
                    at.is_none(),
                    "{op}, {tier} tier: buffer {i} differs first at byte {at:?}"
                );
            }
        }
    }

    #[test]
    fn fma_takes_the_pinned_nan_whatever_its_operands_come_from() {
        // x86 has three forms of `fma`, whose NaN orders differ; Cranelift
        // picks one by where the operands come from (a load it can fold
        // into the instruction, a negation). Each operand here straight
        // from a contiguous load, a uniform parameter or a negation, on
        // both tiers, against the reference engine; the lanes' operands
        // NaN in every combination of payloads, and full, cut and
        // single-lane gangs (n = 1021 of 1024 lanes).
        const N: usize = 1024;
        let bodies = [
            "fma.T r9, r2, r3, r4",
            "fma.T r9, alpha, r3, r4",
            "fma.T r9, r2, alpha, r4",
            "fma.T r9, r2, r3, alpha",
            "neg.T r5, r2\n fma.T r9, r5, r3, r4",
            "neg.T r5, r3\n fma.T r9, r2, r5, r4",
            "neg.T r5, r4\n fma.T r9, r2, r3, r5",
            "neg.T r5, r2\n neg.T r6, r3\n fma.T r9, r5, r6, r4",
        ];
        for (ty, size, nans, one, inf) in [
            (
                "f32",
                4usize,
                [0x7F80_0001u64, 0xFFC0_1234, 0x7FA0_0ABC],
                1f32.to_bits() as u64,
                f32::INFINITY.to_bits() as u64,
            ),
            (
                "f64",
                8,
                [
                    0x7FF0_0000_0000_0001,
                    0xFFF8_0000_0000_1234,
                    0x7FF4_0000_0000_0ABC,
                ],
                1f64.to_bits(),
                f64::INFINITY.to_bits(),
            ),
        ] {
            // Lane i: operand j NaN when bit j of i % 8 is set (payloads
            // rotating with i), else 1.0; every 8th group inf * 0 + 1,
            // whose NaN is the default one.
            let mut ops = vec![Vec::new(); 3];
            for i in 0..N {
                for (j, op) in ops.iter_mut().enumerate() {
                    let v = if (i / 8) % 8 == 7 {
                        [inf, 0, one][j]
                    } else if i & (1 << j) != 0 {
                        nans[(i / 8 + j) % 3]
                    } else {
                        one
                    };
                    op.extend_from_slice(&v.to_le_bytes()[..size]);
                }
            }
            let mut src = format!(
                ".kernel f\n.param a buf\n.param b buf\n.param c buf\n.param o buf\n\
                 .param alpha {ty}\n.param n u32\n\
                 mov.u32 r0, %gid\n setp.ge.u32 p0, r0, n\n @p0 exit\n\
                 shl.u64 r1, r0, {}\n",
                size.trailing_zeros()
            );
            for (k, body) in bodies.iter().enumerate() {
                src += &format!(
                    " ld.global.{ty} r2, [a + r1]\n ld.global.{ty} r3, [b + r1]\n\
                     ld.global.{ty} r4, [c + r1]\n {}\n\
                     st.global.{ty} [o + r1 + {}], r9\n",
                    body.replace(".T", &format!(".{ty}")),
                    k * N * size
                );
            }
            let mut bufs = ops;
            bufs.push(vec![0; bodies.len() * N * size]);
            for alpha in [one, nans[2]] {
                let [want, gang, lane] =
                    three(&src, Dim3::x(4), Dim3::x(256), &bufs, &[alpha, 1021]);
                for (tier, got) in [("gang", gang), ("lane", lane)] {
                    for (k, body) in bodies.iter().enumerate() {
                        let part = k * N * size..(k + 1) * N * size;
                        let (w, g) = (&want[3][part.clone()], &got[3][part]);
                        if let Some(at) = w.iter().zip(g).position(|(w, g)| w != g) {
                            let lane = at / size * size..(at / size + 1) * size;
                            panic!(
                                "`{}` ({ty}, alpha {alpha:#x}), {tier} tier: lane {} \
                                 gives {:02x?}, the reference {:02x?}",
                                body.replace('\n', ";"),
                                at / size,
                                &g[lane.clone()],
                                &w[lane]
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_general_part_is_compiled_when_a_launch_first_leaves_the_full_version() {
        let src = ".kernel k\n.param x buf\n.param n u32\n mov.u64 r0, %gid\n\
                   setp.ge.u64 p0, r0, n\n @p0 exit\n shl.u64 r1, r0, 2\n\
                   st.global.u32 [x + r1], 7\n";
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        // Runs the kernel on 64 lanes: whether the general part was
        // compiled after it, and what it stored.
        let run = |n: u64| {
            let x = Arc::new(Buffer::zeroed(4 * 64).unwrap());
            let args = BoundArgs {
                buffers: vec![x.clone()],
                scalars: vec![n],
            };
            let stop = crate::engine::StopFlag::new();
            let spec = LaunchSpec {
                kernel: k,
                grid: Dim3::x(2),
                block: Dim3::x(32),
                args: &args,
                max_steps: 1 << 20,
                stop: &stop,
            };
            let launch = JitLaunch::with_tier(&spec, Some(Tier::Gang)).unwrap();
            JitState::new().run_blocks(&launch, 0..2).unwrap();
            let general = launch.compiled.general.as_ref().expect("a full version");
            let words: Vec<u32> = x
                .to_bytes()
                .chunks(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (general.get().is_some(), words)
        };
        // Every lane stores: the hot part alone runs the launch.
        assert_eq!(run(64), (false, vec![7; 64]), "compiled without need");
        // Lanes 50.. exit: a gang parts, and the general part runs it.
        let want: Vec<u32> = (0..64).map(|i| if i < 50 { 7 } else { 0 }).collect();
        assert_eq!(run(50), (true, want));
        // Compiled, the general part runs launches from their start.
        assert_eq!(run(64), (true, vec![7; 64]));
    }

    #[test]
    fn interpreted_hand_overs_keep_each_lanes_step_count() {
        // Lanes 0..1020 exit at once; the last gang's lanes 1020 and 1021
        // load, 1022 and 1023 do not: that gang leaves the full version at
        // the guarded load, mid-block, and its lanes go on (on the
        // interpreter, or in the general part) into a second block where
        // budgets near their total steps fault at the exact instruction.
        let src = ".kernel k\n.param x buf\n.param n u32\n.param m u32\n\
                   mov.u32 r0, %gid\n setp.lt.u32 p0, r0, n\n setp.lt.u32 p1, r0, m\n\
                   @p1 exit\n shl.u64 r2, r0, 2\n add.u32 r3, r0, 1\n\
                   @p0 ld.global.u32 r3, [x + r2]\n add.u32 r3, r3, 5\n\
                   mul.u32 r3, r3, 3\n bra tail\ntail:\n add.u32 r3, r3, 1\n\
                   xor.u32 r3, r3, r0\n add.u32 r3, r3, 2\n\
                   st.global.u32 [x + r2], r3\n";
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        let run = |max_steps: u64, interpret: Option<bool>| {
            let x = Arc::new(Buffer::from_bytes(&[9u8; 4 * 1024]).unwrap());
            let args = BoundArgs {
                buffers: vec![x.clone()],
                scalars: vec![1022, 1020],
            };
            let stop = crate::engine::StopFlag::new();
            let spec = LaunchSpec {
                kernel: k,
                grid: Dim3::x(4),
                block: Dim3::x(256),
                args: &args,
                max_steps,
                stop: &stop,
            };
            let r = match interpret {
                None => reference::run(&spec).map_err(LaunchError::Fault),
                Some(interpret) => {
                    let mut launch = JitLaunch::with_tier(&spec, Some(Tier::Gang)).unwrap();
                    assert!(launch.compiled.general.is_some(), "compiled in two parts");
                    if interpret {
                        launch = launch.interpreting_handovers();
                    }
                    JitState::new().run_blocks(&launch, 0..4)
                }
            };
            match r {
                Ok(()) => Ok(x.to_bytes()),
                Err(LaunchError::Fault(f)) => Err(f),
                Err(e) => panic!("{e}"),
            }
        };
        let instrs = k.instrs.len() as u64;
        let mut faults = 0;
        for max_steps in 5..=instrs + 2 {
            let want = run(max_steps, None);
            faults += usize::from(want.is_err());
            for interpret in [true, false] {
                assert_eq!(
                    run(max_steps, Some(interpret)),
                    want,
                    "budget {max_steps}, interpreted: {interpret}"
                );
            }
        }
        assert!(faults >= 4, "{faults} budgets fault");
    }

    #[test]
    fn a_launch_that_compiles_on_its_own_thread_queues_the_general_part() {
        let src = ".kernel k\n.param x buf\n mov.u64 r0, %gid\n shl.u64 r0, r0, 2\n\
                   st.global.u32 [x + r0], 1\n";
        let k = crate::compile("t.lasm", src).unwrap().kernels[0].clone();
        let args = BoundArgs {
            buffers: vec![Arc::new(Buffer::zeroed(4 * 64).unwrap())],
            scalars: vec![],
        };
        let stop = crate::engine::StopFlag::new();
        let spec = LaunchSpec {
            kernel: &k,
            grid: Dim3::x(2),
            block: Dim3::x(32),
            args: &args,
            max_steps: 1 << 20,
            stop: &stop,
        };
        let Ok(Start::Ready(launch)) = JitLaunch::start(&spec, &k, Duration::MAX) else {
            panic!("an unbounded wait gets the code");
        };
        assert!(launch.compiled.general.is_some(), "compiled in two parts");
        // No launch needs it; the background compiler makes it anyway.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while launch.compiled.general_code().is_none() {
            assert!(std::time::Instant::now() < deadline, "never compiled");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_zero_uniform_divisor_faults_in_the_lowest_lane_that_divides() {
        // The gang tier checks a uniform divisor once per gang: the fault
        // must still name the lowest lane that runs the division (not the
        // gang's lowest live lane), as lane-by-lane execution would.
        for guard in [
            "setp.ge.u32 p0, r0, 2",
            "and.u32 r2, r0, 1\n setp.eq.u32 p0, r2, 1",
            "setp.ge.u32 p0, r0, 5",
            "setp.lt.u32 p0, r0, 8",
        ] {
            for op in ["rem.u32", "div.u32", "div.i32", "rem.i64"] {
                let src = format!(
                    ".kernel k\n.param x buf\n\
                     mov.u32 r0, %laneid\n mov.u32 r5, 0\n {guard}\n\
                     mov.u32 r1, 7\n @p0 {op} r1, r0, r5\n\
                     mov.u64 r3, %gid\n shl.u64 r3, r3, 3\n st.global.u32 [x + r3], r1\n"
                );
                let p = crate::compile("t.lasm", &src).unwrap();
                let k = &p.kernels[0];
                let want = outcome(k, Dim3::x(8), 1 << 20, None);
                assert!(want.is_err(), "{guard} / {op}: the reference did not fault");
                for tier in [None, Some(Tier::Lane), Some(Tier::Gang)] {
                    let got = outcome(k, Dim3::x(8), 1 << 20, Some(tier));
                    assert_eq!(want, got, "{guard} / {op}, tier {tier:?}");
                }
            }
        }
    }

    #[test]
    fn every_step_budget_around_the_limit_matches_the_reference() {
        // A loop whose trip count differs by lane (lane k runs k + 1
        // rounds), a divergent `if`, and a straight tail; then the same
        // with every lane running 3 rounds. For every budget from 1 to
        // past the longest lane, each tier finishes with the reference's
        // output or faults as it does. One lane at a time, the fault is
        // the reference's exactly (same lane, instruction and step); the
        // gang tier runs lanes in lockstep, so when lanes of a gang reach
        // the limit in different places it may name another of them (as
        // the block engine may; docs/LANGUAGE.md section 7: with several
        // faulting lanes, one of them is reported), and is compared whole
        // only when all lanes run alike.
        // (The last case has no divergent branch at all: the gang tier's
        // lanes never wait, and its exact path is the plain one.)
        for (rounds, alike, branch) in [
            ("r0", false, "@p1 bra skip"),
            ("2", true, "@p1 bra skip"),
            ("2", true, "mov.u32 r4, 0"),
        ] {
            let src = format!(
                ".kernel k\n.param x buf\n\
                 mov.u32 r0, %laneid\n mov.u32 r1, 0\n\
                 l: add.u32 r1, r1, 1\n setp.le.u32 p0, r1, {rounds}\n @p0 bra l\n\
                 and.u32 r2, r0, 1\n setp.eq.u32 p1, r2, {}\n {branch}\n\
                 add.u32 r1, r1, 100\n mul.u32 r1, r1, 3\n\
                 skip: mov.u64 r3, %gid\n shl.u64 r3, r3, 3\n st.global.u32 [x + r3], r1\n",
                if alike { "5" } else { "0" }
            );
            let p = crate::compile("t.lasm", &src).unwrap();
            let k = &p.kernels[0];
            let block = Dim3::x(8);
            for max in 1..48 {
                let want = outcome(k, block, max, None);
                for tier in [None, Some(Tier::Lane), Some(Tier::Gang)] {
                    let got = outcome(k, block, max, Some(tier));
                    match (&want, &got) {
                        // The JIT's own choice for this kernel is the gang
                        // tier (its loop diverges).
                        (Err(w), Err(g)) if tier != Some(Tier::Lane) && !alike => {
                            assert_eq!(w.kind, g.kind, "budget {max}, tier {tier:?}")
                        }
                        _ => assert_eq!(want, got, "budget {max}, tier {tier:?}, {rounds}"),
                    }
                }
            }
        }
    }

    /// Special values of each float type: NaN payloads (quiet and
    /// signalling, both signs), infinities, zeros, numbers.
    fn specials(f64: bool) -> Vec<u64> {
        if f64 {
            [
                0x7FF8_0000_0000_0001u64,
                0xFFF8_0000_0000_1234,
                0x7FF0_0000_0000_0005,
                0xFFF0_0000_0000_0777,
                f64::INFINITY.to_bits(),
                f64::NEG_INFINITY.to_bits(),
                0,
                (-0.0f64).to_bits(),
                1.5f64.to_bits(),
                (-2.25f64).to_bits(),
                f64::MAX.to_bits(),
                1e-310f64.to_bits(),
            ]
            .to_vec()
        } else {
            [
                0x7FC0_0001u32,
                0xFFC0_1234,
                0x7F80_0005,
                0xFF80_0777,
                f32::INFINITY.to_bits(),
                f32::NEG_INFINITY.to_bits(),
                0,
                (-0.0f32).to_bits(),
                1.5f32.to_bits(),
                (-2.25f32).to_bits(),
                f32::MAX.to_bits(),
                1e-40f32.to_bits(),
            ]
            .iter()
            .map(|&b| b as u64)
            .collect()
        }
    }

    #[test]
    fn float_operations_on_special_values_match_the_reference_bit_for_bit() {
        // Every pair (and triple, for fma) of special values, one lane per
        // combination, through every float operation the JIT computes
        // itself (NaN payloads and operand order included).
        for (ty, wide) in [("f32", false), ("f64", true)] {
            let v = specials(wide);
            let n = v.len();
            let size = if wide { 8 } else { 4 };
            let mut a = Vec::new();
            let mut b = Vec::new();
            let mut c = Vec::new();
            for (i, &x) in v.iter().enumerate() {
                for (j, &y) in v.iter().enumerate() {
                    a.push(x);
                    b.push(y);
                    c.push(v[(i + 2 * j + 1) % n]);
                }
            }
            let lanes = a.len();
            let bytes = |xs: &[u64]| -> Vec<u8> {
                xs.iter()
                    .flat_map(|x| x.to_le_bytes()[..size].to_vec())
                    .collect()
            };
            let ops = [
                "add.T r4, r1, r2",
                "sub.T r4, r1, r2",
                "mul.T r4, r1, r2",
                "div.T r4, r1, r2",
                "rem.T r4, r1, r2",
                "min.T r4, r1, r2",
                "max.T r4, r1, r2",
                "fma.T r4, r1, r2, r3",
                "sqrt.T r4, r1",
                "rsqrt.T r4, r1",
                "floor.T r4, r1",
                "ceil.T r4, r1",
                "neg.T r4, r1",
                "abs.T r4, r1",
                "exp.T r4, r1",
                "tanh.T r4, r1",
            ];
            for op in ops {
                let src = format!(
                    ".kernel k\n.param a buf\n.param b buf\n.param c buf\n.param out buf\n.param n u32\n\
                     mov.u32 r0, %gid\n setp.ge.u32 p0, r0, n\n @p0 exit\n mul.u64 r5, r0, {size}\n\
                     ld.global.{ty} r1, [a + r5]\n ld.global.{ty} r2, [b + r5]\n ld.global.{ty} r3, [c + r5]\n\
                     {}\n st.global.{ty} [out + r5], r4\n",
                    op.replace('T', ty)
                );
                let [want, gang, lane] = three(
                    &src,
                    Dim3::x((lanes as u32).div_ceil(32)),
                    Dim3::x(32),
                    &[bytes(&a), bytes(&b), bytes(&c), vec![0; lanes * size]],
                    &[lanes as u64],
                );
                assert_eq!(want[3], gang[3], "{op} on {ty}, gang tier");
                assert_eq!(want[3], lane[3], "{op} on {ty}, one-lane tier");
            }
        }
    }

    /// The tier the JIT picks for a kernel of `ops` in blocks of `block`.
    fn tier_of(src: &str, block: Dim3) -> Tier {
        tier_with_budget(src, block, 1 << 20)
    }

    fn tier_with_budget(src: &str, block: Dim3, max_steps: u64) -> Tier {
        let p = crate::compile("t.lasm", src).unwrap();
        let k = &p.kernels[0];
        let buffers = (0..k.buffer_slots)
            .map(|_| Arc::new(Buffer::zeroed(64).unwrap()))
            .collect();
        let args = BoundArgs {
            buffers,
            scalars: vec![0; k.scalar_slots],
        };
        let stop = crate::engine::StopFlag::new();
        let spec = LaunchSpec {
            kernel: k,
            grid: Dim3::x(1),
            block,
            args: &args,
            max_steps,
            stop: &stop,
        };
        JitLaunch::new(&spec).unwrap().tier()
    }

    #[test]
    fn tiers_are_chosen_by_the_shape_of_the_kernel() {
        let ops = |f: &str| {
            std::fs::read_to_string(format!("{}/src/ops/{f}", env!("CARGO_MANIFEST_DIR"))).unwrap()
        };
        // Element-wise: lanes stay together.
        assert_eq!(tier_of(&ops("vector_add.lasm"), Dim3::x(256)), Tier::Gang);
        // A tree reduction: barriers met in lockstep, a loop that provably
        // ends within the budget.
        let block_sum = ops("block_sum.lasm");
        assert_eq!(tier_of(&block_sum, Dim3::x(256)), Tier::Gang);
        // With a budget it may exceed, steps are counted: one lane at a time.
        assert_eq!(tier_with_budget(&block_sum, Dim3::x(256), 100), Tier::Lane);
        // Lanes that may wait at different barriers: one lane at a time.
        let apart = ".kernel k\n setp.lt.u32 p0, %tid.x, 2\n @p0 bra a\n bar.sync\n exit\n\
                     a:\n bar.sync\n";
        assert_eq!(tier_of(apart, Dim3::x(8)), Tier::Lane);
        // A branch on a value that differs between gangs (%tid.y): one
        // lane at a time.
        let rows = ".kernel k\n setp.eq.u32 p0, %tid.y, 0\n @p0 bra a\n bar.sync\n\
                    a:\n bar.sync\n";
        assert_eq!(tier_of(rows, Dim3::new(4, 2, 1)), Tier::Lane);
        // Escape-time loops of different lengths: lanes that finish wait
        // masked off while the others iterate.
        assert_eq!(tier_of(&ops("mandelbrot.lasm"), Dim3::x(256)), Tier::Gang);
        // Blocks smaller than a gang.
        assert_eq!(tier_of(&ops("vector_add.lasm"), Dim3::x(2)), Tier::Lane);
    }

    #[test]
    fn loads_and_stores() {
        let src = ".kernel k\n.param a buf\n.param b buf\n mov.u64 r0, %gid\n shl.u64 r0, r0, 3\n ld.global.u64 r1, [a + r0]\n add.u64 r1, r1, 1\n st.global.u64 [b + r0], r1\n";
        let a: Vec<u8> = (0..64u8).collect();
        let [want, gang, lane] = three(src, Dim3::x(2), Dim3::x(4), &[a, vec![0; 64]], &[]);
        assert_eq!(want, gang);
        assert_eq!(want, lane);
    }

    #[test]
    fn kernels_whose_lanes_wait_apart_start_on_one_lane_code() {
        let straight = ".kernel k\n.param x buf\n    mov.u32 r0, %gid\n    shl.u64 r1, r0, 2\n    st.global.u32 [x + r1], r0\n";
        let barrier = ".kernel k\n.param x buf\n.shared 4\n    mov.u32 r0, %gid\n    bar.sync\n    shl.u64 r1, r0, 2\n    st.global.u32 [x + r1], r0\n";
        let divergent = ".kernel k\n.param x buf\n    mov.u32 r0, %gid\n    and.u32 r2, r0, 1\n    setp.eq.u32 p0, r2, 0\n    @p0 bra skip\n    add.u32 r0, r0, 7\nskip:\n    shl.u64 r1, r0, 2\n    st.global.u32 [x + r1], r0\n";
        let starts = |src: &str, block: u32| {
            let p = crate::compile("t.lasm", src).unwrap();
            let args = BoundArgs {
                buffers: vec![Arc::new(Buffer::zeroed(4096).unwrap())],
                scalars: vec![],
            };
            let stop = crate::engine::StopFlag::new();
            let spec = LaunchSpec {
                kernel: &p.kernels[0],
                grid: Dim3::x(1),
                block: Dim3::x(block),
                args: &args,
                max_steps: 1 << 20,
                stop: &stop,
            };
            starts_on_one_lane(&spec)
        };
        assert!(!starts(straight, 256));
        assert!(starts(barrier, 256));
        assert!(starts(divergent, 256));
        // A block smaller than a gang runs on the one-lane tier anyway.
        assert!(!starts(barrier, 2));
    }
}
