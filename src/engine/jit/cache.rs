//! Compiled kernels: one Cranelift module per (kernel, block shape, step
//! counting), two for a kernel compiled in two parts (`gang::Part`: the
//! hot part, and the general part when first needed or on the background
//! compiler after it), made on first use, kept beside the kernel (its
//! derived-data slot) and freed with it. The CPU's features are the process's, so they
//! need no key of their own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::FunctionBuilderContext;
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{Linkage, Module, default_libcall_names};

use super::analysis::Analysis;
use super::codegen::{self, Features, Target, Variant, gang};
use super::frame::Frame;
use super::shape::{Facts, Shapes};
use crate::engine::Slot;
use crate::kernel::Kernel;
use crate::launch::Dim3;

/// Kernels longer than this run on the block engine: compile time grows
/// with the program, and such kernels are not what the JIT is for.
pub const MAX_INSTRUCTIONS: usize = 20_000;

/// The entry point of a compiled kernel.
pub(super) type Entry = unsafe extern "C" fn(*mut Frame) -> u32;

/// The entry point of a kernel's general part: the frame, the hand-over
/// state and the hand-over's index (`gang::Part`).
pub(super) type GeneralEntry = unsafe extern "C" fn(*mut Frame, *mut u8, u32) -> u32;

/// One compiled variant of a kernel.
pub(super) struct Compiled {
    pub entry: Entry,
    /// How the code runs lanes.
    pub tier: Tier,
    /// Words of spill area a block needs (what crosses its barriers).
    pub spill_words: usize,
    /// How long translation and code generation took (of the hot part,
    /// when the kernel is compiled in two: see `general`).
    pub compile_time: Duration,
    /// A barrier-free gang-tier kernel with a full version is compiled in two parts
    /// (`gang::Part`): `entry` is the hot one, and this the general one,
    /// compiled when first needed or by the background compiler after
    /// the hot one.
    pub general: Option<General>,
    /// The module owning the code.
    _code: Code,
}

/// A kernel's general part (see [`Compiled::general`]).
pub(super) struct General {
    /// The variant it belongs to.
    key: Key,
    made: OnceLock<Result<GeneralCode, Arc<str>>>,
    /// Handed to the background compiler (at most once).
    queued: AtomicBool,
    /// Its compile time was reported, or its failure logged (by the first
    /// launch that ended after it was compiled or found not compilable).
    reported: AtomicBool,
    /// Where the hot part's hand-overs go on and how their state holds
    /// the gang, for the interpreter that runs a handed-over gang while
    /// the general part is not at hand (`frame::general`).
    pub handovers: gang::Handovers,
}

/// A compiled general part.
pub(super) struct GeneralCode {
    pub entry: GeneralEntry,
    pub compile_time: Duration,
    _code: Code,
}

impl General {
    /// The general part, compiled now on this thread if no one has (waits
    /// for a compilation in progress elsewhere). `kernel` is the one whose
    /// derived data holds this variant.
    pub fn get_or_compile(&self, kernel: &Kernel) -> &Result<GeneralCode, Arc<str>> {
        self.made.get_or_init(|| {
            let cache = KernelCache::of(kernel);
            let made = compile_part(
                cache.kernel(kernel),
                cache.analysis(kernel),
                self.key,
                gang::Part::General,
            )?;
            // SAFETY: the general part has the general signature
            // (`general_signature`), which `GeneralEntry` spells.
            let entry = unsafe { std::mem::transmute::<*const u8, GeneralEntry>(made.code) };
            Ok(GeneralCode {
                entry,
                compile_time: made.time,
                _code: made.module,
            })
        })
    }

    /// The general part if it is compiled.
    pub fn get(&self) -> Option<&Result<GeneralCode, Arc<str>>> {
        self.made.get()
    }

    /// The variant counts steps (the gang's count is its lanes').
    pub fn counts_steps(&self) -> bool {
        self.key.count_steps
    }

