//! The checks behind the fuzz targets, with no dependency but `lanes`, so
//! the main crate's `tests/fuzz_regressions.rs` includes this very file
//! (`#[path]`) and replays every input that once found a bug.

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use lanes::engine::jit::{JitLaunch, JitState, Tier};
use lanes::engine::{LaunchSpec, block, reference};
use lanes::kernel::ParamKind;
use lanes::launch::{BoundArgs, check_shape};
use lanes::memory::Buffer;
use lanes::types::ScalarType;
use lanes::{Arg, Dim3, Engine, Fault, FaultKind, LaunchError, LaunchOptions, Runtime, Scalar};

// ---------------------------------------------------------------------------
// Hostile programs
// ---------------------------------------------------------------------------

/// A program and launch that may be anything; see the crate docs.
pub struct Hostile {
    /// LASM source.
    pub source: String,
    /// Grid shape (may be invalid).
    pub grid: Dim3,
    /// Block shape (may be invalid).
    pub block: Dim3,
    /// Contents of the buffers bound to `buf` parameters, in order (reused
    /// cyclically when there are more parameters).
    pub buffers: Vec<Vec<u8>>,
    /// Raw bits of scalar arguments, in order (cyclically).
    pub scalars: Vec<u64>,
    /// Per-lane step budget.
    pub max_steps: u64,
}

impl fmt::Debug for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// grid {} block {} max_steps {}",
            self.grid, self.block, self.max_steps
        )?;
        writeln!(f, "// buffers {:?}", self.buffers)?;
        writeln!(f, "// scalars {:?}", self.scalars)?;
        f.write_str(&self.source)
    }
}

/// A runtime for the hostile and differential targets, with more workers
/// than this machine's cores.
fn runtime(threads: usize) -> &'static Runtime {
    static RT: OnceLock<Vec<Runtime>> = OnceLock::new();
    let all = RT.get_or_init(|| {
        (1..=3)
            .map(|t| {
                Runtime::builder()
                    .threads(t)
                    .build()
                    .expect("the fuzz runtime starts")
            })
            .collect()
    });
    &all[threads - 1]
}

/// Checks a fault's context against the kernel and the launch shape.
pub fn check_fault_context(f: &Fault, kernel: &lanes::Kernel, grid: Dim3, block: Dim3) {
    assert_eq!(f.kernel, kernel.name);
    assert!(
        f.instr < kernel.instrs.len(),
        "fault at instruction {} of {}",
        f.instr,
        kernel.instrs.len()
    );
    assert_eq!(f.line, kernel.lines[f.instr].line, "fault line");
    assert_eq!(f.source, kernel.lines[f.instr].text, "fault source");
    for (c, d) in [(f.block, grid), (f.lane, block)] {
        assert!(
            c.x < d.x && c.y < d.y && c.z < d.z,
            "coordinate {c} outside {d}"
        );
    }
    // The message renders.
    let _ = f.to_string();
}

