//! The checks behind the fuzz targets, with no dependency but `lanes`, so
//! the main crate's `tests/fuzz_regressions.rs` includes this very file
//! (`#[path]`) and replays every input that once found a bug.

use std::fmt;
use std::sync::{Arc, OnceLock};

use lanes::engine::{LaunchSpec, block, reference};
use lanes::kernel::ParamKind;
use lanes::launch::{BoundArgs, check_shape};
use lanes::memory::Buffer;
use lanes::{Arg, Dim3, Engine, Fault, LaunchError, LaunchOptions, Runtime, Scalar};

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

/// Compiles and launches a hostile case on both engines. Panics (a fuzz
/// finding) if anything panics, a launch gives an error it should not, a
/// fault's context is wrong, or a buffer not bound to the launch changes.
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
        for engine in Engine::ALL {
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
            match rt.launch(kernel, case.grid, case.block, &args, options) {
                Ok(stats) => {
                    assert!(shape_ok, "launch with bad shape succeeded");
                    assert_eq!(stats.blocks as u128, case.grid.count());
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

type Outcome = std::result::Result<Vec<Vec<u8>>, Box<Fault>>;

fn run_spec(
    c: &Valid,
    engine: &dyn Fn(&LaunchSpec<'_>) -> std::result::Result<(), Box<Fault>>,
) -> Outcome {
    let prog = lanes::compile("gen.lasm", &c.source)
        .unwrap_or_else(|e| panic!("generated program does not compile: {e}\n{c:?}"));
    let kernel = prog.kernel("gen").expect("kernel gen");
    let total = (c.grid.count() * c.block.count()) as usize;
    let buffers = vec![
        Arc::new(Buffer::from_bytes(&c.input).expect("input")),
        Arc::new(Buffer::zeroed(total * SLOT_BYTES as usize).expect("out")),
        Arc::new(Buffer::zeroed(16).expect("counter")),
    ];
    let args = BoundArgs {
        buffers: buffers.clone(),
        scalars: vec![u64::from(c.k)],
    };
    let spec = LaunchSpec {
        kernel,
        grid: c.grid,
        block: c.block,
        args: &args,
        max_steps: c.max_steps,
        stop: &lanes::engine::StopFlag::new(),
    };
    engine(&spec)?;
    Ok(buffers.iter().map(|b| b.to_bytes()).collect())
}

fn run_pool(c: &Valid, rt: &Runtime) -> Outcome {
    let prog = rt
        .compile("gen.lasm", &c.source)
        .unwrap_or_else(|e| panic!("{e}"));
    let kernel = prog.kernel("gen").expect("kernel gen");
    let total = (c.grid.count() * c.block.count()) as usize;
    let canary = rt.alloc_from(&[0x5A; 40]).expect("canary");
    let ids = [
        rt.alloc_from(&c.input).expect("input"),
        rt.alloc(total * SLOT_BYTES as usize).expect("out"),
        rt.alloc(16).expect("counter"),
    ];
    let args = [
        Arg::Buffer(ids[0]),
        Arg::Buffer(ids[1]),
        Arg::Buffer(ids[2]),
        Arg::from(c.k),
    ];
    let options = LaunchOptions {
        engine: Engine::Pool,
        max_steps: c.max_steps,
        ..LaunchOptions::default()
    };
    let result = rt.launch(kernel, c.grid, c.block, &args, options);
    let out = ids.iter().map(|&id| rt.read(id).expect("read")).collect();
    for id in ids {
        rt.free(id).expect("free");
    }
    assert_eq!(
        rt.read(canary).expect("read canary"),
        [0x5A; 40],
        "unbound buffer changed"
    );
    rt.free(canary).expect("free canary");
    match result {
        Ok(_) => Ok(out),
        Err(LaunchError::Fault(f)) => {
            check_fault_context(&f, kernel, c.grid, c.block);
            Err(f)
        }
        Err(e) => panic!("pool launch failed: {e}\n{c:?}"),
    }
}

fn compare(c: &Valid, name: &str, got: &Outcome, want: &Outcome) {
    match (want, got) {
        (Ok(w), Ok(g)) => {
            for (i, (wb, gb)) in w.iter().zip(g).enumerate() {
                if wb != gb {
                    let first = wb.iter().zip(gb).position(|(a, b)| a != b).unwrap_or(0);
                    panic!("{name}: buffer {i} differs first at byte {first}\n{c:?}");
                }
            }
        }
        (Err(w), Err(g)) => {
            // With one lane there is one order: the very same fault.
            if c.grid.count() * c.block.count() == 1 {
                assert_eq!(w, g, "{name}: faults differ\n{c:?}");
            }
        }
        (w, g) => panic!(
            "{name}: reference {:?} but engine {:?}\n{c:?}",
            w.as_ref().map(|_| "ok").map_err(|f| f.to_string()),
            g.as_ref().map(|_| "ok").map_err(|f| f.to_string()),
        ),
    }
}

/// Runs a valid case on every engine and compares with the reference.
pub fn check_differential(c: &Valid) {
    let want = run_spec(c, &reference::run);
    let got = run_spec(c, &block::run);
    compare(c, "block engine", &got, &want);
    for threads in [2, 3] {
        let got = run_pool(c, runtime(threads));
        compare(c, &format!("pool engine, {threads} threads"), &got, &want);
    }
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
