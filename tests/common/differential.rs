//! The harness shared by the differential suites (`tests/differential.rs`,
//! `tests/differential_affine.rs`, `tests/differential_narrow.rs`), each of
//! which includes this file with
//! `#[path = "common/differential.rs"] mod differential_common;` and keeps
//! only its own generator and properties.
//!
//! A generated case describes its launch through [`DiffCase`];
//! [`check_engines`] runs it on the reference engine (the oracle), on
//! `lanes::engine::block` and `lanes::engine::jit` directly and on pool
//! runtimes with 1, 2 and 5 threads (block engine and JIT), and compares every output buffer bit for bit (through
//! [`DiffCase::same_bytes`]) and every fault: whole when exactly one lane can
//! fault (or the launch has one lane), by [`DiffCase::fault_kind`] otherwise.
//! A case that runs past two minutes stops the test binary with the case
//! printed (a miscompiled loop exit would otherwise hang it).
//!
//! Also here: the splitmix64 generator and launch shape of the seed-based
//! generators, the rendering of `if` and counted-loop statements, and the
//! per-suite case counts from environment variables.

use std::fmt::{Display, Write};
use std::io::Write as _;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use lanes::engine::{LaunchSpec, block, jit, reference};
use lanes::launch::{BoundArgs, Dim3};
use lanes::memory::Buffer;
use lanes::{Arg, Engine, FaultKind, Kernel, LaunchError, LaunchOptions, Runtime};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// The output buffers of a launch that ran to the end, or its fault.
pub type Outcome = Result<Vec<Vec<u8>>, Box<lanes::Fault>>;

/// How a buffer argument starts.
pub enum Init {
    /// With these bytes.
    Bytes(Vec<u8>),
    /// With this many zero bytes.
    Zeroed(usize),
}

/// A generated launch: a kernel `gen` in `source`, its shape, buffers and
/// scalars, and how strictly engines must agree on it.
pub trait DiffCase {
    /// LASM text with one kernel, `gen`.
    fn source(&self) -> &str;
    fn grid(&self) -> Dim3;
    fn block(&self) -> Dim3;
    fn max_steps(&self) -> u64;
    /// The buffer arguments, in parameter order (before the scalars).
    fn buffers(&self) -> Vec<Init>;
    /// The scalar arguments, in parameter order: the slot value the
    /// engines get directly, and the argument the pool runtimes get.
    fn scalars(&self) -> Vec<(u64, Arg)>;
    /// The case for failure messages.
    fn describe(&self) -> String;
    /// Faults of launches with more than one lane that can fault are
    /// compared by this name only.
    fn fault_kind(&self, kind: &FaultKind) -> &'static str {
        kind_of(kind)
    }
    /// A fault, if any, comes from exactly one lane: compare it whole.
    fn single_lane_fault(&self) -> bool {
        false
    }
    /// Whether an engine's output buffer matches the reference's.
    fn same_bytes(&self, want: &[u8], got: &[u8]) -> bool {
        want == got
    }
    /// Explains how output buffer `buffer` differs.
    fn buffer_diff(&self, buffer: usize, want: &[u8], got: &[u8]) -> String {
        let first = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
        format!(
            "buffer {buffer} differs first at byte {first} (want {:?}, got {:?})",
            &want[first..(first + 8).min(want.len())],
            &got[first..(first + 8).min(got.len())],
        )
    }
    /// Checks the generator's own claims on the reference outcome.
    fn check_oracle(&self, _want: &Outcome) -> Result<(), TestCaseError> {
        Ok(())
    }
}

/// Fault kinds by name (out-of-bounds and misaligned accesses differ).
pub fn kind_of(k: &FaultKind) -> &'static str {
    match k {
        FaultKind::OutOfBounds { .. } => "out of bounds",
        FaultKind::Misaligned { .. } => "misaligned",
        FaultKind::DivisionByZero => "division",
        FaultKind::StepLimit { .. } => "steps",
    }
}