/// Compiles and launches a hostile case on every engine (the JIT on both
/// tiers). Panics (a fuzz finding) if anything panics, the JIT cannot
/// compile a kernel that validation accepted, a launch gives an error it
/// should not, a fault's context is wrong, or a buffer not bound to the
/// launch changes.
pub fn check_hostile(case: &Hostile) {
    let program = match lanes::compile("fuzz.lasm", &case.source) {
        Ok(p) => p,
        Err(d) => {
            assert!(!d.errors.is_empty(), "compile failed with no error");
            let _ = d.to_string();
            return;
        }
    };
    let rt = runtime(2);
    for kernel in &program.kernels {
        // Every engine as a launch picks it, then the JIT on each tier
        // (each tier is a variant of its own in the kernel's JIT cache).
        let runs = Engine::ALL.into_iter().map(|e| (e, None)).chain([
            (Engine::Jit, Some(Tier::Lane)),
            (Engine::Jit, Some(Tier::Gang)),
        ]);
        for (engine, tier) in runs {
            // A buffer that is never bound: it must come back unchanged.
            let canary: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
            let canary_id = rt.alloc_from(&canary).expect("alloc canary");
            let mut ids = Vec::new();
            let mut args = Vec::new();
            let (mut nb, mut ns) = (0, 0);
            for p in &kernel.params {
                match p.kind {
                    ParamKind::Buffer { .. } => {
                        let bytes = case
                            .buffers
                            .get(nb % case.buffers.len().max(1))
                            .cloned()
                            .unwrap_or_default();
                        let bytes = &bytes;
                        nb += 1;
                        let id = rt.alloc_from(bytes).expect("alloc");
                        ids.push((id, bytes.len()));
                        args.push(Arg::Buffer(id));
                    }
                    ParamKind::Scalar { ty, .. } => {
                        let bits = case
                            .scalars
                            .get(ns % case.scalars.len().max(1))
                            .copied()
                            .unwrap_or(0);
                        ns += 1;
                        args.push(Arg::Scalar(Scalar {
                            ty,
                            bits: ty.extend(bits),
                        }));
                    }
                }
            }
            let options = LaunchOptions {
                engine,
                max_steps: case.max_steps,
                ..LaunchOptions::default()
            };
            let shape_ok = check_shape(case.grid, case.block).is_ok();
            let big = case.grid.count() * case.block.count() > 1 << 16;
            if shape_ok && big {
                // A valid but huge launch would only be slow.
                for (id, _) in ids {
                    rt.free(id).expect("free");
                }
                rt.free(canary_id).expect("free canary");
                continue;
            }
            let result = with_tier(tier, || {
                rt.launch(kernel, case.grid, case.block, &args, options)
            });
            match result {
                Ok(stats) => {
                    assert!(shape_ok, "launch with bad shape succeeded");
                    assert_eq!(stats.blocks as u128, case.grid.count());
                    assert_eq!(
                        stats.engine, engine,
                        "the JIT fell back to the pool engine\n{case:?}"
                    );
                }
                Err(LaunchError::Fault(f)) => {
                    assert!(shape_ok);
                    check_fault_context(&f, kernel, case.grid, case.block);
                }
                Err(LaunchError::Shape(_)) => assert!(!shape_ok, "valid shape refused"),
                Err(e) => panic!("{engine:?}: unexpected launch error: {e}\n{case:?}"),
            }
            for (id, len) in ids {
                assert_eq!(
                    rt.read(id).expect("read").len(),
                    len,
                    "buffer length changed"
                );
                rt.free(id).expect("free");
            }
            assert_eq!(
                rt.read(canary_id).expect("read canary"),
                canary,
                "{engine:?}: an unbound buffer changed\n{case:?}"
            );
            rt.free(canary_id).expect("free canary");
        }
    }
    // The runtime is shared with other checks running at the same time, so
    // its buffer count says nothing here; every buffer this check made was
    // freed above (`free` fails on an id that is gone).
}

// ---------------------------------------------------------------------------
// Valid, race-free programs
// ---------------------------------------------------------------------------

/// Data registers of generated valid programs.
pub const DATA_REGS: u8 = 12;
/// Bytes of output per lane: 16 u64 slots.
pub const SLOT_BYTES: u64 = 128;
/// Bytes of the read-only input buffer.
pub const INPUT_BYTES: usize = 256;

/// A valid program whose result does not depend on lane interleaving.
#[derive(Clone)]
pub struct Valid {
    /// LASM source with kernel `gen`.
    pub source: String,
    /// Grid shape.
    pub grid: Dim3,
    /// Block shape.
    pub block: Dim3,
    /// The read-only input buffer.
    pub input: Vec<u8>,
    /// The `k` argument.
    pub k: u32,
    /// Per-lane step budget.
    pub max_steps: u64,
}