    /// The background compiler has it (queued or compiling; or done).
    pub fn queued(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether this caller is the first to report the general part's
    /// outcome, once there is one (its compile time, or why it could not be
    /// compiled).
    pub fn first_report(&self) -> bool {
        self.made.get().is_some()
            && !self.reported.load(Ordering::Relaxed)
            && !self.reported.swap(true, Ordering::Relaxed)
    }
}

impl Compiled {
    /// The general part if it is compiled: it runs whole launches then
    /// (entered at `frame::START`), the hot part only those before.
    pub fn general_code(&self) -> Option<&GeneralCode> {
        self.general.as_ref()?.get()?.as_ref().ok()
    }
}

/// The module owning some generated code; freed on drop.
struct Code(Mutex<Option<JITModule>>);

impl Drop for Code {
    fn drop(&mut self) {
        let module = match self.0.get_mut() {
            Ok(m) => m.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(m) = module {
            // SAFETY: the entry points into the module's code are only
            // called through the `Compiled` (or its `General`) that owns
            // this value, which a launch borrows from the kernel's cache
            // for as long as it runs: being dropped, it has no such
            // borrower left, so no generated code runs or will run.
            unsafe { m.free_memory() }
        }
    }
}

/// How compiled code runs a block's lanes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// One lane at a time, from barrier to barrier.
    Lane,
    /// Four lanes at a time on vectors.
    Gang,
}

/// What makes two launches of one kernel need different code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    pub block: Dim3,
    pub count_steps: bool,
    /// The launch has at most 2^32 lanes (`%gid` fits 32 bits).
    pub gid32: bool,
    /// The tier asked for (`None`: the better one for the kernel).
    pub tier: Option<Tier>,
}

/// A compiled variant, or why it could not be compiled.
pub(super) type Made = Result<Arc<Compiled>, Arc<str>>;

/// One variant of a kernel: compiled by the first launch that needs it,
/// or on the background compiler thread while launches run on the block
/// engine (`Build::start`).
#[derive(Default)]
pub(super) struct Build {
    made: OnceLock<Made>,
    /// Handed to the background compiler (at most once).
    queued: AtomicBool,
    /// The compile time was reported (by the first launch that ran the
    /// code, or learned that it could not be compiled).
    reported: AtomicBool,
    /// Waiters for `made` (`Build::wait_until`).
    lock: Mutex<()>,
    done: Condvar,
    /// The one-lane variant that runs while this one compiles, decided by
    /// the first launch that does not wait for it (`KernelCache::start`).
    quick: OnceLock<Option<(Arc<Build>, Key)>>,
}

impl Build {
    /// The variant, if compiled (or found not compilable).
    pub fn get(&self) -> Option<&Made> {
        self.made.get()
    }