/// Runs the case on `engine` (`reference::run` or `block::run`) directly.
#[allow(dead_code)] // not used by every suite
pub fn run_with<C: DiffCase>(
    c: &C,
    engine: &dyn Fn(&LaunchSpec<'_>) -> Result<(), Box<lanes::Fault>>,
) -> Outcome {
    run_kernel_with(c, &compile_case(c), engine)
}

/// The case's kernel `gen`.
pub fn compile_case<C: DiffCase>(c: &C) -> Arc<Kernel> {
    let prog =
        lanes::compile("gen.lasm", c.source()).unwrap_or_else(|e| panic!("{e}\n{}", c.source()));
    prog.kernel("gen").unwrap().clone()
}

/// Runs the case's compiled `kernel` on `engine` directly. One kernel
/// serves every engine of a case, so the JIT compiles it once.
pub fn run_kernel_with<C: DiffCase>(
    c: &C,
    kernel: &Arc<Kernel>,
    engine: &dyn Fn(&LaunchSpec<'_>) -> Result<(), Box<lanes::Fault>>,
) -> Outcome {
    let buffers: Vec<Arc<Buffer>> = c
        .buffers()
        .into_iter()
        .map(|b| {
            Arc::new(match b {
                Init::Bytes(bytes) => Buffer::from_bytes(&bytes).unwrap(),
                Init::Zeroed(len) => Buffer::zeroed(len).unwrap(),
            })
        })
        .collect();
    let args = BoundArgs {
        buffers: buffers.clone(),
        scalars: c.scalars().into_iter().map(|(v, _)| v).collect(),
    };
    let spec = LaunchSpec {
        kernel,
        grid: c.grid(),
        block: c.block(),
        args: &args,
        max_steps: c.max_steps(),
        stop: &lanes::engine::StopFlag::new(),
    };
    engine(&spec)?;
    Ok(buffers.iter().map(|b| b.to_bytes()).collect())
}

/// Pool runtimes with 1, 2 and 5 workers (5 is more than some machines'
/// cores), shared by all cases.
pub fn runtimes() -> &'static [(usize, Runtime)] {
    static RUNTIMES: OnceLock<Vec<(usize, Runtime)>> = OnceLock::new();
    RUNTIMES.get_or_init(|| {
        [1, 2, 5]
            .into_iter()
            .map(|t| (t, Runtime::builder().threads(t).build().unwrap()))
            .collect()
    })
}

/// Runs the case on the JIT directly (on the calling thread), on `tier`
/// where the kernel allows it.
pub fn jit_on(spec: &LaunchSpec<'_>, tier: Option<jit::Tier>) -> Result<(), Box<lanes::Fault>> {
    match jit::run_on_tier(spec, tier) {
        Ok(()) => Ok(()),
        Err(LaunchError::Fault(f)) => Err(f),
        Err(e) => panic!("the JIT failed: {e}"),
    }
}

/// Runs the case on the JIT directly, every gang that the hot part of a
/// kernel compiled in two hands over running on the interpreter (as while
/// its general part compiles); other kernels as [`jit_on`] runs them.
pub fn jit_interpreting_handovers(spec: &LaunchSpec<'_>) -> Result<(), Box<lanes::Fault>> {
    let launch = jit::JitLaunch::new(spec)
        .unwrap_or_else(|e| panic!("the JIT failed: {e}"))
        .interpreting_handovers();
    match jit::JitState::new().run_blocks(&launch, 0..spec.block_count()) {
        Ok(()) => Ok(()),
        Err(LaunchError::Fault(f)) => Err(f),
        Err(e) => panic!("the JIT failed: {e}"),
    }
}

/// Runs the case's `kernel` through `Runtime::launch` on `engine`.
pub fn run_on<C: DiffCase>(c: &C, kernel: &Arc<Kernel>, rt: &Runtime, engine: Engine) -> Outcome {
    let ids: Vec<_> = c
        .buffers()
        .into_iter()
        .map(|b| match b {
            Init::Bytes(bytes) => rt.alloc_from(&bytes).unwrap(),
            Init::Zeroed(len) => rt.alloc(len).unwrap(),
        })
        .collect();
    let mut args: Vec<Arg> = ids.iter().map(|&id| Arg::Buffer(id)).collect();
    args.extend(c.scalars().into_iter().map(|(_, a)| a));
    let options = LaunchOptions {
        engine,
        max_steps: c.max_steps(),
        jit_wait: std::time::Duration::MAX,
        ..LaunchOptions::default()
    };
    let result = rt.launch(kernel, c.grid(), c.block(), &args, options);
    let out = ids.iter().map(|&id| rt.read(id).unwrap()).collect();
    for id in ids {
        rt.free(id).unwrap();
    }
    match result {
        Ok(_) => Ok(out),
        Err(LaunchError::Fault(f)) => Err(f),
        Err(e) => panic!("launch failed: {e}"),
    }
}

/// Compares an engine's outcome with the reference's.
pub fn compare<C: DiffCase>(
    c: &C,
    name: &str,
    got: Outcome,
    want: &Outcome,
) -> Result<(), TestCaseError> {
    match (want, got) {
        (Ok(w), Ok(g)) => {
            for (i, (wb, gb)) in w.iter().zip(&g).enumerate() {
                if !c.same_bytes(wb, gb) {
                    return Err(TestCaseError::fail(format!(
                        "{name}: {}\n{}",
                        c.buffer_diff(i, wb, gb),
                        c.describe()
                    )));
                }
            }
        }
        (Err(w), Err(g)) => {
            prop_assert_eq!(
                c.fault_kind(&w.kind),
                c.fault_kind(&g.kind),
                "{}: fault kinds differ: {} vs {}\n{}",
                name,
                w,
                g,
                c.describe()
            );
            if c.single_lane_fault() || c.grid().count() * c.block().count() == 1 {
                prop_assert_eq!(w, &g, "{}: faults differ\n{}", name, c.describe());
            }
        }
        (w, g) => {
            return Err(TestCaseError::fail(format!(
                "{name}: reference {:?} but engine {:?}\n{}",
                w.as_ref().map(|_| "ok").map_err(|f| f.to_string()),
                g.as_ref().map(|_| "ok").map_err(|f| f.to_string()),
                c.describe()
            )));
        }
    }
    Ok(())
}

/// How long one case may take on every engine together before it is
/// taken to hang. Kernels whose loops provably end run on the JIT without
/// counting steps, so a miscompiled loop exit would spin forever; a
/// normal case takes well under a second, in debug builds too.
const CASE_LIMIT: Duration = Duration::from_secs(120);

/// Stops the test binary, naming the case, if it is not dropped within
/// [`CASE_LIMIT`] (a hung case cannot be interrupted: it may be in
/// compiled code).
pub struct Watchdog {
    _done: mpsc::Sender<()>,
}

impl Watchdog {
    pub fn start(case: String) -> Watchdog {
        let (done, wait) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(RecvTimeoutError::Timeout) = wait.recv_timeout(CASE_LIMIT) {
                // Straight to stderr: the test harness captures `eprintln!`
                // and would drop it at exit.
                let _ = writeln!(
                    std::io::stderr(),
                    "a case ran past {CASE_LIMIT:?}: taken to hang\n{case}"
                );
                std::process::exit(1);
            }
        });
        Watchdog { _done: done }
    }
}