impl fmt::Debug for Valid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "// grid {} block {} k {} max_steps {}",
            self.grid, self.block, self.k, self.max_steps
        )?;
        writeln!(f, "// input {:?}", self.input)?;
        f.write_str(&self.source)
    }
}

impl Case for Valid {
    fn source(&self) -> &str {
        &self.source
    }
    fn grid(&self) -> Dim3 {
        self.grid
    }
    fn block(&self) -> Dim3 {
        self.block
    }
    fn max_steps(&self) -> u64 {
        self.max_steps
    }
    fn buffers(&self) -> Vec<Vec<u8>> {
        let total = (self.grid.count() * self.block.count()) as usize;
        vec![
            self.input.clone(),
            vec![0; total * SLOT_BYTES as usize],
            vec![0; 16],
        ]
    }
    fn scalars(&self) -> Vec<Scalar> {
        vec![Scalar {
            ty: ScalarType::U32,
            bits: u64::from(self.k),
        }]
    }
}

/// Runs a valid case on every engine and compares with the reference: the
/// block engine directly, the pool engine (2 and 3 workers), and the JIT on
/// both tiers (see [`check_jit_on`]).
pub fn check_differential(c: &Valid) {
    let kernel = compile_case(c);
    let want = run_direct(c, &kernel, &reference::run);
    let got = run_direct(c, &kernel, &block::run);
    compare(c, "block engine", &got, &want);
    for threads in [2, 3] {
        let got = run_runtime(c, &kernel, runtime(threads), Engine::Pool);
        compare(c, &format!("pool engine, {threads} threads"), &got, &want);
    }
    check_jit_on(c, &kernel, &want);
}

// ---------------------------------------------------------------------------
// Running a generated launch on every engine
// ---------------------------------------------------------------------------

/// The buffers of a launch that ran to the end, or its fault.
pub type Outcome = std::result::Result<Vec<Vec<u8>>, Box<Fault>>;

/// A generated launch of a kernel `gen`: what every engine needs to run it,
/// and how strictly their outcomes must agree. The kernel's parameters are
/// its buffers, then its scalars.
pub trait Case: fmt::Debug {
    /// LASM text with the kernel `gen`.
    fn source(&self) -> &str;
    /// Grid shape.
    fn grid(&self) -> Dim3;
    /// Block shape.
    fn block(&self) -> Dim3;
    /// Per-lane step budget.
    fn max_steps(&self) -> u64;
    /// The buffer arguments' contents, in parameter order.
    fn buffers(&self) -> Vec<Vec<u8>>;
    /// The scalar arguments, in parameter order.
    fn scalars(&self) -> Vec<Scalar>;
    /// Whether buffer `i` must come back the same from every engine (not
    /// one that lanes race on).
    fn compared(&self, _i: usize) -> bool {
        true
    }
    /// The name faults are compared by when more than one lane can fault;
    /// `None`: any fault matches any (the case mixes fault sources, and
    /// engines may meet them in different lanes first).
    fn fault_kind(&self, _kind: &FaultKind) -> Option<&'static str> {
        None
    }
    /// At most one lane can fault: faults are compared whole.
    fn single_lane_fault(&self) -> bool {
        false
    }
    /// Checks the generator's own claims on the reference engine's outcome
    /// (panics when the generator is wrong, which is a bug of the fuzzer).
    fn check_oracle(&self, _want: &Outcome) {}
    /// The tier the JIT must pick on its own, given the reference engine's
    /// outcome `want`, where the generator knows it (`None`: either).
    fn jit_tier(&self, _want: &Outcome) -> Option<Tier> {
        None
    }
}

/// Compiles the case's kernel `gen`. Every call compiles anew, so each
/// kernel has its own JIT code cache (and a runtime's kernel cache, which
/// keeps every program it compiles, does not grow while fuzzing).
pub fn compile_case(c: &dyn Case) -> Arc<lanes::Kernel> {
    let prog = lanes::compile("gen.lasm", c.source())
        .unwrap_or_else(|e| panic!("generated program does not compile: {e}\n{c:?}"));
    prog.kernel("gen").expect("kernel gen").clone()
}