    /// The variant, compiled now on this thread if no one has (waits for a
    /// compilation in progress elsewhere).
    fn get_or_compile(&self, kernel: &Kernel, key: Key) -> &Made {
        if let Some(made) = self.made.get() {
            // Compiled before: no one can be waiting.
            return made;
        }
        let cache = KernelCache::of(kernel);
        let made = self.made.get_or_init(|| {
            compile(cache.kernel(kernel), cache.analysis(kernel), key)
                .map(Arc::new)
                .map_err(Arc::from)
        });
        // Wake launches waiting in `wait_until` (under the lock, so none
        // misses it between its test and its wait).
        drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()));
        self.done.notify_all();
        made
    }

    /// Whether this caller is the first to report the outcome (the launch
    /// that reports the compile time, or logs why there is no code).
    pub fn first_report(&self) -> bool {
        // A load first: after the first launch, no write to a line that
        // every launch of the kernel reads.
        !self.reported.load(Ordering::Relaxed) && !self.reported.swap(true, Ordering::Relaxed)
    }

    /// Starts compiling on the background compiler thread (once), unless
    /// done; compiles on this thread when the compiler thread cannot be
    /// started.
    fn start(self: &Arc<Build>, kernel: &Arc<Kernel>, key: Key) {
        if self.made.get().is_some() || self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let unsent = send(Job {
            kernel: Arc::clone(kernel),
            key,
            build: Arc::clone(self),
            general: false,
        });
        if let Some(job) = unsent {
            job.build.get_or_compile(&job.kernel, key);
        }
    }

    /// Waits for the variant until `deadline` (`None`: for ever).
    fn wait_until(&self, deadline: Option<Instant>) -> Option<&Made> {
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(made) = self.made.get() {
                return Some(made);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return None;
            }
            guard = match self.done.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// A compilation for the background compiler thread.
struct Job {
    /// Kept alive until the variant is compiled.
    kernel: Arc<Kernel>,
    key: Key,
    build: Arc<Build>,
    /// The variant's general part (its hot part is compiled).
    general: bool,
}

/// Hands `job` to the background compiler thread; gives it back when
/// the thread cannot take it.
fn send(job: Job) -> Option<Job> {
    match compiler() {
        Some(tx) => tx.send(job).err().map(|e| e.0),
        None => Some(job),
    }
}

/// The background compiler thread's queue, started on first use (`None`
/// when the thread cannot be started).
fn compiler() -> Option<&'static Sender<Job>> {
    static COMPILER: OnceLock<Option<Sender<Job>>> = OnceLock::new();
    COMPILER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("lanes-jit".into())
                .spawn(move || {
                    let mut pending: Vec<Job> = Vec::new();
                    loop {
                        if pending.is_empty() {
                            match rx.recv() {
                                Ok(job) => pending.push(job),
                                Err(_) => return,
                            }
                        }
                        pending.extend(rx.try_iter());
                        // One-lane variants first: launches wait for them
                        // (`KernelCache::start`); the gang variants that
                        // replace them only make later launches faster.
                        let at = pending
                            .iter()
                            .position(|j| j.key.tier == Some(Tier::Lane))
                            .unwrap_or(0);
                        let job = pending.remove(at);
                        if job.general {
                            if let Some(Ok(c)) = job.build.get()
                                && let Some(g) = &c.general
                            {
                                let _ = g.get_or_compile(&job.kernel);
                            }
                            continue;
                        }
                        job.build.get_or_compile(&job.kernel, job.key);
                        // A hot part: its general part next, after what
                        // launches wait for.
                        if let Some(Ok(c)) = job.build.get()
                            && let Some(g) = &c.general
                            && !g.queued.swap(true, Ordering::AcqRel)
                        {
                            pending.push(Job {
                                general: true,
                                ..job
                            });
                        }
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Where a launch stands with its variant (`KernelCache::start`).
pub(super) enum Started<'c> {
    /// Compiled (or found not compilable), and whether this caller is the
    /// first to report it. Borrowed from the cache, which keeps every
    /// variant as long as the kernel lives: a launch takes no reference
    /// count.
    Ready(&'c Made, bool),
    /// Still compiling on the background thread after the wait; with the
    /// one-lane variant that may run meanwhile ([`KernelCache::start`]).
    Compiling(&'c Build, Option<&'c Build>),
}

/// A kernel's variants: slots filled in order, each set once, so a launch
/// finds its variant with plain loads (no lock, no reference count), and
/// a further node when they are full (a kernel launched with more than
/// `VARIANT_SLOTS` block shapes).
#[derive(Default)]
struct Variants {
    slots: [OnceLock<(Key, Arc<Build>)>; VARIANT_SLOTS],
    more: OnceLock<Box<Variants>>,
}

/// Variants per node of [`Variants`].
const VARIANT_SLOTS: usize = 8;

impl Variants {
    fn find(&self, key: Key) -> Option<&Arc<Build>> {
        let mut node = self;
        loop {
            for slot in &node.slots {
                match slot.get() {
                    Some((k, b)) if *k == key => return Some(b),
                    Some(_) => {}
                    // Filled in order: the rest are empty too.
                    None => return None,
                }
            }
            node = node.more.get()?;
        }
    }

    /// Adds variant `key` in the first empty slot (the caller holds the
    /// cache's `adding` lock, so no one else fills it).
    fn add(&self, key: Key) -> &Arc<Build> {
        let mut node = self;
        loop {
            if let Some(slot) = node.slots.iter().find(|s| s.get().is_none()) {
                let (_, b) = slot.get_or_init(|| (key, Arc::new(Build::default())));
                return b;
            }
            node = node.more.get_or_init(Box::default);
        }
    }
}

/// The JIT's derived data of one kernel.
#[derive(Default)]
pub(super) struct KernelCache {
    /// The kernel the JIT compiles and runs: the user's with its registers
    /// renamed (`rename`).
    renamed: OnceLock<(Kernel, Analysis)>,
    /// The variants, read by every launch without a lock.
    variants: Variants,
    /// Held while a variant is added (they are added in order).
    adding: Mutex<()>,
    /// The kernel was refused before compiling (too long), and said so.
    refused: AtomicBool,
}

impl KernelCache {
    /// The JIT's derived data of `kernel` (made on first use).
    pub fn of(kernel: &Kernel) -> &KernelCache {
        kernel
            .derived
            .get_or_init(Slot::Jit as usize, KernelCache::default)
            .expect("the JIT owns its slot")
    }

    /// Whether `kernel` was analysed (its first launch does it).
    pub fn analysed(&self) -> bool {
        self.renamed.get().is_some()
    }

    /// The renamed kernel of `kernel` and its analysis.
    fn renamed(&self, kernel: &Kernel) -> &(Kernel, Analysis) {
        self.renamed.get_or_init(|| {
            let k = super::rename::rename(kernel, &Analysis::new(kernel));
            let an = Analysis::new(&k);
            (k, an)
        })
    }

    /// The kernel the JIT runs in place of `kernel`: the same program with
    /// its registers renamed.
    pub fn kernel(&self, kernel: &Kernel) -> &Kernel {
        &self.renamed(kernel).0
    }

    /// The analysis of [`KernelCache::kernel`].
    pub fn analysis(&self, kernel: &Kernel) -> &Analysis {
        &self.renamed(kernel).1
    }

    /// Whether this caller is the first to learn that the kernel is
    /// refused before compiling (and logs it).
    pub fn first_refusal(&self) -> bool {
        !self.refused.swap(true, Ordering::Relaxed)
    }

    /// Has the background compiler make the general part of variant
    /// `key` (compiled), if it has one and no one asked before; `kernel`
    /// is the one whose derived data this cache is.
    pub fn queue_general(&self, kernel: &Arc<Kernel>, key: Key) {
        let Some(build) = self.variants.find(key) else {
            return;
        };
        let Some(Ok(c)) = build.get() else {
            return;
        };
        let Some(g) = &c.general else {
            return;
        };
        if g.get().is_some() || g.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        // Without the compiler thread, the first hand-over compiles it
        // (its gang is not left to the interpreter: `General::queued`).
        let unsent = send(Job {
            kernel: Arc::clone(kernel),
            key,
            build: Arc::clone(build),
            general: true,
        });
        if unsent.is_some() {
            g.queued.store(false, Ordering::Release);
        }
    }

    /// The build of variant `key` (added if new).
    fn build(&self, key: Key) -> &Arc<Build> {
        if let Some(b) = self.variants.find(key) {
            return b;
        }
        let _adding = self.adding.lock().unwrap_or_else(PoisonError::into_inner);
        // Another launch may have added it meanwhile.
        if let Some(b) = self.variants.find(key) {
            return b;
        }
        self.variants.add(key)
    }

    /// The variant for `key`, compiled now on this thread if it is new (or
    /// waited for, if it is compiling elsewhere), and whether this caller
    /// reports it (the first to get it). A variant that could not be
    /// compiled stays an error: the kernel then runs on the block engine.
    /// `kernel` is the one whose derived data this cache is.
    pub fn variant(&self, kernel: &Kernel, key: Key) -> (&Made, bool) {
        let build = self.build(key);
        let made = build.get_or_compile(kernel, key);
        (made, build.first_report())
    }

    /// The variant for `key` if it is ready by `deadline` (`None`: wait
    /// for it); otherwise it goes on compiling on the background compiler
    /// thread (started now if it is new) and the caller runs without it.
    /// `kernel` is the one whose derived data this cache is.
    ///
    /// Tiers: when the JIT's choice for `key` is the gang tier, the
    /// one-lane variant is compiled first (a fraction of the time: the
    /// largest op kernels take 1.5 ms on the one-lane tier, up to 10 ms on
    /// the gang tier) and runs the launches that come before the gang
    /// code is ready; the wait ends when it is.
    ///
    /// `deadline` is asked only when the variant is not ready (a clock
    /// read the launches of compiled code do without).
    pub fn start(
        &self,
        kernel: &Arc<Kernel>,
        key: Key,
        deadline: impl FnOnce() -> Option<Instant>,
    ) -> Started<'_> {
        let build = self.build(key);
        if let Some(made) = build.get() {
            return Started::Ready(made, build.first_report());
        }
        let deadline = deadline();
        let quick = build.quick.get_or_init(|| self.quick(kernel, key)).clone();
        if let Some((q, qkey)) = &quick {
            q.start(kernel, *qkey);
        }
        build.start(kernel, key);
        quick
            .as_ref()
            .map_or(build, |(q, _)| q)
            .wait_until(deadline);
        if let Some(made) = build.get() {
            return Started::Ready(made, build.first_report());
        }
        // The one-lane variant lives in `build` (set once), as long as it.
        let quick = build
            .quick
            .get()
            .and_then(Option::as_ref)
            .map(|(q, _)| &**q);
        if let Some(q) = quick {
            if let Some(made @ Ok(_)) = q.get() {
                return Started::Ready(made, q.first_report());
            }
        }
        // A one-lane variant that could not be compiled is no help.
        Started::Compiling(build, quick.filter(|q| q.get().is_none()))
    }

    /// Whether launches of `key` run a one-lane variant while its code
    /// compiles ([`KernelCache::start`]).
    pub fn has_quick(&self, kernel: &Kernel, key: Key) -> bool {
        self.quick(kernel, key).is_some()
    }

    /// The one-lane variant (and its key) a launch of `key` runs while the
    /// gang tier's code compiles: `None` when `key` asks for a tier or the
    /// JIT's choice is the one-lane tier anyway.
    fn quick(&self, kernel: &Kernel, key: Key) -> Option<(Arc<Build>, Key)> {
        if key.tier.is_some() {
            return None;
        }
        let qkey = Key {
            tier: Some(Tier::Lane),
            ..key
        };
        let (k, an) = (self.kernel(kernel), self.analysis(kernel));
        let sh = gang_shapes(k, an, &Facts::new(k, an, key.block, key.gid32), key).ok()?;
        // Only where lanes may wait apart (barriers, divergent branches):
        // there the gang code carries its waiting-lane machinery and,
        // mostly, each block twice (the op library's reductions: 7-10 ms,
        // 1.5 ms on the one-lane tier). Elsewhere the gang tier compiles
        // about as fast, and long straight-line kernels faster (a 3000
        // instruction one: 27 ms, 56 ms on the one-lane tier).
        if an.barriers.is_empty() && !sh.partial.iter().any(|&p| p) {
            return None;
        }
        Some((Arc::clone(self.build(qkey)), qkey))
    }
}

/// The gang tier's shapes for `kernel` in variant `key`, or why the gang
/// tier does not take it.
fn gang_shapes(
    kernel: &Kernel,
    an: &Analysis,
    facts: &Facts,
    key: Key,
) -> Result<Shapes, &'static str> {
    let sh = Shapes::new(kernel, an, facts)?;
    let forced = key.tier == Some(Tier::Gang);
    gang::eligible(kernel, an, &sh, key.count_steps, forced)?;
    Ok(sh)
}

/// The host's code generator and its features, made once per process.
fn isa() -> Result<&'static (OwnedTargetIsa, Features), String> {
    static ISA: OnceLock<Result<(OwnedTargetIsa, Features), String>> = OnceLock::new();
    ISA.get_or_init(|| {
        let mut flags = settings::builder();
        for (name, value) in [
            ("opt_level", "speed"),
            ("is_pic", "false"),
            ("use_colocated_libcalls", "false"),
            (
                "enable_verifier",
                if cfg!(debug_assertions) {
                    "true"
                } else {
                    "false"
                },
            ),
        ] {
            flags
                .set(name, value)
                .map_err(|e| format!("Cranelift setting {name}={value}: {e}"))?;
        }
        let builder = cranelift_native::builder()
            .map_err(|e| format!("this CPU is not supported by Cranelift: {e}"))?;
        let isa = builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| format!("cannot configure Cranelift for this CPU: {e}"))?;
        let flag = |name: &str| {
            isa.isa_flags()
                .iter()
                .any(|v| v.name == name && v.as_bool() == Some(true))
        };
        let features = Features {
            fma: flag("has_fma"),
            sse41: flag("has_sse41"),
        };
        Ok((isa, features))
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// Compiles one variant (its hot part, when it has two: `gang::Part`).
fn compile(kernel: &Kernel, an: &Analysis, key: Key) -> Result<Compiled, String> {
    let made = compile_part(kernel, an, key, gang::Part::Hot)?;
    // SAFETY: `code` is the finalized function `translate` built with
    // `kernel_signature`: one pointer argument, one `u32` result, in the
    // platform's C calling convention (`default_call_conv`).
    let entry = unsafe { std::mem::transmute::<*const u8, Entry>(made.code) };
    Ok(Compiled {
        entry,
        tier: made.tier,
        spill_words: made.spill_bytes.div_ceil(8),
        compile_time: made.time,
        general: made.handovers.map(|handovers| General {
            key,
            made: OnceLock::new(),
            queued: AtomicBool::new(false),
            reported: AtomicBool::new(false),
            handovers,
        }),
        _code: made.module,
    })
}

/// What [`compile_part`] makes.
struct PartCode {
    /// The finalized function.
    code: *const u8,
    tier: Tier,
    spill_bytes: usize,
    /// A hot part that hands over to a general one: its hand-overs
    /// (`gang::Handovers`).
    handovers: Option<gang::Handovers>,
    time: Duration,
    module: Code,
}

/// Compiles one part of a variant: the hot or whole function
/// (`kernel_signature`), or the general part (`general_signature`).
fn compile_part(
    kernel: &Kernel,
    an: &Analysis,
    key: Key,
    part: gang::Part,
) -> Result<PartCode, String> {
    #[cfg(test)]
    if part == gang::Part::General && kernel.name.starts_with(tests::FAILING_GENERAL) {
        return Err("code generation failed: a planted failure (a test of lanes)".into());
    }
    let start = Instant::now();
    let (isa, features) = isa()?;
    let mut module = JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()));
    let target = Target {
        features: *features,
        call_conv: isa.default_call_conv(),
        frontend: isa.frontend_config(),
    };
    let sig = match part {
        gang::Part::General => codegen::general_signature(target.call_conv),
        _ => codegen::kernel_signature(target.call_conv),
    };
    let id = module
        .declare_function("kernel", Linkage::Local, &sig)
        .map_err(|e| format!("declare: {e}"))?;
    let mut ctx = module.make_context();
    ctx.func.signature = sig;
    let mut fctx = FunctionBuilderContext::new();
    let facts = Facts::new(kernel, an, key.block, key.gid32);
    let shapes = gang_shapes(kernel, an, &facts, key);
    let one_lane = key.tier == Some(Tier::Lane);
    let variant = Variant {
        kernel,
        an,
        facts: &facts,
        shape: key.block,
        count_steps: key.count_steps,
    };
    let (tier, spill_bytes, handovers) = match shapes {
        Ok(sh) if !one_lane => {
            let (bytes, handovers) =
                gang::translate(&mut ctx.func, &mut fctx, &variant, &sh, &target, part);
            (Tier::Gang, bytes, handovers)
        }
        _ if part == gang::Part::General => {
            return Err("only the gang tier has a general part".into());
        }
        _ => {
            codegen::translate(&mut ctx.func, &mut fctx, &variant, &target);
            // One word per lane per spilled register, and one for the
            // predicates.
            let slots = an.spilled.len() + usize::from(!an.spilled_preds.is_empty());
            (Tier::Lane, 8 * slots * key.block.count() as usize, None)
        }
    };
    let has_general = handovers.is_some();
    // Which function this is, in the dumps.
    let label = match (part, has_general) {
        (gang::Part::General, _) => ", the general part",
        (_, true) => ", the hot part",
        _ => "",
    };
    // LANES_JIT_DUMP=ir prints the Cranelift IR, =asm the machine code,
    // =bin writes the machine code to a file (`benches/jit_profile.sh`;
    // docs/DEVELOPMENT.md).
    let dump = std::env::var("LANES_JIT_DUMP").unwrap_or_default();
    if dump == "ir" {
        eprintln!(
            "; kernel `{}`, block {}{label}\n{}",
            kernel.name,
            key.block,
            ctx.func.display()
        );
    }
    ctx.set_disasm(dump == "asm");
    module
        .define_function(id, &mut ctx)
        .map_err(|e| format!("code generation failed: {e:?}"))?;
    if let Some(text) = ctx.compiled_code().and_then(|c| c.vcode.as_ref()) {
        eprintln!(
            "; kernel `{}`, block {}{label}\n{text}",
            kernel.name, key.block
        );
    }
    if dump == "bin"
        && let Some(c) = ctx.compiled_code()
    {
        let general = if part == gang::Part::General {
            "-general"
        } else {
            ""
        };
        let name = format!(
            "lanes-jit-{}-{}{general}.bin",
            kernel.name,
            key.block.count()
        );
        let path = std::env::temp_dir().join(name);
        match std::fs::write(&path, c.code_buffer()) {
            Ok(()) => eprintln!(
                "; kernel `{}`: machine code in {}",
                kernel.name,
                path.display()
            ),
            Err(e) => eprintln!(
                "; kernel `{}`: cannot write {}: {e}",
                kernel.name,
                path.display()
            ),
        }
    }
    module
        .finalize_definitions()
        .map_err(|e| format!("cannot make the code executable: {e}"))?;
    let code = module.get_finalized_function(id);
    Ok(PartCode {
        code,
        tier,
        spill_bytes,
        handovers,
        time: start.elapsed(),
        module: Code(Mutex::new(Some(module))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kernels whose names start with this fail to compile their general
    /// part (`compile_part`, in test builds only).
    pub(super) const FAILING_GENERAL: &str = "failing_general";

    #[test]
    fn a_kernel_whose_general_part_fails_to_compile_runs_right_and_moves_to_the_block_engine() {
        use crate::{Arg, Engine, LaunchOptions, Runtime};
        let rt = Runtime::builder().threads(2).build().unwrap();
        let src = format!(
            ".kernel {FAILING_GENERAL}_add
.param x buf
.param n u32
    mov.u32 r0, %gid
    setp.ge.u32 p0, r0, n
    @p0 exit
    shl.u64 r1, r0, 2
    ld.global.u32 r2, [x + r1]
    add.u32 r2, r2, 1
    st.global.u32 [x + r1], r2
"
        );
        let k = rt.compile("f.lasm", &src).unwrap().kernels[0].clone();
        let x = rt.alloc(4 * 1024).unwrap();
        let options = LaunchOptions {
            engine: Engine::Jit,
            jit_wait: Duration::MAX,
            ..LaunchOptions::default()
        };
        // 1001 of 1024 lanes: the last block's last gangs are partial and
        // leave the full version, which the hot part hands over: the
        // interpreter runs them (the general part is compiling on the
        // background compiler, or failed). Once the failure is known,
        // launches run on the block engine.
        let args = [Arg::Buffer(x), Arg::from(1001u32)];
        let mut launches = 0u32;
        loop {
            let stats = rt
                .launch(&k, Dim3::x(4), Dim3::x(256), &args, options)
                .expect("no launch fails");
            launches += 1;
            assert_eq!(stats.general_compile_time, None);
            if stats.engine == Engine::Pool {
                break;
            }
            assert_eq!(stats.engine, Engine::Jit);
            assert!(launches < 100_000, "the failure never moved it");
        }
        let got = rt.read(x).unwrap();
        for (i, w) in got.chunks(4).enumerate() {
            let w = u32::from_le_bytes(w.try_into().unwrap());
            let want = if i < 1001 { launches } else { 0 };
            assert_eq!(w, want, "x[{i}] after {launches} launches");
        }
    }

    fn kernel(src: &str) -> Arc<Kernel> {
        crate::compile("t.lasm", src).unwrap().kernels[0].clone()
    }

    fn key() -> Key {
        Key {
            block: Dim3::x(32),
            count_steps: false,
            gid32: true,
            tier: None,
        }
    }

    #[test]
    fn variants_past_the_first_node_are_found_and_added_once() {
        let v = Variants::default();
        let key_of = |x: u32| Key {
            block: Dim3::x(x),
            ..key()
        };
        let n = 3 * VARIANT_SLOTS as u32 + 1;
        let mut added = Vec::new();
        for x in 1..=n {
            assert!(v.find(key_of(x)).is_none());
            added.push(Arc::clone(v.add(key_of(x))));
        }
        for x in 1..=n {
            let found = v.find(key_of(x)).expect("added");
            assert!(Arc::ptr_eq(found, &added[x as usize - 1]), "block {x}");
        }
        assert!(v.find(key_of(n + 1)).is_none());
        // Through the cache: the same build for the same key, from any
        // thread.
        let c = KernelCache::default();
        let builds: Vec<Arc<Build>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        (1..=n)
                            .map(|x| Arc::clone(c.build(key_of(x))))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        for (i, b) in builds.iter().enumerate() {
            assert!(Arc::ptr_eq(b, &builds[i % n as usize]));
        }
    }

    const SRC: &str = ".kernel k\n.param x buf\n mov.u64 r0, %gid\n shl.u64 r0, r0, 2\n st.global.u32 [x + r0], 1\n";

    #[test]
    fn a_wait_that_ends_first_gets_nothing_and_the_background_compilation_finishes() {
        // Slow to compile (milliseconds): the compiler thread is still at
        // it when the wait ends.
        let pad = " add.u32 r1, r1, 1\n".repeat(3000);
        let k = kernel(&SRC.replace(" mov.u64 r0", &format!("{pad} mov.u64 r0")));
        let c = KernelCache::of(&k);
        // A deadline already past: the compilation is left to the
        // compiler thread.
        let started = c.start(&k, key(), || Some(Instant::now()));
        let Started::Compiling(build, _) = started else {
            panic!("compiled before a deadline that had passed");
        };
        // Waiting for ever gets it; the compile time is reported once.
        let made = build.wait_until(None).expect("compiled");
        assert!(made.is_ok());
        assert!(build.first_report());
        assert!(!build.first_report());
        // The same variant, now ready, from the cache: not reported again.
        match c.start(&k, key(), || Some(Instant::now())) {
            Started::Ready(Ok(again), first) => {
                assert!(Arc::ptr_eq(again, made.as_ref().unwrap()));
                assert!(!first);
            }
            _ => panic!("the variant is not ready"),
        }
    }

    #[test]
    fn gang_kernels_run_the_one_lane_tier_while_the_gang_tier_compiles() {
        let k = kernel(include_str!("../../ops/block_sum.lasm"));
        let c = KernelCache::of(&k);
        let (quick, qkey) = c.quick(&k, key()).expect("the gang tier takes it");
        assert_eq!(qkey.tier, Some(Tier::Lane));
        // The one-lane variant is ready, the gang variant not started: the
        // launch runs the one-lane code at once and queues the gang's.
        let lane = quick.get_or_compile(&k, qkey).clone().unwrap();
        let Started::Ready(Ok(got), first) = c.start(&k, key(), || Some(Instant::now())) else {
            panic!("the one-lane variant was ready");
        };
        let gang_first = got.tier == Tier::Gang;
        if gang_first {
            // The compiler thread compiled the gang variant before `start`
            // looked again (this thread was preempted for a millisecond or
            // more: tests run in parallel): it runs that, and reports it.
            assert!(first && c.build(key()).get().is_some());
        } else {
            assert!(Arc::ptr_eq(got, &lane) && first);
        }
        // Once the gang variant is compiled, launches run it.
        let gang = c.build(key()).wait_until(None).unwrap().clone().unwrap();
        assert_eq!(gang.tier, Tier::Gang);
        let Started::Ready(Ok(got), first) = c.start(&k, key(), || None) else {
            panic!("compiled");
        };
        // Reported by the first launch that got it.
        assert!(Arc::ptr_eq(got, &gang) && first != gang_first);
        // A tier asked for, a kernel the gang tier does not take (a block
        // smaller than a gang), or one whose lanes never wait apart, has no
        // quicker variant.
        let lane_key = Key {
            tier: Some(Tier::Lane),
            ..key()
        };
        assert!(c.quick(&k, lane_key).is_none());
        let small = Key {
            block: Dim3::x(2),
            ..key()
        };
        assert!(c.quick(&k, small).is_none());
        let straight = kernel(SRC);
        assert!(KernelCache::of(&straight).quick(&straight, key()).is_none());
    }

    #[test]
    fn the_compiler_thread_takes_one_lane_jobs_first() {
        // Two slow gang compilations queued before a quick one-lane one:
        // the one-lane job is taken as soon as the thread is free, so the
        // second gang job is still to do (or under way) when it is done.
        let pad = " add.u32 r1, r1, 1\n".repeat(10_000);
        let slow = |tag: u32| {
            kernel(&SRC.replace(
                " mov.u64 r0",
                &format!(" mov.u32 r1, {tag}\n{pad} mov.u64 r0"),
            ))
        };
        let (a, b, c) = (slow(1), slow(2), kernel(SRC));
        let lane = Key {
            tier: Some(Tier::Lane),
            ..key()
        };
        let builds: Vec<Arc<Build>> = [(&a, key()), (&b, key()), (&c, lane)]
            .into_iter()
            .map(|(k, key)| {
                let build = KernelCache::of(k).build(key);
                build.start(k, key);
                Arc::clone(build)
            })
            .collect();
        assert!(builds[2].wait_until(None).unwrap().is_ok());
        assert!(
            builds[1].get().is_none(),
            "the gang job queued before it ran first"
        );
        for b in &builds[..2] {
            assert!(b.wait_until(None).unwrap().is_ok());
        }
    }

    #[test]
    fn concurrent_first_launches_compile_a_variant_once() {
        let k = kernel(SRC);
        let results: Vec<(&Made, bool)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| KernelCache::of(&k).variant(&k, key())))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let first = results[0].0.as_ref().unwrap();
        for (made, _) in &results {
            assert!(Arc::ptr_eq(first, made.as_ref().unwrap()));
        }
        assert_eq!(results.iter().filter(|(_, f)| *f).count(), 1);
    }
}