/// Runs the case on the reference engine, checks the generator's claims on
/// that, then compares the block engine and the pool runtimes with it.
/// A case that runs past [`CASE_LIMIT`] stops the test binary with the
/// case printed.
pub fn check_engines<C: DiffCase>(c: &C) -> Result<(), TestCaseError> {
    let _watch = Watchdog::start(c.describe());
    let kernel = compile_case(c);
    let want = run_kernel_with(c, &kernel, &reference::run);
    c.check_oracle(&want)?;
    let got = run_kernel_with(c, &kernel, &block::run);
    compare(c, "block engine", got, &want)?;
    // The JIT's choice, and each of its tiers where the kernel allows it
    // (each compiles its own code: they share only the kernel).
    for (name, tier) in [
        ("JIT", None),
        ("JIT one-lane tier", Some(jit::Tier::Lane)),
        ("JIT gang tier", Some(jit::Tier::Gang)),
    ] {
        let got = run_kernel_with(c, &kernel, &|s| jit_on(s, tier));
        compare(c, name, got, &want)?;
    }
    let got = run_kernel_with(c, &kernel, &jit_interpreting_handovers);
    compare(c, "JIT hot part, hand-overs interpreted", got, &want)?;
    for (threads, rt) in runtimes() {
        for engine in [Engine::Pool, Engine::Jit] {
            let got = run_on(c, &kernel, rt, engine);
            compare(
                c,
                &format!("{engine} engine, {threads} threads"),
                got,
                &want,
            )?;
        }
    }
    Ok(())
}