/// Runs the case's `kernel` on an engine's `run` function on this thread.
pub fn run_direct(
    c: &dyn Case,
    kernel: &Arc<lanes::Kernel>,
    engine: &dyn Fn(&LaunchSpec<'_>) -> std::result::Result<(), Box<Fault>>,
) -> Outcome {
    let buffers: Vec<Arc<Buffer>> = c
        .buffers()
        .iter()
        .map(|b| Arc::new(Buffer::from_bytes(b).expect("buffer")))
        .collect();
    let args = BoundArgs {
        buffers: buffers.clone(),
        scalars: c.scalars().iter().map(|s| s.bits).collect(),
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

/// Runs the case's `kernel` through `Runtime::launch` on `engine`, with a
/// buffer that is not bound to the launch and must come back unchanged.
pub fn run_runtime(
    c: &dyn Case,
    kernel: &Arc<lanes::Kernel>,
    rt: &Runtime,
    engine: Engine,
) -> Outcome {
    let canary = rt.alloc_from(&[0x5A; 40]).expect("canary");
    let ids: Vec<_> = c
        .buffers()
        .iter()
        .map(|b| rt.alloc_from(b).expect("buffer"))
        .collect();
    let mut args: Vec<Arg> = ids.iter().map(|&id| Arg::Buffer(id)).collect();
    args.extend(c.scalars().into_iter().map(Arg::Scalar));
    let options = LaunchOptions {
        engine,
        max_steps: c.max_steps(),
        ..LaunchOptions::default()
    };
    let result = rt.launch(kernel, c.grid(), c.block(), &args, options);
    let out = ids.iter().map(|&id| rt.read(id).expect("read")).collect();
    for id in ids {
        rt.free(id).expect("free");
    }
    assert_eq!(
        rt.read(canary).expect("read canary"),
        [0x5A; 40],
        "{engine}: an unbound buffer changed\n{c:?}"
    );
    rt.free(canary).expect("free canary");
    match result {
        Ok(stats) => {
            assert_eq!(
                stats.engine, engine,
                "the launch ran on another engine (the JIT fell back)\n{c:?}"
            );
            Ok(out)
        }
        Err(LaunchError::Fault(f)) => {
            check_fault_context(&f, kernel, c.grid(), c.block());
            Err(f)
        }
        Err(e) => panic!("{engine} launch failed: {e}\n{c:?}"),
    }
}

/// Compares an engine's outcome with the reference engine's: every compared
/// buffer bit for bit; faults whole when at most one lane can fault (or the
/// launch has one lane), by [`Case::fault_kind`] otherwise.
pub fn compare(c: &dyn Case, name: &str, got: &Outcome, want: &Outcome) {
    match (want, got) {
        (Ok(w), Ok(g)) => {
            for (i, (wb, gb)) in w.iter().zip(g).enumerate() {
                if c.compared(i) && wb != gb {
                    let first = wb.iter().zip(gb).position(|(a, b)| a != b).unwrap_or(0);
                    let end = (first + 8).min(wb.len());
                    panic!(
                        "{name}: buffer {i} differs first at byte {first} (reference {:?}, engine {:?})\n{c:?}",
                        &wb[first..end],
                        &gb[first..end],
                    );
                }
            }
        }
        (Err(w), Err(g)) => {
            if c.single_lane_fault() || c.grid().count() * c.block().count() == 1 {
                assert_eq!(w, g, "{name}: faults differ: {w} vs {g}\n{c:?}");
            } else {
                assert_eq!(
                    c.fault_kind(&w.kind),
                    c.fault_kind(&g.kind),
                    "{name}: fault kinds differ: {w} vs {g}\n{c:?}"
                );
            }
        }
        (w, g) => panic!(
            "{name}: reference {:?} but engine {:?}\n{c:?}",
            w.as_ref().map(|_| "ok").map_err(|f| f.to_string()),
            g.as_ref().map(|_| "ok").map_err(|f| f.to_string()),
        ),
    }
}

/// Serializes the changes of `LANES_JIT_TIER` made here.
static TIER_ENV: Mutex<()> = Mutex::new(());

/// Runs `f` with `LANES_JIT_TIER` asking for `tier` (when `Some`): the one
/// way to pick the tier of a launch through a [`Runtime`]. Direct launches
/// name their tier instead ([`run_jit`]).
pub fn with_tier<T>(tier: Option<Tier>, f: impl FnOnce() -> T) -> T {
    let _guard = TIER_ENV.lock().unwrap_or_else(|p| p.into_inner());
    let Some(tier) = tier else { return f() };
    let name = match tier {
        Tier::Lane => "lane",
        Tier::Gang => "gang",
    };
    // SAFETY: std's environment functions take a process-wide lock, and
    // nothing in these checks reads the environment outside them (no C
    // code calls `getenv` here); the lock above keeps these checks from
    // racing each other.
    unsafe { std::env::set_var("LANES_JIT_TIER", name) };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    // SAFETY: as above.
    unsafe { std::env::remove_var("LANES_JIT_TIER") };
    result.unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// Runs the case's `kernel` on the JIT on this thread, on tier `tier`
/// where the kernel allows it (`None`: the tier the JIT picks), and says
/// on which tier it ran. A generated kernel the JIT cannot compile is a
/// finding.
pub fn run_jit(c: &dyn Case, kernel: &Arc<lanes::Kernel>, tier: Option<Tier>) -> (Outcome, Tier) {
    run_jit_with(c, kernel, tier, false)
}

/// [`run_jit`], and with `interpret` every gang that the hot part of a
/// kernel compiled in two hands over runs on the interpreter
/// (`JitLaunch::interpreting_handovers`), as while its general part
/// compiles.
pub fn run_jit_with(
    c: &dyn Case,
    kernel: &Arc<lanes::Kernel>,
    tier: Option<Tier>,
    interpret: bool,
) -> (Outcome, Tier) {
    let ran = std::cell::Cell::new(None);
    let outcome = run_direct(c, kernel, &|spec| {
        let mut launch = JitLaunch::with_tier(spec, tier)
            .unwrap_or_else(|e| panic!("the JIT cannot compile a generated kernel: {e}\n{c:?}"));
        if interpret {
            launch = launch.interpreting_handovers();
        }
        ran.set(Some(launch.tier()));
        match JitState::new().run_blocks(&launch, 0..spec.block_count()) {
            Ok(()) => Ok(()),
            Err(LaunchError::Fault(f)) => {
                check_fault_context(&f, spec.kernel, spec.grid, spec.block);
                Err(f)
            }
            Err(e) => panic!("the JIT failed: {e}\n{c:?}"),
        }
    });
    let ran = ran.get().expect("the JIT ran");
    if tier == Some(Tier::Lane) {
        assert_eq!(ran, Tier::Lane, "the one-lane tier was not obeyed");
    }
    (outcome, ran)
}

/// Compares the JIT with the reference outcome `want` of `kernel`, on the
/// calling thread: on the tier the JIT picks (on the gang tier also with
/// its hand-overs interpreted), then on the other tier where
/// the kernel allows it (the gang tier also runs kernels with barriers and
/// divergent loops, which the JIT gives the one-lane tier by default);
/// then through runtimes with 2 workers (the picked tier) and 3 (the other
/// tier, when there is one). Returns the tier the JIT picked, which must
/// be the case's [`Case::jit_tier`] when it names one.
pub fn check_jit_on(c: &dyn Case, kernel: &Arc<lanes::Kernel>, want: &Outcome) -> Tier {
    let (got, picked) = run_jit(c, kernel, None);
    compare(c, &format!("JIT ({picked:?} tier)"), &got, want);
    if picked == Tier::Gang {
        let (got, _) = run_jit_with(c, kernel, None, true);
        compare(c, "JIT (Gang tier, hand-overs interpreted)", &got, want);
    }
    let other = match picked {
        Tier::Gang => Some(Tier::Lane),
        Tier::Lane => {
            let (got, ran) = run_jit(c, kernel, Some(Tier::Gang));
            if ran == Tier::Gang {
                compare(c, "JIT (Gang tier, forced)", &got, want);
            }
            (ran == Tier::Gang).then_some(Tier::Gang)
        }
    };
    if other == Some(Tier::Lane) {
        let (got, _) = run_jit(c, kernel, Some(Tier::Lane));
        compare(c, "JIT (Lane tier, forced)", &got, want);
    }
    let got = run_runtime(c, kernel, runtime(2), Engine::Jit);
    compare(c, &format!("JIT ({picked:?} tier), 2 threads"), &got, want);
    if let Some(other) = other {
        let got = with_tier(Some(other), || {
            run_runtime(c, kernel, runtime(3), Engine::Jit)
        });
        compare(c, &format!("JIT ({other:?} tier), 3 threads"), &got, want);
    }
    // After the comparisons, so that a wrong result is reported as such
    // (and this message is no finding for the minimizer).
    if let Some(tier) = c.jit_tier(want) {
        assert_eq!(
            picked, tier,
            "a case for the {tier:?} tier ran on the {picked:?} tier\n{c:?}"
        );
    }
    picked
}

/// Runs a case on the reference engine and the JIT (see [`check_jit_on`]);
/// returns the tier the JIT picked.
pub fn check_jit(c: &dyn Case) -> Tier {
    let kernel = compile_case(c);
    let want = run_direct(c, &kernel, &reference::run);
    c.check_oracle(&want);
    check_jit_on(c, &kernel, &want)
}

// ---------------------------------------------------------------------------
// The assembler
// ---------------------------------------------------------------------------

/// The kernels of a program without source line numbers, for comparing a
/// program with the one compiled from its printed text.
fn lowered(p: &lanes::Program) -> Vec<String> {
    p.kernels
        .iter()
        .map(|k| {
            format!(
                "{} {:?} {} {:?} {:?}",
                k.name,
                k.params,
                k.shared_bytes,
                k.instrs,
                k.lines.iter().map(|l| &l.text).collect::<Vec<_>>()
            )
        })
        .collect()
}

/// Checks the assembler on arbitrary bytes (see the `assemble` target).
pub fn check_assembler(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let (module, errors) = lanes::asm::parse(&source);
    for e in &errors {
        assert!(e.span.line >= 1 && e.span.col >= 1, "bad span {e:?}");
    }
    let compiled = lanes::compile("fuzz.lasm", &source);
    if let Err(d) = &compiled {
        assert!(!d.errors.is_empty(), "compile failed with no error");
        for line in d.to_string().lines() {
            assert!(line.starts_with("fuzz.lasm:"), "diagnostic `{line}`");
        }
    }
    if !errors.is_empty() {
        assert!(compiled.is_err(), "syntax errors but the program compiled");
        return;
    }
    let printed = lanes::asm::print(&module);
    let (again, errors2) = lanes::asm::parse(&printed);
    assert!(
        errors2.is_empty(),
        "printed text does not parse: {errors2:?}\n--- printed ---\n{printed}"
    );
    assert_eq!(
        lanes::asm::print(&again),
        printed,
        "printing is not idempotent"
    );
    if let Ok(p) = &compiled {
        let p2 = lanes::compile("printed.lasm", &printed).unwrap_or_else(|e| {
            panic!("printed text does not compile: {e}\n--- printed ---\n{printed}")
        });
        assert_eq!(
            lowered(p),
            lowered(&p2),
            "printed text compiles differently"
        );
    }
}