/// Writes `@!p{pred} bra skipN` (`@p{pred}` when `negated`), the body that
/// `body` writes, and `skipN:`: the body runs where the condition holds.
pub fn render_if(
    out: &mut String,
    labels: &mut u32,
    pred: impl Display,
    negated: bool,
    body: impl FnOnce(&mut String, &mut u32),
) {
    *labels += 1;
    let skip = format!("skip{}", *labels);
    // Jump over the body when the condition does not hold.
    let _ = writeln!(
        out,
        "    @{}p{pred} bra {skip}",
        if negated { "" } else { "!" }
    );
    body(out, labels);
    let _ = writeln!(out, "{skip}:");
}

/// Writes a loop that runs the body that `body` writes while the counter
/// register `r{counter}`, which the `init` instruction sets, is not zero,
/// counting it down (`p7` is the loop's predicate).
#[allow(dead_code)] // not used by every suite
pub fn render_loop(
    out: &mut String,
    labels: &mut u32,
    counter: impl Display,
    init: &str,
    body: impl FnOnce(&mut String, &mut u32),
) {
    *labels += 1;
    let (top, end) = (format!("top{}", *labels), format!("end{}", *labels));
    let c = counter;
    let _ = writeln!(out, "    {init}");
    let _ = writeln!(out, "{top}:");
    let _ = writeln!(out, "    setp.eq.u32 p7, r{c}, 0");
    let _ = writeln!(out, "    @p7 bra {end}");
    body(out, labels);
    let _ = writeln!(out, "    sub.u32 r{c}, r{c}, 1");
    let _ = writeln!(out, "    bra {top}");
    let _ = writeln!(out, "{end}:");
}

/// Writes the seeding of data registers `r0..r{regs}` from the input
/// buffer `inp`: register `r` of lane `%gid` loads the `ty` word at
/// `((%gid + 8r) & 31) * 8`, so lanes differ.
#[allow(dead_code)] // not used by every suite
pub fn render_seeds(out: &mut String, regs: u8, ty: &str) {
    for r in 0..regs {
        let _ = writeln!(out, "    add.u64 r{r}, %gid, {}", r as u64 * 8);
        let _ = writeln!(out, "    and.u64 r{r}, r{r}, 0x1F");
        let _ = writeln!(out, "    shl.u64 r{r}, r{r}, 3");
        let _ = writeln!(out, "    ld.global.{ty} r{r}, [inp + r{r}]");
    }
}

/// Cases per property: the environment variable `var` overrides `default`
/// (for long local runs).
#[allow(dead_code)] // not used by every suite
pub fn cases_from_env(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A proptest runner with a fixed seed, for measuring a generator's mix.
#[allow(dead_code)] // not used by every suite
pub fn seeded_runner(seed: u8) -> proptest::test_runner::TestRunner {
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    )
}

/// splitmix64: statements are generated from their own seed.
#[allow(dead_code)] // not used by every suite
pub struct Rng(pub u64);

#[allow(dead_code)] // not every suite uses every method
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    /// Uniform in lo..=hi.
    pub fn range(&mut self, lo: i128, hi: i128) -> i128 {
        if hi <= lo {
            lo
        } else {
            lo + (self.next() as u128 % (hi - lo + 1) as u128) as i128
        }
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// A launch shape.
#[allow(dead_code)] // not used by every suite
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub grid: Dim3,
    pub block: Dim3,
}

#[allow(dead_code)] // not used by every suite
impl Shape {
    /// Lanes per block.
    pub fn lpb(&self) -> u64 {
        self.block.count() as u64
    }
    pub fn blocks(&self) -> u64 {
        self.grid.count() as u64
    }
    pub fn total(&self) -> u64 {
        self.lpb() * self.blocks()
    }
    /// Only x varies: the global x index is %gid.
    pub fn one_d(&self) -> bool {
        self.block.y == 1 && self.block.z == 1 && self.grid.y == 1 && self.grid.z == 1
    }
}

/// Bytes of a scalar type named in LASM.
#[allow(dead_code)] // not used by every suite
pub fn size_of(ty: &str) -> u64 {
    lanes::types::ScalarType::from_name(ty).unwrap().size() as u64
}
